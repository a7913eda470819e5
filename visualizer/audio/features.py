"""What the analyzer hears: one row per analysis hop, and snapshots over a frame's time span."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

BAND_NAMES = ("bass", "mid", "treble")
EVENT_NAMES = ("onset", "beat", "bar")  # features that are non-zero on one row only
TEMPO_LO_BPM, TEMPO_HI_BPM = 60.0, 180.0  # the 'tempo' feature maps this range onto 0..1
TIMBRE_SIZE = 12       # cepstral coefficients 1..12 of the mel band levels (0, the level, is loudness_db's)


def tempo_feature(bpm: float) -> float:
    """Tempo as a 0..1 mapping source: 60 BPM (or unknown) reads 0, 180 BPM and faster read 1."""
    return min(1.0, max(0.0, (bpm - TEMPO_LO_BPM) / (TEMPO_HI_BPM - TEMPO_LO_BPM)))


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
    percussive: float = 0.0   # loudness times the share of the percussive (broadband, short) part
    harmonic: float = 0.0     # loudness times the share of the harmonic (tonal, sustained) part
    beat: float = 0.0         # 1 when a beat fell in the span (its tracker confidence), else 0
    beat_phase: float = 0.0   # position within the current beat, 0 at the beat .. 1 just before the next
    bar: float = 0.0          # 1 when a bar's first beat fell in the span, else 0
    tempo_bpm: float = 0.0    # tempo estimate in beats per minute, 0 while unknown
    tempo_confidence: float = 0.0  # how periodic the recent onsets are, 0..1
    bar_index: int = -1       # bars counted since the meter became clear, -1 while it is not
    timbre: np.ndarray = field(default_factory=lambda: np.zeros(TIMBRE_SIZE, np.float32))
    # [12] the spectral envelope's shape whatever its level (MFCC 1-12): the k-th is the amplitude in dB
    # of a cosine of k half-periods across the mel bands' levels; 0 in silence

    @property
    def tempo(self) -> float:
        """Tempo as 0..1 (60 BPM -> 0, 180 BPM -> 1)."""
        return tempo_feature(self.tempo_bpm)

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
    percussive: np.ndarray   # [T]
    harmonic: np.ndarray     # [T]
    onset_time_s: np.ndarray  # [T] float64, when the onset reported on this row began (NaN on other rows)
    beat: np.ndarray         # [T] tracker confidence on rows where a beat falls, else 0
    beat_time_s: np.ndarray  # [T] float64, exact time of that beat (NaN on other rows)
    beat_phase: np.ndarray   # [T] 0..1 within the current beat
    bar: np.ndarray          # [T] 1 on the row of a bar's first beat, else 0
    bar_index: np.ndarray    # [T] int32, bar counter (-1 while the meter is unclear)
    tempo_bpm: np.ndarray    # [T] tempo estimate (0 while unknown)
    tempo_confidence: np.ndarray  # [T] 0..1
    timbre: np.ndarray       # [T, 12] as Features.timbre

    def __len__(self) -> int:
        return len(self.time_s)

    @classmethod
    def empty(cls) -> "FeatureTrack":
        def z(*shape, dtype=np.float32):
            return np.zeros((0, *shape), dtype)

        return cls(time_s=z(dtype=np.float64), loudness=z(), loudness_db=z(), bands=z(3), flux=z(), onset=z(),
                   chroma=z(12), centroid=z(), percussive=z(), harmonic=z(), onset_time_s=z(dtype=np.float64),
                   beat=z(), beat_time_s=z(dtype=np.float64), beat_phase=z(), bar=z(),
                   bar_index=z(dtype=np.int32), tempo_bpm=z(), tempo_confidence=z(), timbre=z(TIMBRE_SIZE))

    @classmethod
    def concat(cls, parts: list["FeatureTrack"]) -> "FeatureTrack":
        if not parts:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def since(self, time_s: float) -> "FeatureTrack":
        """The rows ``span`` reads for spans that start at ``time_s`` or later: the newest row by then and all after."""
        k = max(0, int(np.searchsorted(self.time_s, time_s, side="right")) - 1)
        if k == 0:
            return self
        return FeatureTrack(**{f.name: getattr(self, f.name)[k:] for f in fields(FeatureTrack)})

    def onset_times(self) -> np.ndarray:
        """When each onset began (s); it is reported on a row up to one hop later."""
        return self.onset_time_s[~np.isnan(self.onset_time_s)]

    def onset_strengths(self) -> np.ndarray:
        """Strength (0..1) of each onset in ``onset_times``, as it stood one row after it was first reported
        (a hit that straddles two frames may raise its strength on the next row)."""
        rows = np.flatnonzero(~np.isnan(self.onset_time_s))
        nxt = np.minimum(rows + 1, len(self) - 1)
        return np.maximum(self.onset[rows], np.where(self.onset[nxt] > 0, self.onset[nxt], 0.0)) if len(rows) else \
            np.zeros(0, np.float32)

    def beat_times(self) -> np.ndarray:
        """Times (s) of the tracked beats."""
        return self.beat_time_s[~np.isnan(self.beat_time_s)]

    def bar_times(self) -> np.ndarray:
        """Times (s) of the beats that start a bar."""
        return self.beat_time_s[self.bar > 0]

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
        def peak(values: np.ndarray) -> float:
            return float(values[lo:hi].max()) if hi > lo else 0.0

        flux = float(self.flux[lo:hi].max()) if hi > lo else float(self.flux[i])
        bass, mid, treble = (float(v) for v in self.bands[i])
        return Features(
            time_s=float(self.time_s[i]), loudness=float(self.loudness[i]), loudness_db=float(self.loudness_db[i]),
            bass=bass, mid=mid, treble=treble, flux=flux, onset=peak(self.onset), centroid=float(self.centroid[i]),
            chroma=self.chroma[i].copy(), percussive=float(self.percussive[i]), harmonic=float(self.harmonic[i]),
            beat=peak(self.beat), beat_phase=float(self.beat_phase[i]), bar=peak(self.bar),
            tempo_bpm=float(self.tempo_bpm[i]), tempo_confidence=float(self.tempo_confidence[i]),
            bar_index=int(self.bar_index[i]), timbre=self.timbre[i].copy(),
        )


def silent_features(time_s: float = 0.0) -> Features:
    """Features of silence at ``time_s``."""
    return Features(time_s=time_s, loudness=0.0, loudness_db=-120.0, bass=0.0, mid=0.0, treble=0.0,
                    flux=0.0, onset=0.0, centroid=0.0, chroma=np.zeros(12, np.float32))
