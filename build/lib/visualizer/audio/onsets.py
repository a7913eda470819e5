"""Causal onset picking on a spectral-flux stream, and onset timing inside a frame."""

from __future__ import annotations

import collections
import math

import numpy as np

from visualizer.settings import AnalysisSettings

_TAIL = 64              # samples over which the onset window falls to 0 at its newest end
_STATS_S = 1.0          # the flux's recent median and spread are taken over this long
_SPREAD_K = 3.0         # an onset's flux stands this many spreads (MAD) above the recent median
_MEDIAN_RATIO = 1.5     # plus this many times the median: steady noise has a high median flux
_FLOOR = 0.015          # and at least this far above it (0..1 of the running peak)
_STATS_EVERY = 8        # rows between two updates of the median and spread
_TIMING_BLOCK = 32      # samples per energy block when timing an onset inside its frame
# Masking: after an onset, the next must exceed _MASK_RATIO of its strength, times how alike the two
# rises are across the bands (the cosine of their band profiles), decaying with time constant
# _MASK_S. A vibraphone's tremolo repeats the last rise's spectrum, weaker, about 0.12 s later; a
# hi-hat after a kick rises in other bands and is not held back. (Chosen on the tuning, validation
# and styles sets: onset F of the vibraphone 0.70 -> 0.88, of clicks 0.79 -> 0.91.)
_MASK_RATIO = 0.6
_MASK_S = 0.1


