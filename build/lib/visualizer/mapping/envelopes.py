"""Attack/release envelopes and response curves: the shaping between a feature and a target."""

from __future__ import annotations

import math

import numpy as np


def shape(value: float, curve: str) -> float:
    """Apply a response curve to a value clipped to 0..1."""
    x = min(1.0, max(0.0, value))
    if curve == "linear":
        return x
    if curve == "sqrt":
        return math.sqrt(x)
    if curve == "square":
        return x * x
    if curve == "smoothstep":
        return x * x * (3.0 - 2.0 * x)
    raise ValueError(f"unknown curve {curve!r}")


def one_pole_coefficient(dt: float, time_constant_s: float) -> float:
    """Fraction of the gap a one-pole filter closes in ``dt`` seconds (1 when the constant is 0)."""
    if time_constant_s <= 0.0:
        return 1.0
    return 1.0 - math.exp(-dt / time_constant_s)


class Envelope:
    """Follows its input, rising with time constant ``attack_s`` and falling with ``release_s``."""

    def __init__(self, attack_s: float, release_s: float) -> None:
        self.attack_s = attack_s
        self.release_s = release_s
        self.value = 0.0

    def step(self, target: float, dt: float) -> float:
        tau = self.attack_s if target > self.value else self.release_s
        self.value += (target - self.value) * one_pole_coefficient(dt, tau)
        return self.value


class VectorSmoother:
    """A one-pole low-pass over a vector (e.g. the 12 chroma bins), time constant in seconds."""

    def __init__(self, size: int, time_constant_s: float) -> None:
        self.time_constant_s = time_constant_s
        self.value = np.zeros(size, np.float64)
        self._started = False

    def step(self, target: np.ndarray, dt: float) -> np.ndarray:
        if not self._started:
            self.value[:] = target
            self._started = True
        else:
            self.value += (target - self.value) * one_pole_coefficient(dt, self.time_constant_s)
        return self.value
