"""What the analyzer hears: one row per analysis hop, and snapshots over a frame's time span."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

BAND_NAMES = ("bass", "mid", "treble")


@dataclass(frozen=True)
class Features:
    """The audio that one video or display frame reacts to. All values 0..1 unless noted."""

    time_s: float          # end of the newest analysed window, seconds from stream start
    loudness: float        # RMS level, adaptively normalised
    loudness_db: float     # RMS level in dBFS (not normalised)
    bass: float
    mid: float
    treble: float
    flux: float            # spectral flux, normalised by its running peak
    onset: float           # strongest onset in the span (its strength), 0 when there was none
    centroid: float        # spectral centroid on a log scale from 100 Hz (0) to 8 kHz (1)
    chroma: np.ndarray     # [12] pitch-class energy, C first, normalised so the largest is 1

    def value(self, source: str) -> float:
        """A scalar feature by name (the names the settings' ``mappings.source`` accepts)."""
        return float(getattr(self, source))


@dataclass(frozen=True)
class FeatureTrack:
    """Feature rows over time; every array has the hop count T as its first dimension."""

    time_s: np.ndarray       # [T] float64, end of each analysis window in seconds
    loudness: np.ndarray     # [T]
    loudness_db: np.ndarray  # [T]
    bands: np.ndarray        # [T, 3] bass, mid, treble
    flux: np.ndarray         # [T]
    onset: np.ndarray        # [T] onset strength at onset hops, else 0
    chroma: np.ndarray       # [T, 12]
    centroid: np.ndarray     # [T]

    def __len__(self) -> int:
        return len(self.time_s)

    @classmethod
    def empty(cls) -> "FeatureTrack":
        return cls(time_s=np.zeros(0), loudness=np.zeros(0, np.float32), loudness_db=np.zeros(0, np.float32),
                   bands=np.zeros((0, 3), np.float32), flux=np.zeros(0, np.float32),
                   onset=np.zeros(0, np.float32), chroma=np.zeros((0, 12), np.float32),
                   centroid=np.zeros(0, np.float32))

    @classmethod
    def concat(cls, parts: list["FeatureTrack"]) -> "FeatureTrack":
        if not parts:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def onset_times(self) -> np.ndarray:
        """Times (s) of the onsets: the first row of each (a hit may raise its strength on the next row)."""
        hit = self.onset > 0
        first = hit & ~np.concatenate([[False], hit[:-1]])
        return self.time_s[first]

    def span(self, t0: float, t1: float) -> Features:
        """A snapshot of the rows with t0 < time <= t1: the newest row, with the span's strongest onset.

        With no row in the span (a frame shorter than a hop), the newest row before t1 is used
        and its onset is not repeated. Before the first row, everything reads 0.
        """
        lo = int(np.searchsorted(self.time_s, t0, side="right"))
        hi = int(np.searchsorted(self.time_s, t1, side="right"))
        if hi == 0:
            return silent_features(t1)
        i = hi - 1
        onset = float(self.onset[lo:hi].max()) if hi > lo else 0.0
        flux = float(self.flux[lo:hi].max()) if hi > lo else float(self.flux[i])
        bass, mid, treble = (float(v) for v in self.bands[i])
        return Features(
            time_s=float(self.time_s[i]), loudness=float(self.loudness[i]), loudness_db=float(self.loudness_db[i]),
            bass=bass, mid=mid, treble=treble, flux=flux, onset=onset, centroid=float(self.centroid[i]),
            chroma=self.chroma[i].copy(),
        )


def silent_features(time_s: float = 0.0) -> Features:
    """Features of silence at ``time_s``."""
    return Features(time_s=time_s, loudness=0.0, loudness_db=-120.0, bass=0.0, mid=0.0, treble=0.0,
                    flux=0.0, onset=0.0, centroid=0.0, chroma=np.zeros(12, np.float32))
