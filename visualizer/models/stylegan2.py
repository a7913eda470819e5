"""StyleGAN2 generator (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"),
in the layout of NVlabs' stylegan2-ada-pytorch so that its trained weights load by name.

z [B, z_dim] -> mapping network (pixel-norm, 8 equalised-lr fully connected layers) -> w,
broadcast to one w per layer (ws [B, num_ws, w_dim]); optional truncation toward the tracked
average w. Synthesis: a learned 4x4 constant, then per resolution a block of modulated /
demodulated 3x3 convolutions (the first one upsampling 2x through a [1,3,3,1] low-pass
filter), per-pixel noise scaled by a learned strength, bias + leaky ReLU (gain sqrt 2,
optional clamp), and a 1x1 modulated "toRGB" whose outputs are upsampled and summed over
resolutions (the "skip" architecture). Images come out in about [-1, 1], [B, 3, H, W].

Equalised learning rate: every weight is stored at unit scale and multiplied at run time by
1/sqrt(fan_in) (times the layer's learning-rate multiplier), as in the papers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from visualizer.models.base import ModelConfig

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
RESAMPLE_TAPS = (1.0, 3.0, 3.0, 1.0)


@dataclass(frozen=True)
class StyleGAN2Config(ModelConfig):
    """Shape of a StyleGAN2 generator (names follow NVlabs' init kwargs)."""

    img_resolution: int = 256
    img_channels: int = 3
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None   # clamp convolution outputs to +-this (NVlabs uses 256 with fp16)

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    @classmethod
    def from_nvlabs_kwargs(cls, kwargs: dict) -> "StyleGAN2Config":
        """From the init kwargs recorded in an NVlabs network pickle (``G_ema.init_kwargs``)."""
        mapping = dict(kwargs.get("mapping_kwargs") or {})
        synthesis = dict(kwargs.get("synthesis_kwargs") or {})
        if kwargs.get("c_dim", 0):
            raise ValueError("conditional networks (c_dim > 0) are not supported")
        if synthesis.get("architecture", "skip") != "skip":
            raise ValueError(f"synthesis architecture {synthesis['architecture']!r} is not supported (only 'skip')")
        return cls(img_resolution=int(kwargs["img_resolution"]), img_channels=int(kwargs.get("img_channels", 3)),
                   z_dim=int(kwargs["z_dim"]), w_dim=int(kwargs["w_dim"]),
                   mapping_layers=int(mapping.get("num_layers", 8)),
                   mapping_lr=float(mapping.get("lr_multiplier", 0.01)),
                   channel_base=int(synthesis.get("channel_base", 32768)),
                   channel_max=int(synthesis.get("channel_max", 512)),
                   conv_clamp=synthesis.get("conv_clamp"))


def lowpass_filter() -> torch.Tensor:
    """The 2D [1,3,3,1] x [1,3,3,1] filter, normalised to sum 1: [4, 4]."""
    taps = torch.tensor(RESAMPLE_TAPS)
    f = torch.outer(taps, taps)
    return f / f.sum()


def upsample_fir(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """2x upsampling: zeros between samples, pad (before, after), then the FIR filter ``f`` x 4.

    x [B, C, H, W] -> [B, C, 2H + pad0 + pad1 - 3, ...] for a 4-tap filter.
    """
    b, c, h, w = x.shape
    up = torch.zeros(b, c, h, 2, w, 2, dtype=x.dtype, device=x.device)
    up[:, :, :, 0, :, 0] = x
    up = up.reshape(b, c, 2 * h, 2 * w)
    up = F.pad(up, (pad[0], pad[1], pad[0], pad[1]))
    kernel = (f * 4.0).flip([0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)  # convolution, not correlation
    return F.conv2d(up, kernel, groups=c)


def leaky_relu_bias(x: torch.Tensor, bias: torch.Tensor, gain: float = LRELU_GAIN,
                    clamp: float | None = None) -> torch.Tensor:
    x = F.leaky_relu(x + bias.reshape(1, -1, *([1] * (x.ndim - 2))), LRELU_SLOPE) * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


class FullyConnected(nn.Module):
    """Equalised-lr linear layer; ``activation`` "lrelu" or "linear"."""

    def __init__(self, in_features: int, out_features: int, *, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Always fp32, also under autocast: styles and w set every weight of a layer, and the
        # mixed-precision path (fp16 on CUDA) keeps reduced precision for the convolutions.
        with torch.autocast(x.device.type, enabled=False):
            x = x.float().matmul((self.weight * self.weight_gain).t())
            bias = self.bias * self.bias_gain
            return leaky_relu_bias(x, bias) if self.activation == "lrelu" else x + bias


class MappingNetwork(nn.Module):
    """z [B, z_dim] -> ws [B, num_ws, w_dim]; keeps the average w (``w_avg``) for truncation."""

    def __init__(self, cfg: StyleGAN2Config, num_ws: int) -> None:
        super().__init__()
        self.num_ws = num_ws
        self.num_layers = cfg.mapping_layers
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        for i in range(cfg.mapping_layers):
            setattr(self, f"fc{i}", FullyConnected(dims[i], dims[i + 1], activation="lrelu",
                                                   lr_multiplier=cfg.mapping_lr))
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        x = z.float() * (z.float().square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()  # pixel norm
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation != 1.0:
            ws = self.w_avg.lerp(ws, truncation)
        return ws


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                   up: bool = False, f: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample weights weight * styles (then demodulated); x [B, I, H, W], weight [O, I, k, k], styles [B, I].

    With ``up`` the input is first upsampled 2x through ``f`` and the kernel applied as a
    convolution (flipped), which is what a strided transposed convolution followed by the
    filter computes.
    """
    b, in_ch, h, w_ = x.shape
    out_ch, _, k, _ = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(b, 1, in_ch, 1, 1)                 # [B, O, I, k, k]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(b, out_ch, 1, 1, 1)
    w = w.reshape(b * out_ch, in_ch, k, k)
    if up:
        x = upsample_fir(x, f, pad=(2 + k // 2, 1 + k // 2))  # pad 1 in the upsampled image, plus the filter's
        x = F.conv2d(x.reshape(1, b * in_ch, *x.shape[2:]), w.flip([2, 3]).to(x.dtype), groups=b)
    else:
        x = F.conv2d(x.reshape(1, b * in_ch, h, w_), w.to(x.dtype), padding=k // 2, groups=b)
    return x.reshape(b, out_ch, *x.shape[2:])


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (+ 2x upsampling), noise, bias, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *, up: bool,
                 conv_clamp: float | None) -> None:
        super().__init__()
        self.up = up
        self.resolution = resolution
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("resample_filter", lowpass_filter())
        self._wider_noise: dict[tuple[int, int], torch.Tensor] = {}

    def const_noise(self, height: int, width: int) -> torch.Tensor:
        """The constant noise [height, width]: the trained one, in the middle of a wider (taller)
        picture, with fixed noise of the same statistics around it (seeded by the sizes: every frame
        of a wide picture gets the same)."""
        if (height, width) == tuple(self.noise_const.shape):
            return self.noise_const
        if (height, width) not in self._wider_noise:
            seed = (self.resolution * 100_003 + height * 1009 + width) % 2 ** 31
            field = torch.randn(height, width, generator=torch.Generator().manual_seed(seed))
            top, left = (height - self.resolution) // 2, (width - self.resolution) // 2
            field[top:top + self.resolution, left:left + self.resolution] = self.noise_const.cpu()
            self._wider_noise[(height, width)] = field.to(self.noise_const.device)
        return self._wider_noise[(height, width)]

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: str = "const",
                noise_scale: torch.Tensor | float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv(x, self.weight, styles, up=self.up, f=self.resample_filter)
        if torch.is_tensor(noise_scale):  # one scale per sample [B]
            noise_scale = noise_scale.reshape(-1, 1, 1, 1)
        strength = self.noise_strength * noise_scale
        if noise == "const":
            x = x + self.const_noise(*x.shape[2:]).to(x.dtype) * strength
        elif noise == "random":
            field = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
            x = x + field * strength
        return leaky_relu_bias(x, self.bias, clamp=self.conv_clamp)


def input_growth(extra: tuple[int, int], step: int) -> tuple[int, int]:
    """Output pixels (x, y) beyond the square, in multiples of ``step``, as the samples the synthesis
    input grows by (two per step: one either side); a ValueError for other counts."""
    if extra[0] % step or extra[1] % step:
        raise ValueError(f"a wider picture grows by multiples of {step} px, not {extra}")
    return 2 * extra[0] // step, 2 * extra[1] // step


def reflect_wider(t: torch.Tensor, extra_x: int, extra_y: int) -> torch.Tensor:
    """[..., H, W] -> [..., H + extra_y, W + extra_x]: mirrored outward about its edges, half of each
    extra on either side (the extras even), as often as the growth needs."""
    while extra_x > 0 or extra_y > 0:
        px, py = min(extra_x // 2, t.shape[-1] - 1), min(extra_y // 2, t.shape[-2] - 1)
        t = F.pad(t.unsqueeze(0) if t.ndim == 3 else t, [px, px, py, py], mode="reflect").squeeze(0)
        extra_x, extra_y = extra_x - 2 * px, extra_y - 2 * py
    return t


class ToRGB(nn.Module):
    """Modulated (not demodulated) 1x1 convolution to RGB, plus bias."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int, conv_clamp: float | None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        x = x + self.bias.reshape(1, -1, 1, 1)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class SynthesisBlock(nn.Module):
    """One resolution: (const | upsampling conv0), conv1, toRGB added to the upsampled image so far."""

    def __init__(self, cfg: StyleGAN2Config, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        out_ch = cfg.channels(resolution)
        self.first = resolution == 4
        if self.first:
            self.const = nn.Parameter(torch.randn(out_ch, 4, 4))
        else:
            self.conv0 = SynthesisLayer(cfg.channels(resolution // 2), out_ch, cfg.w_dim, resolution, up=True,
                                        conv_clamp=cfg.conv_clamp)
        self.conv1 = SynthesisLayer(out_ch, out_ch, cfg.w_dim, resolution, up=False, conv_clamp=cfg.conv_clamp)
        self.torgb = ToRGB(out_ch, cfg.img_channels, cfg.w_dim, cfg.conv_clamp)
        self.register_buffer("resample_filter", lowpass_filter())
        self.num_conv = 1 if self.first else 2

    def forward(self, x, img, ws: torch.Tensor, noise: str, noise_scale,
                extra: tuple[int, int] = (0, 0)) -> tuple[torch.Tensor, torch.Tensor]:
        """ws [B, num_conv + 1, w_dim]: one w per convolution, then the toRGB's; noise_scale [B, num_conv + 1];
        ``extra`` (x, y): even counts of columns and rows the first block's constant grows by (wide pictures)."""
        if self.first:
            x = reflect_wider(self.const, *extra).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], noise, noise_scale[:, 0])
        else:
            x = self.conv0(x, ws[:, 0], noise, noise_scale[:, 0])
            x = self.conv1(x, ws[:, 1], noise, noise_scale[:, 1])
        rgb = self.torgb(x, ws[:, self.num_conv])
        img = rgb if img is None else upsample_fir(img, self.resample_filter, pad=(2, 1)) + rgb
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] -> images [B, C, R, R]."""

    def __init__(self, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.block_resolutions = cfg.block_resolutions
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(cfg, res)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last block's toRGB; the others share the next block's first w

    def layer_ranges(self) -> dict[int, tuple[int, int]]:
        """Which entries of ws each resolution's block reads: res -> (first, last + 1)."""
        out, i = {}, 0
        for res in self.block_resolutions:
            n = getattr(self, f"b{res}").num_conv
            out[res] = (i, i + n + 1)
            i += n
        return out

    def layer_groups(self) -> dict[str, tuple[int, int]]:
        """Index ranges [lo, hi) of the w inputs by the resolution they shape: coarse 4-8 px (pose,
        layout), middle 16-32 px, fine 64 px and up (texture, colour); the last toRGB counts as fine."""
        ranges = self.layer_ranges()

        def end_of(res: int) -> int:  # first w after the convolutions of the blocks up to res
            return min((hi - 1 for r, (_, hi) in ranges.items() if r == res), default=self.num_ws)

        coarse, middle = end_of(8), end_of(32)
        return {"all": (0, self.num_ws), "coarse": (0, coarse), "middle": (coarse, middle), "fine": (middle, self.num_ws)}

    def wide_step(self) -> int:
        """Output pixels a wider (or taller) picture grows by at a time: two columns of the 4x4 constant."""
        return self.block_resolutions[-1] // 2

    def forward(self, ws: torch.Tensor, noise: str = "const", noise_scale: torch.Tensor | None = None,
                extra: tuple[int, int] = (0, 0)) -> torch.Tensor:
        """``noise_scale`` [B, num_ws] optionally scales each sample's noise per layer (audio-modulated noise);
        ``extra`` (x, y): output columns and rows beyond the square, multiples of ``wide_step``: the
        constant input is mirrored outward, so the picture's middle is the square one's and the
        convolutions draw on into the sides."""
        scale = (noise_scale.to(ws.device, torch.float32) if noise_scale is not None
                 else torch.ones(ws.shape[0], self.num_ws, device=ws.device))
        grow = input_growth(extra, self.wide_step())
        x = img = None
        for res, (lo, hi) in self.layer_ranges().items():
            x, img = getattr(self, f"b{res}")(x, img, ws[:, lo:hi].float(), noise, scale[:, lo:hi], extra=grow)
        return img


class StyleGANNetwork(nn.Module):
    """A whole StyleGAN generator, mapping + ``synthesis`` (StyleGAN2's or StyleGAN3's):
    ``forward(z, truncation, noise)`` as NVlabs' ``G(z, None, truncation_psi, noise_mode)``."""

    def __init__(self, cfg, synthesis: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg
        self.synthesis = synthesis
        self.num_ws = synthesis.num_ws
        self.mapping = MappingNetwork(cfg, self.num_ws)

    def forward(self, z: torch.Tensor, truncation: float = 1.0, noise: str = "const",
                noise_scale: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesis(self.mapping(z, truncation), noise=noise, noise_scale=noise_scale)


class StyleGAN2(StyleGANNetwork):
    def __init__(self, cfg: StyleGAN2Config) -> None:
        super().__init__(cfg, SynthesisNetwork(cfg))


class StyleGANGenerator:
    """A StyleGAN2 or StyleGAN3 network (``visualizer.models.stylegan3``) as a ``Generator``: latents
    are z [B, z_dim] ~ N(0, I); ``truncation`` pulls w toward the network's average w (1 = none),
    as the settings' walk.truncation asks."""

    def __init__(self, net: nn.Module, *, device: torch.device, source: str = "", truncation: float = 1.0,
                 precision: str = "auto") -> None:
        self.net = net.to(device).eval().requires_grad_(False)
        self.cfg = net.cfg
        self.latent_dim = net.cfg.z_dim
        self.resolution = net.cfg.img_resolution
        self.device = device
        self.source = source
        self.truncation = truncation
        self.precision = precision
        self.extra = (0, 0)  # columns and rows drawn beyond the square (effects.fit = "wide")

    @property
    def picture_size(self) -> tuple[int, int]:
        """(width, height) in pixels of the pictures ``__call__`` draws."""
        return self.resolution + self.extra[0], self.resolution + self.extra[1]

    def draw_aspect(self, aspect: float) -> tuple[int, int]:
        """Draw pictures as near to ``aspect`` (width / height) as the network's steps allow, the
        trained square in the middle (1 draws it alone); returns their (width, height). A picture
        twice as wide costs twice the time."""
        step = self.net.synthesis.wide_step()
        grow = (max(aspect, 1 / aspect) - 1) * self.resolution
        extra = int(round(grow / step)) * step
        self.extra = (extra, 0) if aspect >= 1 else (0, extra)
        return self.picture_size

    @property
    def synthesis_dtype(self) -> torch.dtype:
        """What ``precision`` means here: "auto" is fp16 on CUDA (as NVlabs runs its high
        resolutions, with the convolution outputs clamped) and fp32 on the CPU."""
        names = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
        if self.precision == "auto":
            return torch.float16 if self.device.type == "cuda" else torch.float32
        return names[self.precision]

    def _synthesis(self, ws: torch.Tensor, noise: str, noise_scale: torch.Tensor | None,
                   extra: tuple[int, int] = (0, 0)) -> torch.Tensor:
        dtype = self.synthesis_dtype
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32):
            return self.net.synthesis(ws, noise=noise, noise_scale=noise_scale, extra=extra).float()

    @property
    def latent_mean(self) -> torch.Tensor:
        return torch.zeros(self.latent_dim)

    @property
    def layer_groups(self) -> dict[str, tuple[int, int]]:
        """Index ranges [lo, hi) of the w inputs: "all", "coarse", "middle", "fine" (see each synthesis
        network's ``layer_groups``)."""
        return self.net.synthesis.layer_groups()

    def sample_latents(self, count: int, *, seed: int) -> torch.Tensor:
        return torch.randn((count, self.latent_dim), generator=torch.Generator().manual_seed(int(seed)))

    @torch.inference_mode()
    def from_z(self, z: torch.Tensor, truncation: float = 1.0, noise: str = "const",
               noise_scale: torch.Tensor | None = None, extra: tuple[int, int] = (0, 0)) -> torch.Tensor:
        """Images [B, C, H, W] (about -1..1, not clipped) exactly as NVlabs' ``G(z, None, truncation, noise_mode)``
        (StyleGAN3 networks have no noise inputs and ignore ``noise`` and ``noise_scale``); in fp32
        unless ``precision`` asks for fp16 or bf16 synthesis, which comes back as float32 too.

        ``z`` [B, z_dim], or [B, num_ws, z_dim] for one z per layer (W+: layer i takes the w of its own z);
        ``noise_scale`` [B, num_ws] multiplies each layer's noise; ``extra`` (x, y): pixels beyond the
        square (multiples of the synthesis network's ``wide_step``).
        """
        z = z.to(self.device, torch.float32)
        if z.ndim == 2:
            return self._synthesis(self.net.mapping(z, truncation), noise, noise_scale, extra)
        b, layers, dim = z.shape
        ws = self.net.mapping(z.reshape(b * layers, dim), truncation).reshape(b, layers, layers, -1)
        ws = ws.diagonal(dim1=1, dim2=2).permute(0, 2, 1)  # [B, num_ws, w_dim]: layer i from z[:, i]
        return self._synthesis(ws, noise, noise_scale, extra)

    def from_normal(self, eps: torch.Tensor) -> torch.Tensor:
        return eps

    def differentiable(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents.to(self.device, torch.float32)
        return self._synthesis(self.net.mapping(z, self.truncation), "const", None).clamp(-1.0, 1.0)

    def __call__(self, latents: torch.Tensor, noise_scale: torch.Tensor | None = None) -> torch.Tensor:
        return self.from_z(latents, truncation=self.truncation, noise_scale=noise_scale,
                           extra=self.extra).clamp(-1.0, 1.0)
