"""Shared fixtures: small real inputs (click tracks, tiny random models), never mocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from visualizer.audio.demo import click_track, write_wav
from visualizer.models.io import save_visvae
from visualizer.models.visvae import VisVAE, VisVAEConfig

TINY = VisVAEConfig(latent_dim=16, resolution=32, channels=(32, 16, 8))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised 32x32 VisVAE saved in our checkpoint format."""
    torch.manual_seed(0)
    model = VisVAE(TINY)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    gen = torch.Generator().manual_seed(1)
    chol = torch.eye(TINY.latent_dim) * 0.5 + 0.01 * torch.randn(TINY.latent_dim, TINY.latent_dim, generator=gen).tril()
    save_visvae(path, model, torch.randn(TINY.latent_dim, generator=gen), chol, training={"note": "test"})
    return path


CLICK_TIMES = (0.52, 1.03, 1.61, 2.24, 2.75, 3.37, 3.91, 4.48, 5.06, 5.63)


@pytest.fixture(scope="session")
def click_wav(tmp_path_factory) -> Path:
    """6 s of silence with clicks at CLICK_TIMES, 44.1 kHz mono 16-bit."""
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    return write_wav(path, click_track(CLICK_TIMES, duration_s=6.0, sample_rate=44100), 44100)


def tone(seconds: float, sample_rate: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    """A sine with a click every half second, float32 [channels, frames]."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = 0.3 * np.sin(2 * np.pi * freq * t)
    x[(t % 0.5) < 0.003] += 0.5
    return np.repeat(x[None, :].astype(np.float32), channels, axis=0)


def video_frames(path, step: int = 1) -> np.ndarray:
    """Every decoded frame of a video's first stream, uint8 [frames, H, W, 3]; ``step`` keeps every
    step-th pixel each way (big frames)."""
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24")[::step, ::step] for f in c.decode(c.streams.video[0])])
