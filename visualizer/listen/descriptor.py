"""The music descriptor: what the picture's place is a function of.

Two parts, measured over the same few seconds:

- what kind of music it is: the listener's embedding [400] (``visualizer.listen.listener``);
- how it sounds right now: our analyzer's level, bands, brightness, flux, drum and tonal share and
  onset rate (``ACOUSTIC``), its chroma [12] and its timbre [12] (the mel spectrum's shape, MFCC
  1-12), each followed by a one-pole average of ``ACOUSTIC_TIME_S`` (about the listener's 3 s window).

``DescriptorBasis`` (fitted on a music corpus, stored with every music map) standardises both,
projects the embedding onto its leading principal axes, and weighs the four groups, so that the
plain Euclidean distance of two descriptors says how different two passages sound. The weights
(stored with each map) were chosen on the synesthesia set's tuning songs and recordings
(docs/synesthesia.md), by how well the descriptor's distance agrees with a sound distance made with
librosa (MFCC, chroma, brightness, level, onset rate). Chroma at 1.0 of the embedding's weight
(0.688 at 0.3, 0.760 at 1.0 on the songs, 2026-12-02); the timbre at 1.25 (2026-12-03, Spearman
0.680 -> 0.827 on the tuning recordings, 0.768 -> 0.794 on the songs, where style repeats come
0.471 -> 0.433 as close as different styles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from visualizer.audio.features import TIMBRE_SIZE, Features
from visualizer.mapping.envelopes import one_pole_coefficient

ACOUSTIC = ("loudness", "level_db", "bass", "mid", "treble", "centroid", "flux", "percussive", "harmonic",
            "onset_rate")
ACOUSTIC_TIME_S = 1.5
SUMMARY_SIZE = len(ACOUSTIC) + 12 + TIMBRE_SIZE
OLD_SUMMARY_SIZE = len(ACOUSTIC) + 12   # corpora and maps made before the timbre was heard
EMBEDDING_AXES = 8          # principal axes of the listener's embedding kept
ACOUSTIC_WEIGHT = 1.0       # group weights, relative to the embedding's (1), of maps trained from now on
CHROMA_WEIGHT = 1.0
TIMBRE_WEIGHT = 1.25
OLD_CHROMA_WEIGHT = 0.3     # maps trained before the weights were stored with them


class AcousticSummary:
    """Running averages of the analyzer's features over the last ~``ACOUSTIC_TIME_S`` seconds:
    ``step(features, dt)`` once per frame (or analysis hop); ``vector()`` -> [10 + 12 + 12]: ``ACOUSTIC``,
    chroma, timbre (dB / 20)."""

    def __init__(self, time_constant_s: float = ACOUSTIC_TIME_S) -> None:
        self.time_constant_s = time_constant_s
        self.values = np.zeros(SUMMARY_SIZE)
        self._started = False

    def step(self, f: Features, dt: float) -> np.ndarray:
        rate = (1.0 if f.onset > 0 else 0.0) / max(dt, 1e-6)  # onsets per second in this span
        now = np.array([f.loudness, f.loudness_db / 20.0, f.bass, f.mid, f.treble, f.centroid, f.flux,
                        f.percussive, f.harmonic, rate, *np.asarray(f.chroma, np.float64),
                        *np.asarray(f.timbre, np.float64) / 20.0])
        if not self._started:
            self.values[:] = now
            self.values[ACOUSTIC.index("onset_rate")] = 0.0
            self._started = True
        else:
            self.values += (now - self.values) * one_pole_coefficient(dt, self.time_constant_s)
        return self.values

    def vector(self) -> np.ndarray:
        return self.values.copy()


@dataclass(frozen=True)
class DescriptorBasis:
    """Standardisation and projection fitted on a corpus; ``descriptors`` -> [EMBEDDING_AXES + 22 (+ 12)].

    A basis fitted on summaries without the timbre (``OLD_SUMMARY_SIZE`` columns) has no timbre group
    and reads only the first columns of a newer summary, so maps trained before it keep working."""

    embedding_mean: np.ndarray     # [E]
    embedding_std: np.ndarray      # [E]
    axes: np.ndarray               # [k, E] principal axes of the standardised embedding
    axes_scale: float              # RMS norm of the projected corpus (the projection is divided by it)
    acoustic_mean: np.ndarray      # [22] or [34]: 10 acoustic, 12 chroma (, 12 timbre)
    acoustic_std: np.ndarray       # as acoustic_mean
    acoustic_weight: float = ACOUSTIC_WEIGHT
    chroma_weight: float = CHROMA_WEIGHT
    timbre_weight: float = TIMBRE_WEIGHT

    @property
    def size(self) -> int:
        return self.axes.shape[0] + len(self.acoustic_mean)

    @classmethod
    def fit(cls, embeddings: np.ndarray, acoustic: np.ndarray, axes: int = EMBEDDING_AXES) -> "DescriptorBasis":
        """From a corpus: embeddings [N, E] and acoustic summaries [N, 22 or 34] of the same windows."""
        mean, std = embeddings.mean(0), embeddings.std(0) + 1e-6
        z = (embeddings - mean) / std
        _, _, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
        proj = z @ vt[:axes].T
        scale = float(np.sqrt((proj ** 2).sum(1).mean()))
        return cls(mean, std, vt[:axes], scale, acoustic.mean(0), acoustic.std(0) + 1e-6)

    def embedding_axes(self, embeddings: np.ndarray) -> np.ndarray:
        """[N, E] -> the descriptor's embedding group [N, k] (RMS norm 1 over the corpus)."""
        return ((np.atleast_2d(embeddings) - self.embedding_mean) / self.embedding_std) @ self.axes.T / self.axes_scale

    def descriptors(self, embeddings: np.ndarray, acoustic: np.ndarray) -> np.ndarray:
        """[N, E] and [N, 22 or more] -> descriptors [N, size]: embedding axes (RMS norm 1 over the corpus),
        then the acoustic, chroma and timbre groups (each RMS norm ~ its weight)."""
        e = self.embedding_axes(embeddings)
        columns = len(self.acoustic_mean)
        a = (np.atleast_2d(acoustic)[:, :columns] - self.acoustic_mean) / self.acoustic_std
        n, c = len(ACOUSTIC), OLD_SUMMARY_SIZE
        groups = [e, self.acoustic_weight * a[:, :n] / math.sqrt(n), self.chroma_weight * a[:, n:c] / math.sqrt(c - n)]
        if columns > c:
            groups.append(self.timbre_weight * a[:, c:] / math.sqrt(columns - c))
        return np.concatenate(groups, axis=1).astype(np.float32)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        t = lambda a: torch.from_numpy(np.asarray(a, np.float32))  # noqa: E731
        return {"basis.embedding_mean": t(self.embedding_mean), "basis.embedding_std": t(self.embedding_std),
                "basis.axes": t(self.axes), "basis.axes_scale": t([self.axes_scale]),
                "basis.acoustic_mean": t(self.acoustic_mean), "basis.acoustic_std": t(self.acoustic_std),
                "basis.weights": t([self.acoustic_weight, self.chroma_weight, self.timbre_weight])}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "DescriptorBasis":
        g = lambda k: tensors[f"basis.{k}"].double().numpy()  # noqa: E731
        weights = g("weights") if "basis.weights" in tensors else (ACOUSTIC_WEIGHT, OLD_CHROMA_WEIGHT)
        timbre = float(weights[2]) if len(weights) > 2 else 0.0  # (older maps have no timbre group)
        return cls(g("embedding_mean"), g("embedding_std"), g("axes"), float(g("axes_scale")[0]),
                   g("acoustic_mean"), g("acoustic_std"), float(weights[0]), float(weights[1]), timbre)
