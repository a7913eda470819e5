"""The frame plan of a render: every frame's latent, shader values and noise before any pixel.

Its memory does not grow with the song beyond a few bytes a frame: the latents (the big part: a
StyleGAN W+ latent is 18 x 512 numbers a frame, 13 GB for 3 hours at 30 fps in float64) are
float32, the generator's own precision, and past ``IN_MEMORY_BYTES`` they live in a memory-mapped
file on disk (deleted as soon as it is made, so nothing is left behind, whatever happens), which
the kernel pages in and out as the render walks through it; the uniforms are one row of ten
numbers a frame. ``part`` cuts out what one chunk of a split render needs.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from visualizer.mapping.mapper import Uniforms

IN_MEMORY_BYTES = 256 * 2 ** 20
UNIFORM_FIELDS = ("time_s", "flash", "zoom", "warp", "hue", "vignette", "grain")  # then flash_color (3)


def plan_array(shape: tuple[int, ...], dtype=np.float32, in_memory_bytes: int = IN_MEMORY_BYTES) -> np.ndarray:
    """A zeroed array of ``shape``: in memory up to ``in_memory_bytes``, else mapped from an unlinked
    temporary file (in ``tempfile.gettempdir()``: $TMPDIR, else /tmp)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size <= in_memory_bytes:
        return np.zeros(shape, dtype)
    fd, name = tempfile.mkstemp(prefix="visualizer-plan-", suffix=".f32")
    try:
        os.unlink(name)
        os.ftruncate(fd, size)
        return np.memmap(os.fdopen(fd, "r+b", closefd=True), dtype=dtype, mode="r+", shape=shape)
    except BaseException:
        os.close(fd)
        raise


def pack_uniforms(u: Uniforms) -> np.ndarray:
    return np.array([*(getattr(u, f) for f in UNIFORM_FIELDS), *u.flash_color], np.float64)


def unpack_uniforms(row: np.ndarray) -> Uniforms:
    values = [float(v) for v in row]
    n = len(UNIFORM_FIELDS)
    return Uniforms(**dict(zip(UNIFORM_FIELDS, values[:n])), flash_color=tuple(values[n:n + 3]))


@dataclass(frozen=True)
class FramePlan:
    """A render's frames ``offset``..``offset + len(latents) - 1`` before any pixel: ``latents``
    [frames, D] (or [frames, layers, D]) float32, their shader uniforms [frames, 10] (``uniform(k)``),
    a layered generator's noise scales [frames, layers] (else None), and ``keys``, the ascending
    indices (of the whole render) of the frames the generator draws; the rest are in-betweens.
    ``batch``: the generator's batch size, by which the keys are grouped in calls from the first."""

    latents: np.ndarray
    uniform_rows: np.ndarray
    noise: np.ndarray | None
    keys: np.ndarray
    batch: int
    offset: int = 0

    @property
    def end(self) -> int:
        """One past the last frame of the render this plan covers."""
        return self.offset + len(self.latents)

    def uniform(self, k: int) -> Uniforms:
        return unpack_uniforms(self.uniform_rows[k - self.offset])

    @property
    def uniforms(self) -> list[Uniforms]:
        return [unpack_uniforms(r) for r in self.uniform_rows]

    def batches(self) -> list[np.ndarray]:
        """The key frames in generator calls, as the whole render groups them."""
        return [self.keys[i:i + self.batch] for i in range(0, len(self.keys), self.batch)]

    def part(self, first: int, end: int) -> "FramePlan":
        """What drawing frames first..end-1 needs, in memory: the whole generator batches that hold
        the key frames on either side of them, and every frame between those batches' ends."""
        calls = [b for b in self.batches() if b[-1] >= self.keys[self.keys <= first].max()
                 and b[0] <= self.keys[self.keys >= end - 1].min()]
        lo, hi = int(calls[0][0]), int(calls[-1][-1]) + 1
        keys = np.concatenate(calls)
        rows = slice(lo - self.offset, hi - self.offset)
        return FramePlan(latents=np.array(self.latents[rows]), uniform_rows=np.array(self.uniform_rows[rows]),
                         noise=None if self.noise is None else np.array(self.noise[rows]), keys=keys,
                         batch=self.batch, offset=lo)
