"""FastGAN: a light GAN generator that trains from a few thousand pictures on a CPU.

After Liu et al., "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image
Synthesis" (ICLR 2021): z [B, z_dim] -> a 4x4 map (transposed convolution) -> one up block per
doubling (nearest 2x upsample, 3x3 convolution to twice the channels, batch norm, GLU; every
second block has a second convolution) -> 3x3 convolution to RGB, tanh. Skip-layer excitation
(SLE) lets a coarse map gate the channels of a fine one (4 px -> 64 px, 8 -> 128, 16 -> 256), so
the layout found early steers the texture late at the cost of a few 1x1 convolutions.

We leave out the paper's per-pixel noise inputs: in a video they flicker from frame to frame, and
the latent alone is enough to vary the picture. Only the generator is here; the discriminator and
the training loop are in ``visualizer.train``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from visualizer.models.base import ModelConfig
from visualizer.models.upconv import UpsampleConv2d


# Channels of the feature map by its size in px: FastGAN's plan (Liu et al.) at ngf 16, which keeps a 256 px
# generator above 30 frames/s on two CPU cores (benchmarks/model_quality.py).
CHANNELS_BY_SIZE = {4: 256, 8: 128, 16: 64, 32: 32, 64: 32, 128: 16, 256: 8, 512: 8, 1024: 8}


@dataclass(frozen=True)
class FastGANConfig(ModelConfig):
    """Architecture of a FastGAN generator; stored next to the weights in every checkpoint."""

    z_dim: int = 256
    resolution: int = 256
    # Channels of the feature map at 4, 8, 16, ... px up to ``resolution`` (one entry per doubling, from 4 px).
    channels: tuple[int, ...] = (256, 128, 64, 32, 32, 16, 8)

    def __post_init__(self) -> None:
        expected = 4 * 2 ** (len(self.channels) - 1)
        if expected != self.resolution:
            raise ValueError(f"resolution {self.resolution} does not match {len(self.channels)} channel entries "
                             f"(which give {expected})")
        if self.resolution < 32:
            raise ValueError("a FastGAN needs a resolution of at least 32 px")

    @classmethod
    def for_resolution(cls, resolution: int, z_dim: int = 256) -> "FastGANConfig":
        """The default shape at ``resolution`` (a power of two, 32-1024): the paper's channel plan at a
        quarter of its width, 256 channels at 4 px halving to 8 at 256 px and beyond."""
        if resolution not in CHANNELS_BY_SIZE or resolution < 32:
            raise ValueError(f"resolution {resolution} is not a power of two from 32 to 1024")
        levels = int(math.log2(resolution)) - 1
        return cls(z_dim=z_dim, resolution=resolution, channels=tuple(CHANNELS_BY_SIZE[4 * 2 ** i]
                                                                       for i in range(levels)))

    @classmethod
    def from_dict(cls, data: dict) -> "FastGANConfig":
        return cls(z_dim=int(data["z_dim"]), resolution=int(data["resolution"]),
                   channels=tuple(int(c) for c in data["channels"]))

    def sle_pairs(self) -> list[tuple[int, int]]:
        """(source index, target index) into ``channels`` of each skip-layer excitation: 4 px gates 64 px,
        8 gates 128, 16 gates 256 (the last three levels at the full size; fewer at small sizes)."""
        levels = len(self.channels)
        return [(t - 4, t) for t in range(max(4, levels - 3), levels)]


class SkipExcitation(nn.Module):
    """Channel gates for a fine map from a coarse one: pool to 4x4, 4x4 conv, swish, 1x1 conv, sigmoid."""

    def __init__(self, c_small: int, c_big: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_small, c_big, 4), nn.SiLU(), nn.Conv2d(c_big, c_big, 1), nn.Sigmoid())

    def forward(self, small: Tensor, big: Tensor) -> Tensor:
        return big * self.gate(small)


def _up_block(c_in: int, c_out: int, *, double: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest"),
                               nn.Conv2d(c_in, 2 * c_out, 3, padding=1, bias=False), nn.BatchNorm2d(2 * c_out),
                               nn.GLU(dim=1)]
    if double:
        layers += [nn.Conv2d(c_out, 2 * c_out, 3, padding=1, bias=False), nn.BatchNorm2d(2 * c_out), nn.GLU(dim=1)]
    return nn.Sequential(*layers)


class FastGAN(nn.Module):
    """The trainable generator: z [B, z_dim] -> images [B, 3, R, R] in [-1, 1].

    ``forward(z, with_half=True)`` also returns a half-size picture [B, 3, R/2, R/2] drawn from the
    level below, which the discriminator's second branch judges (it keeps the middle levels honest).
    """

    def __init__(self, cfg: FastGANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        self.init = nn.Sequential(nn.ConvTranspose2d(cfg.z_dim, 2 * ch[0], 4, bias=False), nn.BatchNorm2d(2 * ch[0]),
                                  nn.GLU(dim=1))
        # Blocks at 8, 32, 128 px convolve twice, as in the paper (odd indices).
        self.blocks = nn.ModuleList(_up_block(ch[i - 1], ch[i], double=i % 2 == 1) for i in range(1, len(ch)))
        self.sle = nn.ModuleDict({str(t): SkipExcitation(ch[s], ch[t]) for s, t in cfg.sle_pairs()})
        self.sle_source = {t: s for s, t in cfg.sle_pairs()}  # level -> the level that gates it
        self.to_rgb = nn.Conv2d(ch[-1], 3, 3, padding=1)
        self.to_rgb_half = nn.Conv2d(ch[-2], 3, 1)

    def forward(self, z: Tensor, with_half: bool = False):
        x = self.init(z.view(z.shape[0], -1, 1, 1))
        feats = [x]
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            if i in self.sle_source:
                x = self.sle[str(i)](feats[self.sle_source[i]], x)
            feats.append(x)
        image = torch.tanh(self.to_rgb(x))
        if with_half:
            return image, torch.tanh(self.to_rgb_half(feats[-2]))
        return image


def _fold_batchnorm(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    """Fold an eval-mode batch norm into the preceding convolution's weight and bias (in place)."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() - bn.running_mean * scale
    w = conv.weight.detach()
    # A Conv2d's output channels are dim 0 of its weight, a ConvTranspose2d's dim 1.
    shape = [1, -1, 1, 1] if isinstance(conv, nn.ConvTranspose2d) else [-1, 1, 1, 1]
    conv.weight = nn.Parameter(w * scale.view(shape))
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(shift)
    conv.bias = nn.Parameter(bias * scale + shift)


