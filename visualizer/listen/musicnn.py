"""musicnn (Pons and Serra 2019, "musicnn: pre-trained convolutional neural networks for music audio
tagging"), in torch, with the published weights converted once (visualizer/tools/convert_musicnn.py).

A window of 3 s of sound at 16 kHz becomes a log-mel spectrogram [187 frames, 96 bands]. The
front end hears timbre (convolutions 7 frames long over 38 or 67 of the 96 bands, max-pooled over
frequency) and rhythm (convolutions 32, 64 and 128 frames long on single bands); the mid end is
three residual 1-D convolutions over time; the back end pools over time (max and mean), then a
200-unit layer, the penultimate features we use as the music embedding, and 50 tag logits.

The MagnaTagATune model knows instruments, voices and energy (guitar, piano, drums, strings,
vocal, fast, slow, loud, quiet, ...), the Million Song Dataset model genres and moods (rock,
electronic, jazz, metal, ambient, chillout, sad, happy, ...). Both are ISC-licensed
(checkpoints/LICENSE-musicnn.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from visualizer.models.base import ModelConfig

SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
WINDOW_FRAMES = 187                                   # 3 s, what the networks were trained on
WINDOW_SAMPLES = N_FFT + (WINDOW_FRAMES - 1) * HOP_LENGTH   # 48128 samples = 3.008 s
MUSICNN_FORMAT = "visualizer-musicnn"
TF_BATCH_NORM_EPS = 1e-3                              # TensorFlow's default, which the weights were trained with


@dataclass(frozen=True)
class MusicnnConfig(ModelConfig):
    """Shape of a musicnn network and the names of its tags."""

    tags: tuple[str, ...] = ()
    timbral_filters: int = 204      # int(1.6 * 128) per timbral branch
    temporal_filters: int = 51      # int(1.6 * 32) per temporal branch
    midend_filters: int = 64
    backend_units: int = 200

    @classmethod
    def from_dict(cls, data: dict) -> "MusicnnConfig":
        return cls(tags=tuple(data["tags"]), timbral_filters=int(data["timbral_filters"]),
                   temporal_filters=int(data["temporal_filters"]), midend_filters=int(data["midend_filters"]),
                   backend_units=int(data["backend_units"]))


def _bn2(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=TF_BATCH_NORM_EPS)


def _bn1(c: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(c, eps=TF_BATCH_NORM_EPS)


class Musicnn(nn.Module):
    """log-mel windows [B, T, 96] (T = 187 for 3 s) -> (tag logits [B, tags], embedding [B, 200])."""

    TIMBRAL_BANDS = (int(0.4 * N_MELS), int(0.7 * N_MELS))   # 38 and 67 bands
    TEMPORAL_FRAMES = (128, 64, 32)

    def __init__(self, cfg: MusicnnConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_bn = _bn2(1)
        self.timbral = nn.ModuleList(nn.Conv2d(1, cfg.timbral_filters, (7, b)) for b in self.TIMBRAL_BANDS)
        self.timbral_bn = nn.ModuleList(_bn2(cfg.timbral_filters) for _ in self.TIMBRAL_BANDS)
        self.temporal = nn.ModuleList(nn.Conv2d(1, cfg.temporal_filters, (k, 1)) for k in self.TEMPORAL_FRAMES)
        self.temporal_bn = nn.ModuleList(_bn2(cfg.temporal_filters) for _ in self.TEMPORAL_FRAMES)
        front = 2 * cfg.timbral_filters + 3 * cfg.temporal_filters
        m = cfg.midend_filters
        self.midend = nn.ModuleList([nn.Conv1d(front, m, 7, padding=3), nn.Conv1d(m, m, 7, padding=3),
                                     nn.Conv1d(m, m, 7, padding=3)])
        self.midend_bn = nn.ModuleList(_bn1(m) for _ in range(3))
        pooled = 2 * (front + 3 * m)
        self.pool_bn = _bn1(pooled)
        self.dense = nn.Linear(pooled, cfg.backend_units)
        self.dense_bn = _bn1(cfg.backend_units)
        self.logits = nn.Linear(cfg.backend_units, len(cfg.tags))

    def forward(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        x = self.input_bn(mel[:, None])                                  # [B, 1, T, 96]
        branches = []
        padded = F.pad(x, (0, 0, 3, 3))                                  # 'same' in time only
        for conv, bn in zip(self.timbral, self.timbral_bn):
            branches.append(bn(F.relu(conv(padded))).amax(dim=3))       # [B, C, T]
        for k, conv, bn in zip(self.TEMPORAL_FRAMES, self.temporal, self.temporal_bn):
            # TensorFlow's 'same' padding puts the odd extra frame after.
            same = F.pad(x, (0, 0, (k - 1) // 2, k // 2))
            branches.append(bn(F.relu(conv(same))).amax(dim=3))
        front = torch.cat(branches, dim=1)                               # [B, 561, T]
        levels = [front]
        h = front
        for i, (conv, bn) in enumerate(zip(self.midend, self.midend_bn)):
            out = bn(F.relu(conv(h)))
            h = out if i == 0 else out + h                               # residual after the first
            levels.append(h)
        mid = torch.cat(levels, dim=1)                                   # [B, 753, T]
        # Max and mean over time, interleaved per channel as the original flattens them.
        pooled = torch.stack([mid.amax(dim=2), mid.mean(dim=2)], dim=2).flatten(1)
        embedding = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return self.logits(embedding), embedding


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """The 96 mel filters [96, 257] the networks were trained with (librosa's Slaney mel, 16 kHz, 512-point FFT)."""
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Log-compressed mel power of mono 16 kHz audio [N] (N >= 512): [frames, 96], one frame per 256 samples,
    frame k covering samples [256 k, 256 k + 512) (no centring, so the last frame ends at the newest sample).

    As musicnn's training: power spectrum of Hann-windowed frames, mel filters, rounded to float16,
    then log10(1 + 10000 x), here taken in float32 (the original's float16 product overflows to
    infinity on loud bands).
    """
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP_LENGTH]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)                # periodic Hann, as librosa's
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    mel = np.minimum(power.astype(np.float32) @ mel_filters().T, 65504.0)   # float16's largest
    mel = mel.astype(np.float16).astype(np.float32)
    return np.log10(1.0 + 10000.0 * mel)


def save_musicnn(path: Path, net: Musicnn, source: str, dtype: torch.dtype = torch.float16) -> None:
    """Write converted musicnn weights (batch-norm statistics in float32) with the config and provenance."""
    from visualizer.listen.weights import save_net

    save_net(path, net, MUSICNN_FORMAT, {"source": source}, dtype=dtype)


def load_musicnn(path: Path) -> Musicnn:
    """A converted musicnn network, float32, eval mode; a CheckpointError naming what is wrong."""
    from visualizer.listen.weights import load_net

    return load_net(path, MUSICNN_FORMAT, "a converted musicnn network", lambda c: Musicnn(MusicnnConfig.from_dict(c)))
