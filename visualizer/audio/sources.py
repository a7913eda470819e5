"""Audio sources: decoding files (any format FFmpeg reads) into sample arrays, whole (``load_audio``)
or a block at a time (``open_audio``: a render's memory does not grow with the song's length)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visualizer.errors import UserError


BLOCK_FRAMES = 65536  # sample frames a streamed song is read in: 256 KB a channel


class AudioError(UserError):
    """An audio file is missing, unreadable, or holds no audio."""


@dataclass(frozen=True)
class AudioClip:
    """Decoded audio. ``samples`` is float32 [channels, frames] in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def frames(self) -> int:
        return self.samples.shape[1]

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def mono(self) -> np.ndarray:
        """The channels averaged: float32 [frames]."""
        return self.samples.mean(axis=0, dtype=np.float32)

    def trimmed(self, start_s: float, end_s: float) -> "AudioClip":
        """The part from ``start_s`` to ``end_s`` (seconds, clipped to the clip)."""
        a = max(0, min(self.frames, int(round(start_s * self.sample_rate))))
        b = max(a, min(self.frames, int(round(end_s * self.sample_rate))))
        return AudioClip(self.samples[:, a:b], self.sample_rate)

    def mono_at(self, sample_rate: int) -> np.ndarray:
        """The mono mix resampled to ``sample_rate`` Hz (soxr, high quality): float32 [frames']."""
        import soxr

        mono = self.mono()
        if sample_rate == self.sample_rate:
            return mono
        return soxr.resample(mono, self.sample_rate, sample_rate, quality="HQ").astype(np.float32)

    def blocks(self, size: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """The samples in consecutive blocks, float32 [channels, <= size]."""
        for i in range(0, self.frames, size):
            yield self.samples[:, i : i + size]


@dataclass(frozen=True)
class AudioFile:
    """A song on disk, decoded again a block at a time whenever it is read and never held whole:
    its first audio stream's ``sample_rate`` (Hz) and ``channels``, and the span of sample frames
    ``start``..``end`` of it that this view reads (``open_audio`` checked that all of it decodes)."""

    path: Path
    sample_rate: int
    channels: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def trimmed(self, start_s: float, end_s: float) -> "AudioFile":
        """The part from ``start_s`` to ``end_s`` (seconds from this view's start, clipped to it)."""
        a = max(0, min(self.frames, int(round(start_s * self.sample_rate))))
        b = max(a, min(self.frames, int(round(end_s * self.sample_rate))))
        return AudioFile(self.path, self.sample_rate, self.channels, self.start + a, self.start + b)

    def blocks(self, size: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """This view's samples in consecutive blocks, float32 [channels, <= size], as ``load_audio``
        would give them; a file that changed since it was opened is an AudioError."""
        pos, held, parts = 0, 0, []
        for block in _decoded(self.path):
            a, b = max(self.start - pos, 0), min(self.end - pos, block.shape[1])
            pos += block.shape[1]
            if b <= a:
                if pos >= self.end:
                    break
                continue
            parts.append(block[:, a:b])
            held += b - a
            while held >= size:
                joined = np.concatenate(parts, axis=1)
                yield joined[:, :size]
                parts, held = [joined[:, size:]], held - size
            if pos >= self.end:
                break
        if pos < self.end:
            raise AudioError(f"{self.path} changed while it was being rendered; render it again")
        if held:
            yield np.concatenate(parts, axis=1)


class Resampler:
    """Audio at ``rate`` Hz fed a block at a time, float32 [n] (mono) or [channels, n], out at ``target``
    Hz (soxr, high quality): the same samples, whatever the blocks, as resampling them all at once."""

    def __init__(self, rate: int, target: int, channels: int = 1) -> None:
        import soxr

        self.channels = channels
        self._shape: tuple[int, ...] = (0,)  # of an empty block like those fed
        self._stream = None if rate == target else soxr.ResampleStream(rate, target, channels, dtype="float32",
                                                                         quality="HQ")

    def __call__(self, block: np.ndarray) -> np.ndarray:
        self._shape = (0,) if block.ndim == 1 else (block.shape[0], 0)
        if self._stream is None:
            return block
        return self._stream.resample_chunk(np.ascontiguousarray(block.T, dtype=np.float32)).T

    def flush(self) -> np.ndarray:
        """What the filter still holds, at the end of the stream."""
        if self._stream is None:
            return np.zeros(self._shape, np.float32)
        return self._stream.resample_chunk(np.zeros(self._shape[::-1], np.float32), last=True).T


def open_audio(path: str | Path) -> AudioFile:
    """Check that every sample of the first audio stream of ``path`` decodes (counting them, holding
    none) and return the whole song as an AudioFile; the same one-line AudioErrors as ``load_audio``."""
    path = Path(path)
    frames, sample_rate, channels = 0, 0, 0
    for block, rate in _decoded(path, with_rate=True):
        frames += block.shape[1]
        sample_rate, channels = rate, block.shape[0]
    if frames == 0:
        raise AudioError(f"{path} contains no audio samples; pick a file with sound in it")
    return AudioFile(path, int(sample_rate), channels, 0, frames)


def load_audio(path: str | Path) -> AudioClip:
    """Decode every sample of the first audio stream of ``path`` (WAV, FLAC, OGG, MP3, ...)."""
    path = Path(path)
    chunks: list[np.ndarray] = []
    sample_rate = 0
    for block, sample_rate in _decoded(path, with_rate=True):
        chunks.append(block)
    if not chunks or sum(c.shape[1] for c in chunks) == 0:
        raise AudioError(f"{path} contains no audio samples; pick a file with sound in it")
    samples = np.concatenate(chunks, axis=1)
    return AudioClip(samples=np.ascontiguousarray(samples, dtype=np.float32), sample_rate=int(sample_rate))


def _decoded(path: Path, with_rate: bool = False) -> Iterator:
    """The decoded frames of the first audio stream of ``path``, float32 [channels, n] each (with
    their sample rate if ``with_rate``); one-line AudioErrors for a missing, unreadable or corrupt file."""
    import av

    if not path.exists():
        raise AudioError(f"audio file not found: {path}; check the path and the file name")
    if path.is_dir():
        raise AudioError(f"{path} is a folder; --input takes an audio file (WAV, FLAC, OGG, MP3)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path} is not an audio file FFmpeg can read ({_short(exc)}); "
                         "use WAV, FLAC, OGG or MP3") from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path} has no audio stream; use WAV, FLAC, OGG or MP3")
        stream = container.streams.audio[0]
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames, None)
            except (av.error.FFmpegError, ValueError) as exc:
                raise AudioError(f"{path} is corrupt: decoding failed ({_short(exc)})") from None
            if frame is None:
                return
            block = _planar_float(frame)
            np.nan_to_num(block, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
            yield (block, frame.sample_rate) if with_rate else block


def _planar_float(frame) -> np.ndarray:
    """One decoded frame as float32 [channels, samples], whatever its sample format."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    kind = data.dtype
    data = data.astype(np.float32)
    if np.issubdtype(kind, np.integer):
        info = np.iinfo(kind)
        if info.min == 0:  # unsigned 8-bit PCM is centred on 128
            data = (data - (info.max + 1) / 2) / ((info.max + 1) / 2)
        else:
            data /= float(-info.min)
    return data


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__
