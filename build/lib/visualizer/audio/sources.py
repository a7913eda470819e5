"""Audio sources: decoding files (any format FFmpeg reads) into sample arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visualizer.errors import UserError


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


def load_audio(path: str | Path) -> AudioClip:
    """Decode every sample of the first audio stream of ``path`` (WAV, FLAC, OGG, MP3, ...)."""
    import av

    path = Path(path)
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
        chunks: list[np.ndarray] = []
        sample_rate = stream.rate
        try:
            for frame in container.decode(stream):
                sample_rate = frame.sample_rate
                chunks.append(_planar_float(frame))
        except (av.error.FFmpegError, ValueError) as exc:
            raise AudioError(f"{path} is corrupt: decoding failed ({_short(exc)})") from None
    if not chunks or sum(c.shape[1] for c in chunks) == 0:
        raise AudioError(f"{path} contains no audio samples; pick a file with sound in it")
    samples = np.concatenate(chunks, axis=1)
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    return AudioClip(samples=np.ascontiguousarray(samples, dtype=np.float32), sample_rate=int(sample_rate))


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
