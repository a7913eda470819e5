"""Measuring pictures: a descriptor whose distances say how different two pictures look, and the
qualities attribute directions are found for (brightness, warmth, colourfulness, busyness).

All functions take images [B, 3, H, W] in [-1, 1] and are differentiable, so the music map can
be trained through them.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from visualizer.listen.tags import QUALITIES  # noqa: F401  (the names, re-exported beside their measures)

THUMB = 16           # thumbnail side in px
HIST_BINS = 8        # per colour channel
HIST_WEIGHT = 1.0    # the histogram's part of the descriptor, relative to the thumbnail's

MEASURES = ("brightness", "warmth", "colourfulness", "busyness")


def soft_histograms(images: Tensor, bins: int = HIST_BINS) -> Tensor:
    """Per-channel histograms with triangular bins (differentiable): [B, 3 * bins], each channel's summing to 1."""
    x = (images.clamp(-1, 1) + 1) / 2 * (bins - 1)                  # 0 .. bins-1
    centres = torch.arange(bins, dtype=images.dtype, device=images.device).view(1, 1, bins, 1)
    weights = (1 - (x.flatten(2).unsqueeze(2) - centres).abs()).clamp_min(0)   # [B, 3, bins, H*W]
    return weights.mean(-1).flatten(1)


def descriptor(images: Tensor) -> Tensor:
    """[B, 3, H, W] -> [B, 3 * 16 * 16 + 24]: a 16 px thumbnail (RMS-scaled) and colour histograms; the
    Euclidean distance of two descriptors is the picture distance the synesthesia benchmark reports."""
    thumb = F.adaptive_avg_pool2d(images, THUMB).flatten(1) / (3 * THUMB * THUMB) ** 0.5
    return torch.cat([thumb, HIST_WEIGHT * soft_histograms(images)], dim=1)


def qualities(images: Tensor) -> dict[str, Tensor]:
    """Per-picture qualities [B] each: mean luma, red over blue, colourfulness (mean channel spread),
    busyness (mean absolute Laplacian of the luma at 128 px)."""
    rgb = (images.clamp(-1, 1) + 1) / 2
    luma = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    spread = rgb.amax(1) - rgb.amin(1)
    small = F.interpolate(luma[:, None], size=128, mode="area") if luma.shape[-1] > 128 else luma[:, None]
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=images.dtype,
                          device=images.device).view(1, 1, 3, 3)
    return {"brightness": luma.mean((1, 2)), "warmth": (rgb[:, 0] - rgb[:, 2]).mean((1, 2)),
            "colourfulness": spread.mean((1, 2)), "busyness": F.conv2d(small, kernel).abs().mean((1, 2, 3))}