def _fold_block(block: nn.Sequential) -> nn.Sequential:
    """An up block for inference: batch norms folded away, the upsample + 3x3 conv computed at low resolution."""
    mods = list(copy.deepcopy(block))
    out: list[nn.Module] = []
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.Upsample):
            conv, bn = mods[i + 1], mods[i + 2]
            _fold_batchnorm(conv, bn)
            out.append(UpsampleConv2d(conv))
            i += 3
        elif isinstance(m, nn.Conv2d):
            _fold_batchnorm(m, mods[i + 1])
            out.append(m)
            i += 2
        else:
            out.append(m)
            i += 1
    return nn.Sequential(*out)


class InferenceFastGAN(nn.Module):
    """A frozen, faster copy of a trained ``FastGAN`` (eval-mode batch norms folded into the convolutions,
    upsampling folded into the convolution after it, channels-last); the same pictures up to rounding."""

    def __init__(self, net: FastGAN) -> None:
        super().__init__()
        net = copy.deepcopy(net).eval()
        self.cfg = net.cfg
        self.sle_source = net.sle_source
        convt, bn = net.init[0], net.init[1]
        _fold_batchnorm(convt, bn)
        # A transposed 4x4 convolution of a 1x1 input is a matrix product: z @ W -> [B, C, 4, 4].
        self.init_weight = nn.Parameter(convt.weight.detach().flatten(1))  # [z_dim, 2C * 16]
        self.init_bias = nn.Parameter(convt.bias.detach().repeat_interleave(16))
        self.blocks = nn.ModuleList(_fold_block(b) for b in net.blocks)
        self.sle = net.sle
        self.to_rgb = net.to_rgb
        self.eval().requires_grad_(False)
        self.to(memory_format=torch.channels_last)

    def forward(self, z: Tensor) -> Tensor:
        x = torch.addmm(self.init_bias, z.flatten(1), self.init_weight).view(z.shape[0], -1, 4, 4)
        x = F.glu(x, dim=1).contiguous(memory_format=torch.channels_last)
        feats = [x]
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            if i in self.sle_source:
                x = self.sle[str(i)](feats[self.sle_source[i]], x)
            feats.append(x)
        return torch.tanh(self.to_rgb(x))


class FastGANGenerator:
    """A trained FastGAN as a ``Generator``: latents z [B, z_dim] ~ N(0, I) (the Mapper's walk.truncation
    pulls them toward 0, the prior's centre)."""

    def __init__(self, net: FastGAN, *, device: torch.device, source: str = "") -> None:
        self.cfg = net.cfg
        self.latent_dim = net.cfg.z_dim
        self.resolution = net.cfg.resolution
        self.device = device
        self.source = source
        self._net = InferenceFastGAN(net).to(device)

    @property
    def latent_mean(self) -> Tensor:
        return torch.zeros(self.latent_dim)

    def sample_latents(self, count: int, *, seed: int) -> Tensor:
        return torch.randn((count, self.latent_dim), generator=torch.Generator().manual_seed(int(seed)))

    def from_normal(self, eps: Tensor) -> Tensor:
        return eps

    def differentiable(self, latents: Tensor) -> Tensor:
        return self._net(latents.to(self.device, torch.float32))

    @torch.inference_mode()
    def __call__(self, latents: Tensor, noise_scale: Tensor | None = None) -> Tensor:
        """Images [B, 3, R, R] in [-1, 1], channels-last in memory; ``noise_scale`` is for layered
        generators and ignored (a FastGAN has no noise inputs)."""
        return self.differentiable(latents)

