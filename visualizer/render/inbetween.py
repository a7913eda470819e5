"""In-betweens: which frames of a render the generator draws, and cross-fades for the others.

Offline, every frame's latent is planned before any pixel is made. Where the latent path
runs straight over a few frames, the generator's pictures along it are, to first order in
the step, a cross-fade of the pictures at its ends; so the generator draws the ends and the
frames between are blended from them, as the live window blends its two newest frames.
Where the path bends (a pulse's attack, a jump to the next keyframe) every frame is drawn.
The shader effects are not affected: each frame still gets its own uniforms.
"""

from __future__ import annotations

import numpy as np


def key_frames(path, *, max_inbetweens: int, tolerance: float) -> np.ndarray:
    """Indices (ascending, int64) of the frames to generate; the others are in-betweens.

    path: [frames, ...] the generator's inputs per frame, in units where ``tolerance``
        means something (trailing axes are flattened): an array, or anything with ``len`` whose
        slices are arrays (read a few frames at a time, so a plan on disk stays there).
    max_inbetweens: most frames in a row between two generated ones (0: generate every frame).
    tolerance: how far any in-between's input may lie from the straight line between the
        generated frames either side of it.

    The first and last frames are always generated. Greedy from the start: each next key
    frame is the farthest one that keeps every frame before it within ``tolerance``.
    """
    n = len(path)
    keys = [0]
    while keys[-1] < n - 1:
        a = keys[-1]
        b = min(a + max_inbetweens + 1, n - 1)
        p = np.asarray(path[a:b + 1], np.float64).reshape(b - a + 1, -1)  # p[i] is frame a + i
        while b > a + 1:
            t = (np.arange(1, b - a) / (b - a))[:, None]
            straight = (1.0 - t) * p[0] + t * p[b - a]
            if np.linalg.norm(p[1:b - a] - straight, axis=1).max() <= tolerance:
                break
            b -= 1
        keys.append(b)
    return np.asarray(keys, np.int64)


def cross_fade(first: np.ndarray, last: np.ndarray, t: float) -> np.ndarray:
    """The picture a fraction ``t`` (0..1) of the way from ``first`` to ``last`` (uint8 [H, W, 3] each)."""
    mixed = first.astype(np.float32)
    mixed += np.float32(t) * (last.astype(np.float32) - mixed)
    return np.rint(mixed, out=mixed).astype(np.uint8)
