"""StyleGAN3 generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), configs
T and R, in the layout of NVlabs' stylegan3 so that its trained weights load by name.

The mapping network is StyleGAN2's (usually 2 layers). Synthesis treats feature maps as
band-limited continuous signals sampled on a grid:

- ``input``: Fourier features [B, C, S, S] -- sinusoids of fixed random frequencies inside a
  disc of radius ``first_cutoff``, rotated and translated per sample by an affine map of the
  first w, then mixed by a learned C x C matrix.
- ``L{i}_{size}_{channels}``: a modulated convolution (3x3 in config T, 1x1 in R; the weights
  normalised per output channel, the input scaled by the running input magnitude), then
  "filtered leaky ReLU": bias, upsample by ``up`` through a windowed-sinc low-pass (zeros
  between samples, FIR filter), leaky ReLU at that higher rate, low-pass and keep every
  ``down``-th sample. Cutoffs and stopbands grow geometrically from the first layer to the
  last ones, which are critically sampled at the image resolution; config R uses radially
  symmetric (jinc) downsampling filters. The last layer is the toRGB (1x1, no ReLU).
- The image is the last layer's output times ``output_scale``, [B, 3, R, R], about [-1, 1].

The filters are designed here with scipy (Kaiser-window FIR) for new networks and read
from the file for trained ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visualizer.models.base import ModelConfig
from visualizer.models.stylegan2 import LRELU_GAIN, LRELU_SLOPE, FullyConnected, StyleGANNetwork, input_growth


@dataclass(frozen=True)
class StyleGAN3Config(ModelConfig):
    """Shape of a StyleGAN3 generator (names follow NVlabs' init kwargs). Config T: ``conv_kernel=3``;
    config R: ``conv_kernel=1, use_radial_filters=True`` (and usually twice the channels)."""

    img_resolution: int = 256
    img_channels: int = 3
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 2
    mapping_lr: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    num_layers: int = 14          # synthesis layers, not counting the Fourier input and the toRGB
    num_critical: int = 2         # critically sampled layers at the end
    first_cutoff: float = 2.0
    first_stopband: float = 2 ** 2.1
    last_stopband_rel: float = 2 ** 0.3
    margin_size: int = 10         # pixels computed outside the image on every side
    output_scale: float = 0.25
    conv_kernel: int = 3
    filter_size: int = 6          # low-pass taps per sample of the lower rate
    lrelu_upsampling: int = 2     # the leaky ReLU runs at this multiple of the higher rate
    use_radial_filters: bool = False
    conv_clamp: float | None = 256.0

    @classmethod
    def from_nvlabs_kwargs(cls, kwargs: dict) -> "StyleGAN3Config":
        """From the init kwargs recorded in an NVlabs stylegan3 pickle (``G_ema``): the synthesis and
        layer settings sit at the top level next to z_dim, the mapping's in ``mapping_kwargs``."""
        if kwargs.get("c_dim", 0):
            raise ValueError("conditional networks (c_dim > 0) are not supported")
        mapping = dict(kwargs.get("mapping_kwargs") or {})
        names = set(cls.__dataclass_fields__) - {"mapping_layers", "mapping_lr"}
        values = {k: kwargs[k] for k in names if k in kwargs}
        return cls(**values, mapping_layers=int(mapping.get("num_layers", 2)),
                   mapping_lr=float(mapping.get("lr_multiplier", 0.01)))

    def schedule(self) -> dict[str, np.ndarray]:
        """Per layer (index 0 is the Fourier input, num_layers the toRGB): cutoff and stopband
        frequencies, sampling rate, transition half-width, size in pixels and channels."""
        n = self.num_layers
        last_cutoff = self.img_resolution / 2
        last_stopband = last_cutoff * self.last_stopband_rel
        progress = np.minimum(np.arange(n + 1) / (n - self.num_critical), 1)  # 0 .. 1, then flat
        cutoffs = self.first_cutoff * (last_cutoff / self.first_cutoff) ** progress
        stopbands = self.first_stopband * (last_stopband / self.first_stopband) ** progress
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, self.img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + 2 * self.margin_size
        sizes[-2:] = self.img_resolution
        channels = np.rint(np.minimum((self.channel_base / 2) / cutoffs, self.channel_max))
        channels[-1] = self.img_channels
        return dict(cutoffs=cutoffs, stopbands=stopbands, rates=rates, half_widths=half_widths,
                    sizes=sizes, channels=channels)


def lowpass_filter(taps: int, cutoff: float, width: float, rate: float, radial: bool = False) -> torch.Tensor | None:
    """A Kaiser-window low-pass FIR: [taps] (applied along both axes) or, ``radial``, [taps, taps]
    (a windowed jinc); None for a single tap (no filtering)."""
    import scipy.signal
    import scipy.special

    if taps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=taps, cutoff=cutoff, width=width, fs=rate),
                               dtype=torch.float32)
    t = (np.arange(taps) - (taps - 1) / 2) / rate
    r = np.hypot(*np.meshgrid(t, t))
    f = scipy.special.j1(2 * np.pi * cutoff * r) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(taps, width / (rate / 2)))
    window = np.kaiser(taps, beta)
    f = f * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def upfirdn(x: torch.Tensor, f: torch.Tensor | None, *, up: int = 1, down: int = 1,
            padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample (zeros between samples), pad (left, right, top, bottom; negative crops), convolve
    with ``f`` times ``gain`` ([k]: along both axes; [k, k]: 2D), keep every ``down``-th sample.

    x [B, C, H, W] -> [B, C, (H * up + top + bottom - k + 1) / down (rounded up), ...].
    """
    b, c, h, w = x.shape
    if up > 1:
        grid = x.new_zeros((b, c, h, up, w, up))
        grid[:, :, :, 0, :, 0] = x
        x = grid.view(b, c, h * up, w * up)
    left, right, top, bottom = padding
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    x = x[:, :, max(-top, 0):x.shape[2] - max(-bottom, 0), max(-left, 0):x.shape[3] - max(-right, 0)]
    if f is None:
        return x[:, :, ::down, ::down] if down > 1 else x
    f = (f * gain ** (f.ndim / 2)).flip(list(range(f.ndim))).to(x.dtype)  # a convolution, not a correlation
    if f.ndim == 1:  # separable: rows, then columns; the stride keeps only the samples we want
        x = F.conv2d(x, f.view(1, 1, 1, -1).expand(c, 1, 1, -1), stride=(1, down), groups=c)
        return F.conv2d(x, f.view(1, 1, -1, 1).expand(c, 1, -1, 1), stride=(down, 1), groups=c)
    return F.conv2d(x, f[None, None].expand(c, 1, -1, -1), stride=down, groups=c)


def filtered_leaky_relu(x: torch.Tensor, bias: torch.Tensor, up_filter, down_filter, *, up: int, down: int,
                        padding: tuple[int, int, int, int], gain: float, slope: float,
                        clamp: float | None) -> torch.Tensor:
    """Bias, upsample by ``up`` through ``up_filter``, leaky ReLU (x ``gain``, clamped), then low-pass
    through ``down_filter`` and downsample by ``down``: the nonlinearity at a rate high enough that
    the harmonics it makes are filtered away instead of aliasing."""
    x = x + bias.view(1, -1, 1, 1).to(x.dtype)
    x = upfirdn(x, up_filter, up=up, padding=padding, gain=up ** 2)
    x = F.leaky_relu(x, slope) * gain if slope != 1 else x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn(x, down_filter, down=down)


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, padding: int,
                   demodulate: bool, input_gain: torch.Tensor) -> torch.Tensor:
    """x [B, I, H, W], weight [O, I, k, k], styles [B, I] -> [B, O, H + 2p - k + 1, ...].

    With ``demodulate`` the weights are first normalised (RMS 1 per output channel, and the
    styles to RMS 1 per sample: for numerical range only, demodulation would cancel both),
    then each sample's modulated weights are scaled to unit norm per output channel.
    ``input_gain`` scales the input (1 / the running RMS of the layer's input).
    """
    b, in_ch = styles.shape
    out_ch, _, k, _ = weight.shape
    if demodulate:
        weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
    w = weight.unsqueeze(0) * styles.view(b, 1, in_ch, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    w = w * input_gain
    x = F.conv2d(x.reshape(1, b * in_ch, *x.shape[2:]), w.reshape(b * out_ch, in_ch, k, k).to(x.dtype),
                 padding=padding, groups=b)
    return x.reshape(b, out_ch, *x.shape[2:])


class SynthesisInput(nn.Module):
    """w [B, w_dim] -> Fourier features [B, C, S, S], sampled at ``rate`` px per unit, band-limited to ``bandwidth``."""

    def __init__(self, w_dim: int, channels: int, size: int, rate: float, bandwidth: float) -> None:
        super().__init__()
        self.channels, self.size, self.rate, self.bandwidth = channels, int(size), float(rate), float(bandwidth)
        # Frequencies spread over the disc of radius bandwidth (denser toward the centre), random phases.
        freqs = torch.randn(channels, 2)
        radii = freqs.norm(dim=1, keepdim=True)
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnected(w_dim, 4)  # w -> (rotation cos, sin, translation x, y)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))  # a user transform of the image (inverse), identity
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: torch.Tensor, extra: tuple[int, int] = (0, 0)) -> torch.Tensor:
        """``extra`` (x, y): even counts of samples the grid grows by beyond [S, S], half on either side."""
        with torch.autocast(w.device.type, enabled=False):  # phases need fp32 (sin of large arguments)
            return self._features(w.float(), extra)

    def _features(self, w: torch.Tensor, extra: tuple[int, int]) -> torch.Tensor:
        b = w.shape[0]
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)  # a pure rotation (cos, sin) and a translation
        cos, sin, tx, ty = t.unbind(1)
        rotate = torch.eye(3, device=w.device).repeat(b, 1, 1)
        rotate[:, 0, 0], rotate[:, 0, 1], rotate[:, 1, 0], rotate[:, 1, 1] = cos, -sin, sin, cos
        shift = torch.eye(3, device=w.device).repeat(b, 1, 1)
        shift[:, 0, 2], shift[:, 1, 2] = -tx, -ty
        transform = rotate @ shift @ self.transform  # the inverse of: rotate the image, then translate
        phases = self.phases + (self.freqs @ transform[:, :2, 2:]).squeeze(2)  # [B, C]
        freqs = self.freqs @ transform[:, :2, :2]                                # [B, C, 2]
        # Frequencies a user transform pushes past the band fade out instead of aliasing.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.rate / 2 - self.bandwidth)).clamp(0, 1)
        # Pixel centres in units of the sampling grid, centred on the image.
        def coords(n: int) -> torch.Tensor:
            return (torch.arange(n, device=w.device, dtype=torch.float32) + 0.5 - n / 2) / self.rate

        gy, gx = torch.meshgrid(coords(self.size + extra[1]), coords(self.size + extra[0]), indexing="ij")
        grid = torch.stack([gx, gy], dim=-1)                                      # [S, S, 2] as (x, y)
        x = torch.einsum("hwk,bck->bhwc", grid, freqs) + phases[:, None, None, :]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """One alias-free layer (or, ``torgb``, the final 1x1 toRGB): [B, I, in, in] -> [B, O, out, out]."""

    def __init__(self, cfg: StyleGAN3Config, index: int, sched: dict[str, np.ndarray]) -> None:
        super().__init__()
        prev = max(index - 1, 0)
        self.torgb = index == cfg.num_layers
        critical = index >= cfg.num_layers - cfg.num_critical
        in_rate, out_rate = int(sched["rates"][prev]), int(sched["rates"][index])
        self.in_channels, self.out_channels = int(sched["channels"][prev]), int(sched["channels"][index])
        in_size, self.out_size = int(sched["sizes"][prev]), int(sched["sizes"][index])
        high_rate = max(in_rate, out_rate) * (1 if self.torgb else cfg.lrelu_upsampling)
        self.up, self.down = int(round(high_rate / in_rate)), int(round(high_rate / out_rate))
        self.kernel = 1 if self.torgb else cfg.conv_kernel
        self.clamp = cfg.conv_clamp
        self.affine = FullyConnected(cfg.w_dim, self.in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(self.out_channels, self.in_channels, self.kernel, self.kernel))
        self.bias = nn.Parameter(torch.zeros(self.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        up_taps = cfg.filter_size * self.up if self.up > 1 and not self.torgb else 1
        down_taps = cfg.filter_size * self.down if self.down > 1 and not self.torgb else 1
        self.register_buffer("up_filter", lowpass_filter(
            up_taps, sched["cutoffs"][prev], 2 * sched["half_widths"][prev], high_rate))
        self.register_buffer("down_filter", lowpass_filter(
            down_taps, sched["cutoffs"][index], 2 * sched["half_widths"][index], high_rate,
            radial=cfg.use_radial_filters and not critical))
        # Padding that makes the output exactly out_size, centred as in the paper (its appendix C.3).
        total = (self.out_size - 1) * self.down + 1 - (in_size + self.kernel - 1) * self.up + up_taps + down_taps - 2
        lo = (total + self.up) // 2
        self.padding = (lo, total - lo, lo, total - lo)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        if self.torgb:
            styles = styles / math.sqrt(self.in_channels * self.kernel ** 2)
        x = modulated_conv(x, self.weight, styles, padding=self.kernel - 1, demodulate=not self.torgb,
                           input_gain=self.magnitude_ema.rsqrt())
        return filtered_leaky_relu(x, self.bias, self.up_filter, self.down_filter, up=self.up, down=self.down,
                                   padding=self.padding, gain=1.0 if self.torgb else LRELU_GAIN,
                                   slope=1.0 if self.torgb else LRELU_SLOPE, clamp=self.clamp)


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] -> images [B, C, R, R]; num_ws = num_layers + 2 (input, layers, toRGB)."""

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__()
        sched = cfg.schedule()
        self.output_scale = cfg.output_scale
        self.resolution = cfg.img_resolution
        self.num_ws = cfg.num_layers + 2
        self.input = SynthesisInput(cfg.w_dim, int(sched["channels"][0]), int(sched["sizes"][0]),
                                    float(sched["rates"][0]), float(sched["cutoffs"][0]))
        self.layer_names = []
        for index in range(cfg.num_layers + 1):
            layer = SynthesisLayer(cfg, index, sched)
            name = f"L{index}_{layer.out_size}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def layer_groups(self) -> dict[str, tuple[int, int]]:
        """Index ranges [lo, hi) of the w inputs: coarse (the Fourier input's placement and the
        first third of the layers, at low sampling rates), middle, fine (the last third and the toRGB)."""
        n = self.num_ws
        coarse, middle = round(n / 3), round(2 * n / 3)
        return {"all": (0, n), "coarse": (0, coarse), "middle": (coarse, middle), "fine": (middle, n)}

    def wide_step(self) -> int:
        """Output pixels a wider (or taller) picture grows by at a time: two samples of the input grid,
        so that every layer, at its own rate, grows by a whole even number of samples."""
        return int(2 * self.resolution // self.input.rate)

    def forward(self, ws: torch.Tensor, noise: str = "const", noise_scale: torch.Tensor | None = None,
                extra: tuple[int, int] = (0, 0)) -> torch.Tensor:
        """``noise`` and ``noise_scale`` are accepted for StyleGAN2's sake; StyleGAN3 has no noise inputs.
        ``extra`` (x, y): output columns and rows beyond the square, multiples of ``wide_step``: the
        Fourier input is sampled over a wider (taller) grid, the same plane further out, and every
        layer, being convolutional at a fixed padding, carries it through to the picture."""
        ws = ws.float()
        x = self.input(ws[:, 0], input_growth(extra, self.wide_step()))
        for i, name in enumerate(self.layer_names):
            x = getattr(self, name)(x, ws[:, i + 1])
        return x * self.output_scale


class StyleGAN3(StyleGANNetwork):
    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__(cfg, SynthesisNetwork(cfg))
