"""Nearest-neighbour 2x upsampling followed by a 3x3 convolution, computed at the low resolution.

After a nearest 2x upsample, the three taps of a 3x3 kernel along each axis fall on only
two distinct input pixels, and which two depends on the output pixel's phase (even or odd
row/column). For an even output row the taps (k0, k1, k2) read input rows (i-1, i, i), so
the kernel folds to (k0, k1 + k2) over rows (i-1, i); for an odd row it folds to
(k0 + k1, k2) over rows (i, i+1). Folding both axes turns one 3x3 convolution at the high
resolution into four 2x2 convolutions at the low one: the same result (up to float
rounding) with 16/36 of the multiply-adds. Zero padding agrees too: the padded row above
the upsampled image is the padded row above the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _fold(kernel: Tensor, phase: int, dim: int) -> Tensor:
    k0, k1, k2 = kernel.unbind(dim)
    return torch.stack((k0, k1 + k2) if phase == 0 else (k0 + k1, k2), dim)


class UpsampleConv2d(nn.Module):
    """``Conv2d(3x3, padding=1)(Upsample(2, "nearest")(x))`` for inference: [B, C, H, W] -> [B, O, 2H, 2W]."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.kernel_size != (3, 3) or conv.padding != (1, 1) or conv.stride != (1, 1) or conv.groups != 1 \
                or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
            raise ValueError("UpsampleConv2d folds only plain 3x3 convolutions with padding 1")
        w = conv.weight.detach()
        # Kernels of the four output phases (row parity a, column parity b), stacked as a-major.
        phases = [_fold(_fold(w, a, 2), b, 3) for a in (0, 1) for b in (0, 1)]
        self.register_buffer("weight", torch.cat(phases, 0))  # [4 * O, C, 2, 2]
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.register_buffer("bias", bias.repeat(4))
        self.out_channels = conv.out_channels

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        o = self.out_channels
        # Position (i, j) of y sees input rows i-1..i and columns j-1..j.
        y = F.conv2d(F.pad(x, (1, 1, 1, 1)), self.weight, self.bias)  # [B, 4 * O, H + 1, W + 1]
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        out = torch.empty((b, o, 2 * h, 2 * w), dtype=x.dtype, device=x.device, memory_format=layout)
        for a in (0, 1):
            for c in (0, 1):
                p = 2 * a + c
                out[:, :, a::2, c::2] = y[:, p * o:(p + 1) * o, a:a + h, c:c + w]
        return out


def fold_upsampling(layers: nn.Sequential) -> nn.Sequential:
    """A copy of ``layers`` with every ``Upsample(2, nearest), Conv2d(3x3)`` pair folded into one
    ``UpsampleConv2d``; other layers are kept as they are (shared, not copied)."""
    mods = list(layers)
    out: list[nn.Module] = []
    i = 0
    while i < len(mods):
        m = mods[i]
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        if (isinstance(m, nn.Upsample) and m.mode == "nearest" and m.scale_factor in (2, 2.0, (2, 2), (2.0, 2.0))
                and isinstance(nxt, nn.Conv2d) and nxt.kernel_size == (3, 3) and nxt.padding == (1, 1)):
            out.append(UpsampleConv2d(nxt))
            i += 2
        else:
            out.append(m)
            i += 1
    return nn.Sequential(*out)
