"""FastGAN's self-supervised discriminator, used only while training.

Two branches judge a picture: one on the full-size picture [B, 3, R, R], one on a half-size
copy [B, 3, R/2, R/2] (for fakes, the generator's own half-size output). Each ends in a 5x5 map of
real/fake logits. On real pictures three small decoders must also redraw the picture at half size
from the discriminator's features (the whole picture from the 8x8 map of each branch, and one
quadrant at full detail from a quadrant of the 16x16 map): that forces it to look at the whole
picture rather than at one tell-tale, which is what lets a GAN train on a few thousand pictures.
Reconstruction is judged by L1 and image-gradient L1 (the paper's LPIPS needs downloaded weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from visualizer.models.base import ModelConfig
from visualizer.models.fastgan import SkipExcitation


@dataclass(frozen=True)
class DiscriminatorConfig(ModelConfig):
    """Channels of the full-size branch after each halving (the first entry at R/2), down to 8x8."""

    resolution: int = 256
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16)   # 16, 32, 64, 128 px (up from 8x8)

    def __post_init__(self) -> None:
        if 8 * 2 ** len(self.channels) != self.resolution:
            raise ValueError(f"discriminator channels {self.channels} do not take {self.resolution} px down to 8 px")
        if 8 * 2 ** len(self.decoder_channels) != self.resolution // 2:
            raise ValueError(f"decoder channels {self.decoder_channels} do not draw {self.resolution // 2} px")

    @classmethod
    def from_dict(cls, data: dict) -> "DiscriminatorConfig":
        return cls(resolution=int(data["resolution"]), channels=tuple(int(c) for c in data["channels"]),
                   decoder_channels=tuple(int(c) for c in data["decoder_channels"]))


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class DownBlock(nn.Module):
    """Halve the size: a 4x4 stride-2 conv path and an average-pool + 1x1 conv shortcut, averaged."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), _lrelu(),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), _lrelu())
        self.direct = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
                                    _lrelu())

    def forward(self, x: Tensor) -> Tensor:
        return (self.main(x) + self.direct(x)) / 2


class Decoder(nn.Module):
    """A feature map [B, C, 8, 8] -> a picture [B, 3, 128, 128] (for R = 256) in [-1, 1]."""

    def __init__(self, c_in: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_out in channels:
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, 2 * c_out, 3, 1, 1, bias=False),
                       nn.BatchNorm2d(2 * c_out), nn.GLU(dim=1)]
            c_in = c_out
        layers += [nn.Conv2d(c_in, 3, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Discriminator(nn.Module):
    """``forward(big, small)`` -> logits [B, 2 * 25]; with ``decode=True`` also the three redrawings."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        self.from_big = nn.Sequential(nn.Conv2d(3, ch[0], 4, 2, 1), _lrelu())
        self.down = nn.ModuleList(DownBlock(ch[i - 1], ch[i]) for i in range(1, len(ch)))
        # The two finest maps gate the two coarsest (channel attention across scales).
        self.sle_16 = SkipExcitation(ch[0], ch[-2])
        self.sle_8 = SkipExcitation(ch[1], ch[-1])
        self.logits_big = nn.Sequential(nn.Conv2d(ch[-1], ch[-1], 1, bias=False), nn.BatchNorm2d(ch[-1]), _lrelu(),
                                        nn.Conv2d(ch[-1], 1, 4))
        self.from_small = nn.Sequential(nn.Conv2d(3, ch[1], 4, 2, 1), _lrelu(),
                                        *(DownBlock(ch[i - 1], ch[i]) for i in range(2, len(ch))))
        self.logits_small = nn.Conv2d(ch[-1], 1, 4)
        self.decode_big = Decoder(ch[-1], cfg.decoder_channels)
        self.decode_part = Decoder(ch[-2], cfg.decoder_channels)
        self.decode_small = Decoder(ch[-1], cfg.decoder_channels)

    def forward(self, big: Tensor, small: Tensor, *, decode: bool = False, part: int = 0):
        x = self.from_big(big)
        feats = [x]
        for block in [None, *self.down]:
            x = x if block is None else block(x)
            if x.shape[-1] == 16:
                x = f16 = self.sle_16(feats[0], x)
            if block is not None:
                feats.append(x)
        f8 = self.sle_8(feats[1], x)
        s8 = self.from_small(small)
        logits = torch.cat([self.logits_big(f8).flatten(1), self.logits_small(s8).flatten(1)], 1)
        if not decode:
            return logits
        return logits, (self.decode_big(f8), self.decode_part(quadrant(f16, part)), self.decode_small(s8))


def quadrant(images: Tensor, part: int) -> Tensor:
    """Quadrant ``part`` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of images [B, C, H, W]."""
    h, w = images.shape[-2] // 2, images.shape[-1] // 2
    row, col = divmod(part, 2)
    return images[..., row * h:(row + 1) * h, col * w:(col + 1) * w]


def reconstruction_loss(drawn: Tensor, target: Tensor) -> Tensor:
    """L1 of the pixels plus L1 of their horizontal and vertical differences (edges), images [B, 3, H, W]."""
    target = F.interpolate(target, size=drawn.shape[-2:], mode="area") if target.shape[-1] != drawn.shape[-1] \
        else target
    pixel = (drawn - target).abs().mean()
    dx = (drawn.diff(dim=-1) - target.diff(dim=-1)).abs().mean()
    dy = (drawn.diff(dim=-2) - target.diff(dim=-2)).abs().mean()
    return pixel + dx + dy
