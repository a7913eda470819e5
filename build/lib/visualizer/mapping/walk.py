"""Latent-space geometry: keyframes drawn from a generator's prior, slerp, chroma blends."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between vectors a and b [D] (both measured from the prior's centre).

    The norm is interpolated linearly, the direction along the great circle, so the
    path keeps the typical radius of Gaussian samples instead of cutting through the
    low-norm (washed-out) middle as a straight line would.
    """
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-8 or nb < 1e-8:
        return (1 - t) * a + t * b
    ua, ub = a / na, b / nb
    dot = float(np.clip(np.dot(ua, ub), -1.0, 1.0))
    omega = np.arccos(dot)
    if omega < 1e-4:
        direction = (1 - t) * ua + t * ub
    else:
        direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return direction * ((1 - t) * na + t * nb)


@dataclass(frozen=True)
class Keyframes:
    """Latents the walk moves between, as offsets from the prior's centre.

    ``walk`` [K, D] is the loop the walk travels; ``chroma`` [12, D] holds one latent per
    pitch class (C, C#, ... B) for the harmonic blend; ``pulses`` [P, D] are the
    directions onset pulses push along; ``mean`` [D] is the prior's centre.
    """

    walk: np.ndarray
    chroma: np.ndarray
    pulses: np.ndarray
    mean: np.ndarray

    @classmethod
    def from_generator(cls, generator, *, seed: int, count: int, pulses: int = 16) -> "Keyframes":
        mean = generator.latent_mean.double().numpy()
        draws = generator.sample_latents(count + 12 + pulses, seed=seed).double().numpy() - mean
        return cls(walk=draws[:count], chroma=draws[count:count + 12], pulses=draws[count + 12:], mean=mean)

    def at(self, position: float) -> np.ndarray:
        """The walk's latent offset at ``position`` (in keyframes; wraps around the loop)."""
        count = len(self.walk)
        i = int(np.floor(position)) % count
        frac = position - np.floor(position)
        return slerp(self.walk[i], self.walk[(i + 1) % count], float(frac))

    def chroma_blend(self, weights: np.ndarray) -> np.ndarray:
        """Weighted mix of the pitch-class latents [D], rescaled to the prior's typical radius.

        A weighted sum of independent Gaussian offsets has its standard deviation scaled by
        the weights' L2 norm; dividing by it keeps the blend as vivid as a single sample.
        """
        w = np.clip(np.asarray(weights, np.float64), 0.0, None)
        norm = np.linalg.norm(w)
        if norm < 1e-8:
            return np.zeros_like(self.mean)
        return (w @ self.chroma) / norm
