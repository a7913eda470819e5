"""Differentiable augmentation (after Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"): the discriminator sees real and generated pictures through the
same random colour changes, shifts and cut-outs, so it cannot memorise a small training set,
and the generator's gradient passes through the changes. Every draw comes from the generator
passed in, so a resumed run repeats it exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

POLICIES = ("color", "translation", "cutout")


def _uniform(shape: tuple[int, ...], gen: torch.Generator, like: Tensor) -> Tensor:
    return torch.rand(shape, generator=gen).to(like)


def colour(x: Tensor, gen: torch.Generator) -> Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per picture, [B, 3, H, W] in [-1, 1]."""
    b = x.shape[0]
    x = x + (_uniform((b, 1, 1, 1), gen, x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform((b, 1, 1, 1), gen, x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform((b, 1, 1, 1), gen, x) + 0.5) + mean


def translation(x: Tensor, gen: torch.Generator, ratio: float = 0.125) -> Tensor:
    """Shift each picture by up to ``ratio`` of its size in x and y, filling with zeros."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (b,), generator=gen)
    dx = torch.randint(-sx, sx + 1, (b,), generator=gen)
    padded = F.pad(x, (sx, sx, sy, sy))
    rows = (torch.arange(h).view(1, h) + sy - dy.view(b, 1)).to(x.device)  # [B, H]
    cols = (torch.arange(w).view(1, w) + sx - dx.view(b, 1)).to(x.device)  # [B, W]
    out = padded.gather(2, rows.view(b, 1, h, 1).expand(b, x.shape[1], h, padded.shape[-1]))
    return out.gather(3, cols.view(b, 1, 1, w).expand(b, x.shape[1], h, w))


def cutout(x: Tensor, gen: torch.Generator, ratio: float = 0.5) -> Tensor:
    """Zero a random rectangle of ``ratio`` of each side in each picture."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1), generator=gen) - ch // 2
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1), generator=gen) - cw // 2
    ys, xs = torch.arange(h).view(1, h), torch.arange(w).view(1, w)
    inside_y = (ys >= oy) & (ys < oy + ch)  # [B, H]
    inside_x = (xs >= ox) & (xs < ox + cw)  # [B, W]
    keep = ~(inside_y.view(b, 1, h, 1) & inside_x.view(b, 1, 1, w))
    return x * keep.to(x)


def diff_augment(x: Tensor, policy: tuple[str, ...], gen: torch.Generator) -> Tensor:
    """``x`` [B, 3, H, W] through each augmentation named in ``policy``, in the order of POLICIES."""
    steps = {"color": colour, "translation": translation, "cutout": cutout}
    for name in POLICIES:
        if name in policy:
            x = steps[name](x, gen)
    return x