def onset_window(length: int, tail: int | None = None) -> np.ndarray:
    """An asymmetric taper, float64 [length]: a slow Hann rise, then a fall over the newest ``tail`` samples.

    A sound that enters the frame is weighted fully after ``tail`` samples instead of after
    a quarter of the frame, so the onset function reacts one hop sooner.
    """
    tail = min(_TAIL if tail is None else tail, length // 4)
    rise = np.hanning(2 * (length - tail) + 1)[: length - tail]
    fall = np.hanning(2 * tail + 1)[tail + 1 :]
    return np.concatenate([rise, fall]) if tail else rise


def onset_offset_s(recent: np.ndarray, hop_length: int, sample_rate: int) -> float:
    """How long before the end of ``recent`` (the frame's newest samples) an onset began, in seconds.

    The high-passed energy is measured in short blocks; the onset is the first block of the
    newest hop (plus the window's tail) that rises halfway from the older blocks' level to the
    newest blocks' peak. Uses only samples already heard.
    """
    b = _TIMING_BLOCK
    x = np.diff(np.asarray(recent, np.float64))
    n = len(x) // b
    if n < 4:
        return 0.5 * hop_length / sample_rate
    energy = (x[len(x) - n * b:].reshape(n, b) ** 2).sum(1)
    search = min(n - 1, int(math.ceil((hop_length + _TAIL) / b)))
    older, newer = energy[: n - search], energy[n - search:]
    base = float(np.partition(older, len(older) // 2)[len(older) // 2])  # the median, cheaply
    top = float(newer.max())
    if top <= base * 1.5:
        return 0.5 * hop_length / sample_rate
    first = int(np.argmax(newer > base + 0.5 * (top - base)))
    blocks_back = search - first - 0.5   # to the middle of that block
    return blocks_back * b / sample_rate


def decaying_max(levels: np.ndarray, start: np.ndarray | float, fall: float) -> np.ndarray:
    """peak[i] = max(levels[i], peak[i-1] - fall) along the first axis, with peak[-1] = ``start``.

    For levels on a log scale (dB, nepers) with a constant ``fall`` per row. Unrolled, it is a
    running maximum of levels[j] + j * fall, less i * fall: one numpy pass instead of a loop.
    ``RunningPeak`` is the same one value at a time, on a linear scale.
    """
    levels = np.asarray(levels, np.float64)
    if len(levels) == 1:  # (the live path's usual block: the same arithmetic without the set-up)
        return np.maximum(np.asarray(start, np.float64), levels + fall) - fall
    ramp = (np.arange(1, len(levels) + 1, dtype=np.float64) * fall).reshape((-1,) + (1,) * (levels.ndim - 1))
    start = np.broadcast_to(np.asarray(start, np.float64), levels.shape[1:])[None]
    return np.maximum.accumulate(np.concatenate([start, levels + ramp]), axis=0)[1:] - ramp


class RunningPeak:
    """A level's running peak: jumps up at once, decays by ``fall`` per hop, never below ``floor``."""

    def __init__(self, fall: float, floor: float = 1e-3) -> None:
        self.fall, self.floor = fall, floor
        self.value = floor

    def __call__(self, level: float) -> float:
        """Update with this hop's level; returns the peak."""
        self.value = max(level, self.value * self.fall, self.floor)
        return self.value

    def block(self, levels: np.ndarray) -> np.ndarray:
        """The peak after each of a block of levels (float64 [n]), as ``__call__`` one by one would
        give it (to rounding): a ``decaying_max`` of the log levels."""
        levels = np.maximum(np.asarray(levels, np.float64), self.floor)
        if len(levels) == 0:
            return levels
        peaks = np.exp(decaying_max(np.log(levels), math.log(self.value), -math.log(self.fall)))
        # Where the level itself is the peak, it must be exactly that (level / peak is then 1.0).
        peaks = np.where(np.abs(peaks - levels) <= 1e-12 * levels, levels, np.maximum(peaks, levels))
        self.value = float(peaks[-1])
        return peaks


class OnsetPicker:
    """Adaptive, causal peak picking on spectral flux.

    The flux is divided by a running peak (falls over ``norm_release_s``) so its scale does
    not matter. An onset is a value above ``onset_threshold`` that also stands well above the
    flux's median over the last second (by ``_SPREAD_K`` median absolute deviations, robust to
    the onsets themselves; by ``_MEDIAN_RATIO`` times the median, which keeps steady noise
    quiet; and by ``_FLOOR``), at least ``onset_min_gap_s`` after the last, and not masked by it
    (a weaker rise of the same bands soon after: see ``_MASK_RATIO``).
    A hit that straddles two frames shows part of its flux in the first; the next row may
    raise its strength (reported then: no look-ahead).
    """

    def __init__(self, settings: AnalysisSettings, hop_s: float) -> None:
        self.settings = settings
        self.fall = math.exp(-hop_s / settings.norm_release_s)  # per hop, for the flux's running peak
        self._peak = RunningPeak(self.fall)
        self._past = np.zeros(max(8, int(round(_STATS_S / hop_s))))
        self._rows = 0
        self._threshold = 0.0
        self._last_onset_s = -1e9
        self._open = 0.0
        self._last_strength = 0.0                       # the last onset's strength (0..1 of the peak)
        self._last_profile: np.ndarray | None = None    # and its rise per band

    def thresholds(self, flux: np.ndarray) -> np.ndarray:
        """For each of a block of consecutive raw flux values: (1 + R) * median + K * MAD of the second before it.

        The statistics move slowly, so they are recomputed every ``_STATS_EVERY`` rows only.
        """
        w, n = len(self._past), len(flux)
        series = np.concatenate([self._past, flux])
        out = np.empty(n)
        rows = np.arange(self._rows, self._rows + n)
        due = np.flatnonzero(rows % _STATS_EVERY == 0)
        if len(due):
            windows = np.lib.stride_tricks.sliding_window_view(series[:-1], w)[-n:][due]
            median = np.median(windows, axis=1)
            mad = np.median(np.abs(windows - median[:, None]), axis=1)
            fresh = median + _SPREAD_K * mad + _MEDIAN_RATIO * median
            index = np.searchsorted(due, np.arange(n), side="right") - 1
            out = np.where(index >= 0, fresh[np.maximum(index, 0)], self._threshold)
            self._threshold = float(fresh[-1])
        else:
            out[:] = self._threshold
        self._rows += n
        self._past = series[-w:]
        return out

    def pick(self, flux: np.ndarray, thresholds: np.ndarray, time_s: np.ndarray,
             min_strength: np.ndarray, profiles: np.ndarray | None = None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A block of hops: raw flux, its ``thresholds`` and each hop's time (arrays [n]);
        ``min_strength`` (0..1, or inf where the row is silent) raises the settings' threshold;
        ``profiles`` [n, bands], the rise in each band the flux sums (for masking; none: no masking).
        Returns the flux as 0..1 of its running peak, the onset strength (0 on most hops) and
        whether each hop starts a new onset."""
        s = self.settings
        peak = self._peak.block(flux)
        value = flux / peak
        candidate = (value >= np.maximum(s.onset_threshold, min_strength)) & (flux > thresholds + _FLOOR * peak)
        strength = np.zeros(len(flux))
        new = np.zeros(len(flux), bool)
        # Only candidates, and the hop after each onset (which may raise its strength), need a look.
        todo = collections.deque(np.flatnonzero(candidate).tolist())
        if self._open and len(flux) and (not todo or todo[0] != 0):
            todo.appendleft(0)
        while todo:
            i = todo.popleft()
            if (candidate[i] and time_s[i] - self._last_onset_s >= s.onset_min_gap_s
                    and not self._masked(value[i], time_s[i], None if profiles is None else profiles[i])):
                strength[i], new[i] = value[i], True
                self._last_onset_s = float(time_s[i])
                self._open = self._last_strength = float(value[i])
                self._last_profile = None if profiles is None else np.array(profiles[i], np.float64)
                if i + 1 < len(flux) and (not todo or todo[0] != i + 1):
                    todo.appendleft(i + 1)
            elif self._open:
                if value[i] > self._open:
                    strength[i] = value[i]
                    self._last_strength = float(value[i])
                self._open = 0.0
        return value, strength, new

    def _masked(self, value: float, time_s: float, profile: np.ndarray | None) -> bool:
        """Whether a candidate of this strength and band profile is held back by the last onset."""
        if profile is None or self._last_profile is None:
            return False
        last = self._last_profile
        alike = float(profile @ last) / (math.sqrt(float(profile @ profile) * float(last @ last)) + 1e-12)
        return value < _MASK_RATIO * alike * self._last_strength * math.exp(-(time_s - self._last_onset_s) / _MASK_S)
