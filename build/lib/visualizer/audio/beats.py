"""Causal tempo, beat and bar tracking from an onset-strength stream, one value per hop.

Three small stages, each fed only what has been heard:

- ``TempoEstimator``: the autocorrelation of the last few seconds of onset strength, less
  its moving average (so only its peaks count, not how busy the sound is; recent seconds
  weigh more), read through a comb of the first six multiples of each
  candidate beat period, times a log-normal preference for tempi near 135 BPM. A candidate
  must win a few updates in a row to replace the current tempo, so it does not flicker
  between metrical levels, and a real tempo change takes over within a few seconds. Its
  confidence is the periodicity at that tempo averaged over longer: noise never holds one
  tempo, so it stays below the level beats need.
  A second estimator hears only the note changes: tonal change at fine frequency resolution
  (``visualizer.audio.tonal``) and dips of the level (a pad swells into each new note).
  Strings, pads and choir change notes without attacks, so their onsets hold little
  periodicity while their note changes do. Its tempo is taken where the onsets' confidence
  is below the level beats need, or under half its own, or (under 0.25) under its own at an
  octave of it. A beat that nothing subdivides and whose beats alternate strong and weak is
  the eighth-note layer of a slower beat (rock's hi-hats, or a half-time groove's ride): the
  tracker halves it.
- ``BeatTracker``: a phase-locked loop. The beat phase advances by one period per beat;
  every few hops it is pulled toward the phase at which a comb of past beat positions
  collects the most onset strength, and of its low-frequency part (or note change, where the
  tempo is the note changes').
  A beat event fires when the phase wraps, so beats are predicted (on time) rather than
  detected (late).
- Bars: the low-frequency onset strength at each beat is accumulated per position in
  candidate bars of 3 and 4 beats; when one position clearly stands out, it is the bar's
  first beat and a bar counter runs. Otherwise the meter is reported as unclear.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

MIN_BPM, MAX_BPM = 60.0, 200.0
PREFERRED_BPM = 135.0
PRIOR_OCTAVES = 1.0       # width (sd, in octaves) of the preference for tempi near PREFERRED_BPM
HISTORY_S = 8.0           # onset strength kept for tempo and phase
RECENCY_S = 4.0           # time constant of the weight given to older onset strength
HARMONICS = 6             # multiples of the beat period summed by the comb
CONFIDENCE_MIN = 0.10     # below this (slowly averaged) periodicity there are no beats; noise stays under 0.08
SMOOTHING = 0.25          # weight of the newest autocorrelation in the running average the tempo is read from
CONFIDENCE_SMOOTHING = 0.05  # the same for the slower average the confidence is read from
SWITCH_UPDATES = 3        # updates a new tempo must win in a row before it replaces the old
OCTAVE_SWITCH_UPDATES = 20  # the same for a tempo at another metrical level of the old one
OCTAVE_MARGIN = 1.6       # and how much better that one must score
TONAL_PREFERRED_BPM = 110.0  # the tonal-change estimator's preference (sustained music is mostly slow)
TONAL_LISTEN = 0.4        # it is kept up to date while the onsets' confidence is below this
OCTAVE_LISTEN = 0.25      # below this onset confidence, a surer tonal tempo an octave away is taken
DIP_WEIGHT = 1.0 / 3.0    # weight of the level's dips beside the tonal change's in that estimator
# Where the tonal estimator sets the tempo, the beat phase is measured on the same two signals. They
# peak this long after a note change (measured on the evaluation set's strings, choir and pads).
TONAL_LATENCY_S = 0.09
DIP_LATENCY_S = 0.18
# (Not 3/2: 180 -> 120 BPM is far more often a tempo change than a new metrical level.)
_METRICAL_RATIOS = (2.0, 0.5, 3.0, 1.0 / 3.0)
PHASE_GAIN = 0.5          # share of the measured phase error corrected at each update
PHASE_STEP_MAX = 0.08     # largest phase correction per update, in beats
DETREND_S = 0.4           # the onset strength less its moving average over this long feeds the tempo
WARMUP_S = 3.0            # onset history needed before the first tempo estimate
ACCENT_SMOOTHING = 0.25   # weight of the newest bar in each beat position's running accent
METERS = (3, 4)
METER_CONTRAST = 0.15     # how much the first beat must stand out for the meter to count as clear


REFERENCE_HOP_S = 256 / 22050  # the hop the analyzer's time constants were tuned at (11.6 ms)
UPDATE_S = 32 * REFERENCE_HOP_S  # seconds between tempo re-estimates (the phase is corrected twice as often)
SMOOTH_S = 5 * REFERENCE_HOP_S   # span of the Hann smoothing of the onset strength
ACCENT_WINDOW_S = 3 * REFERENCE_HOP_S  # a beat's accent is the strongest low onset this close to it


def smoothing_kernel(hop_s: float) -> np.ndarray:
    """Hann weights spanning ``SMOOTH_S`` at this hop, summing to 1."""
    taps = max(1, round(SMOOTH_S / hop_s))
    window = np.hanning(taps + 2)[1:-1]
    return window / window.sum()


@functools.lru_cache(maxsize=16)
def _window_bounds(n: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each value's centred window of ``width`` among ``n``, and its length."""
    half = width // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) - half + width, 0, n)
    return lo, hi, (hi - lo).astype(np.float64)


def detrend(x: np.ndarray, width: int) -> np.ndarray:
    """``x`` less its centred moving average over ``width`` values, negative parts set to 0."""
    if width <= 1 or len(x) < width:
        return x
    c = np.concatenate([[0.0], np.cumsum(x)])
    lo, hi, length = _window_bounds(len(x), width)
    return np.maximum(x - (c[hi] - c[lo]) / length, 0.0)


# A beat that nothing subdivides (the onsets' averaged autocorrelation at half its period below
# _UNDIVIDED) and whose beats alternate strong and weak (over the last _PARITY_BEATS beats, by more
# than _PARITY_CONTRAST) for _UNDIVIDED_UPDATES updates in a row is the eighth-note layer of a slower
# beat: rock at 84-96 BPM, heard at twice its tempo otherwise. (Fast drums are subdivided by their
# hats; clicks do not alternate; measured on the evaluation sets, version 4.)
_UNDIVIDED = -0.08
_PARITY_CONTRAST = 0.12
_PARITY_BEATS = 16
_UNDIVIDED_UPDATES = 6
# A half-time groove (a ride on every beat at 70 BPM, a snare on 3) read at 140: nothing but a kick now
# and then on the off-beats, so its half-period autocorrelation is only weakly negative (-0.065), but
# its beats alternate by 0.65-0.68 throughout. A beat with a half-period autocorrelation below
# _WEAKLY_UNDIVIDED alternating by more than _STRONG_PARITY_CONTRAST for _ALTERNATING_UPDATES updates in
# a row (4.4 s) is halved too. (A harpsichord at 132 BPM, right, alternates so for at most 7 updates in
# its half-note stretches; slow rock read double alternates by 0.16-0.42. Sets of version 4 and styles.)
_WEAKLY_UNDIVIDED = -0.04
_STRONG_PARITY_CONTRAST = 0.55
_ALTERNATING_UPDATES = 12
_STEP_KERNEL = np.array([0.25, 0.5, 0.25])   # light smoothing of the note-change signals for the phase
# The onsets' phase also hears the low-frequency accents (kick drums, bass notes): in disco and house
# the open hi-hat on every off-beat is the loudest onset, and the full-band comb alone locks onto it.
# Their standardised comb score counts this much beside the full band's. The low comb reads the last
# _LOW_PHASE_BEATS beats with equal weight (whole bars of 3 and of 4): over fewer, a kick on the "and"
# of 3 (rock) would pull the phase once a bar. (Chosen on the "styles" evaluation set.)
_LOW_PHASE_WEIGHT = 0.3
_LOW_PHASE_BEATS = 12
_RECENCY = 0.8 ** np.arange(6)   # weights of the last six beats in the phase comb, newest first


def _at_ratio(ratio: float, ratios: tuple[float, ...]) -> bool:
    """Whether a ratio of two tempi is one of ``ratios``, within 4 %."""
    return any(abs(ratio - r) <= 0.04 * r for r in ratios)


def _recency_comb(grid: np.ndarray) -> np.ndarray:
    """A beat grid [..., phase, beat] summed over its last six beats, recent ones weighing more."""
    beats = min(len(_RECENCY), grid.shape[-1])
    return grid[..., :beats] @ _RECENCY[:beats]


def _interp(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``values`` at fractional indices (0 beyond the end)."""
    i = np.floor(positions).astype(np.int64)
    frac = positions - i
    ok = i + 1 < len(values)
    i = np.where(ok, i, 0)
    return np.where(ok, values[i] * (1.0 - frac) + values[i + 1] * frac, 0.0)


def _spread(x: np.ndarray) -> float:
    """The standard deviation of a short vector (np.std's own bookkeeping costs more than the sum)."""
    d = x - x.sum() / len(x)
    return math.sqrt(float(d @ d) / len(x))


class History:
    """The last ``size`` values of a stream (or of ``rows`` streams sampled alike: [rows, size]), oldest
    first. It grows a block at a time and is read as it stood after any row of the newest block,
    without copying."""

    def __init__(self, size: int, rows: int | None = None) -> None:
        self._size = size
        self._values = np.zeros(0 if rows is None else (rows, 0))
        self._before = 0      # values in ``_values`` from earlier blocks
        self._pushed = 0      # values pushed before the newest block

    def extend(self, values: np.ndarray) -> None:
        """Append the next block of values ([hops], or [rows, hops])."""
        held = self._values.shape[-1]
        self._pushed += held - self._before
        kept = self._values[..., max(0, held - self._size):]
        self._values = np.concatenate([kept, np.asarray(values, np.float64)], axis=-1)
        self._before = kept.shape[-1]

    def filled(self, k: int) -> int:
        """How many values there are once the first ``k`` of the newest block are in (at most ``size``)."""
        return min(self._size, self._pushed + k)

    def upto(self, k: int) -> np.ndarray:
        """The last ``filled(k)`` values once the first ``k`` of the newest block are in (a view)."""
        end = self._before + k
        return self._values[..., max(0, end - self._size):end]


class TempoEstimator:
    """Tempo (BPM) and confidence (0..1) from the onset-strength history.

    Parameters
    ----------
    hop_s : float
        Seconds between onset-strength values.
    preferred_bpm : float
        Centre of the log-normal preference among metrical levels.
    """

    def __init__(self, hop_s: float, preferred_bpm: float = PREFERRED_BPM) -> None:
        self.hop_s = hop_s
        self._kernel = smoothing_kernel(hop_s)
        self.bpm_grid = np.arange(MIN_BPM, MAX_BPM + 1e-9, 0.25)
        lags = 60.0 / (self.bpm_grid * hop_s)                                  # [C] hops per beat
        comb = lags[None, :] * np.arange(1, HARMONICS + 1)[:, None]          # [H, C] lags read by the comb
        self._comb_index = np.floor(comb).astype(np.int64)
        self._comb_frac = comb - self._comb_index
        octaves = np.log2(self.bpm_grid / preferred_bpm)
        self._prior = np.exp(-0.5 * (octaves / PRIOR_OCTAVES) ** 2)
        n = int(round(HISTORY_S / hop_s))
        self._detrend_hops = max(1, int(round(DETREND_S / hop_s)))
        self._n_fft = 1 << (2 * n - 1).bit_length()
        age = np.arange(n)[::-1] * hop_s
        self._recency = np.exp(-age / RECENCY_S)
        self.bpm = 0.0
        self.confidence = 0.0
        self._comb_avg: np.ndarray | None = None
        self.acf_avg: np.ndarray | None = None   # running average of the normalised autocorrelation [lags]
        self._comb_slow: np.ndarray | None = None
        self._overlap_gain: np.ndarray | None = None
        self._reader: tuple | None = None
        self._challenger = 0.0
        self._wins = 0

    def score(self, bpm: float) -> float:
        """The current (averaged, preference-weighted) comb score of a tempo."""
        if self._comb_avg is None:
            return 0.0
        i = int(np.argmin(np.abs(self.bpm_grid - bpm)))
        return float(max(self._comb_avg[i], 0.0) * self._prior[i])

    def halve(self) -> bool:
        """Take half the current tempo, unless the comb would switch straight back (returns whether it did)."""
        if self.score(self.bpm / 2.0) * OCTAVE_MARGIN <= self.score(self.bpm):
            return False
        self.bpm /= 2.0
        self._wins = 0
        return True

    def _comb_reader(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """How the comb reads an autocorrelation of ``n`` lags: indices [H, C], interpolation
        weights [H, C] (0 for multiples beyond it) and how many multiples fit [C]."""
        if self._reader is None or self._reader[0] != n:
            i, frac = self._comb_index, self._comb_frac
            # Only the multiples that fit in the history count (early on, slow tempi have fewer).
            valid = i + 1 < n
            self._reader = (n, np.where(valid, i, 0), np.where(valid, 1.0 - frac, 0.0), np.where(valid, frac, 0.0),
                            np.maximum(valid.sum(0), 1))
        return self._reader[1:]

    def _autocorrelation(self, x: np.ndarray) -> np.ndarray:
        spectrum = np.fft.rfft(x, self._n_fft)
        return np.fft.irfft(spectrum * np.conj(spectrum), self._n_fft)[: len(x)]

    def update(self, history: np.ndarray, signal_weights: tuple[float, ...] = (1.0,)) -> None:
        """Re-estimate from ``history`` (oldest first, one value per hop): onset strength [n], or
        several signals of the same events [n, k], whose periodicities are averaged with
        ``signal_weights`` [k]."""
        columns = history.reshape(len(history), -1).T
        weights = self._recency[-len(history):]
        # Divide by the weights' own autocorrelation: long lags overlap less of the (weighted)
        # history, and would otherwise be favoured less, pushing toward faster tempi.
        if self._overlap_gain is None or len(self._overlap_gain) != len(weights):
            overlap = self._autocorrelation(weights)   # constant once the history is full
            self._overlap_gain = overlap[0] / np.maximum(overlap, 0.25 * overlap[0])
        acfs, total = [], 0.0
        for column, weight in zip(columns, signal_weights):
            # Onset strength is spiky and hits land on whole hops: smoothing it over a few hops keeps
            # the autocorrelation from missing a period that is not a whole number of hops.
            column = detrend(np.convolve(column, self._kernel, mode="same"), self._detrend_hops)
            acf = self._autocorrelation((column - column.mean()) * weights)
            if acf[0] > 1e-12:
                acfs.append(acf * (self._overlap_gain / acf[0]) * weight)
                total += weight
        if not acfs:
            self.confidence = 0.0
            return
        acf = acfs[0] / total if len(acfs) == 1 else sum(acfs) / total
        index, w0, w1, count = self._comb_reader(len(acf))
        comb = (acf[index] * w0 + acf[index + 1] * w1).sum(0) / count      # [C]
        # One update's autocorrelation is noisy; the comb is averaged over the last few seconds.
        # The confidence comes from a slower average: in noise the best tempo wanders, so its slow average
        # stays low (white, pink and brown noise under 0.08), while a steady beat's keeps its height.
        self._comb_avg = comb if self._comb_avg is None else self._comb_avg + SMOOTHING * (comb - self._comb_avg)
        same = self.acf_avg is not None and len(self.acf_avg) == len(acf)
        self.acf_avg = acf if not same else self.acf_avg + SMOOTHING * (acf - self.acf_avg)
        self._comb_slow = (comb if self._comb_slow is None
                           else self._comb_slow + CONFIDENCE_SMOOTHING * (comb - self._comb_slow))
        comb = self._comb_avg
        score = np.maximum(comb, 0.0) * self._prior
        best = int(np.argmax(score))
        if 0 < best < len(score) - 1:  # parabolic refinement between grid points
            a, b, c = score[best - 1 : best + 2]
            shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) < 0 else 0.0
        else:
            shift = 0.0
        bpm = float(self.bpm_grid[best] + 0.25 * shift)
        self.confidence = float(max(0.0, self._comb_slow[best]))
        if self.bpm == 0.0 or abs(bpm - self.bpm) <= 0.04 * self.bpm:
            self.bpm = bpm if self.bpm == 0.0 else 0.7 * self.bpm + 0.3 * bpm
            self._wins = 0
            return
        # A different tempo must win several updates in a row (same candidate within 4 %); one at
        # another metrical level of the current tempo (twice, half, ...) must win for longer and
        # by a margin, or the beat would flip between levels whenever the rhythm gets sparse.
        if self._wins and abs(bpm - self._challenger) <= 0.04 * self._challenger:
            self._wins += 1
        else:
            self._challenger, self._wins = bpm, 1
        current = self.score(self.bpm)
        ratio = bpm / self.bpm
        related = _at_ratio(ratio, _METRICAL_RATIOS)
        # (A tempo held without confidence is no metrical level worth keeping.)
        guarded = related and self.confidence >= CONFIDENCE_MIN
        needed, margin = (OCTAVE_SWITCH_UPDATES, OCTAVE_MARGIN) if guarded else (SWITCH_UPDATES, 1.0)
        if self._wins >= needed and score[best] >= margin * current:
            self.bpm, self._wins = bpm, 0


@dataclass(slots=True)
class BeatBlock:
    """What the tracker knows after each hop of a block: arrays [hops]."""

    beat: np.ndarray         # confidence on a hop where a beat falls, else 0
    beat_time_s: np.ndarray  # exact time of that beat (NaN on other hops)
    phase: np.ndarray        # 0..1 within the current beat
    bar: np.ndarray          # 1 on the hop of a bar's first beat
    bar_index: np.ndarray    # int: bars since the meter became clear, -1 while unclear
    bpm: np.ndarray          # 0 while unknown
    confidence: np.ndarray


class BeatTracker:
    """Streaming tempo, beat phase, beat events and bars; call ``process`` with each block of hops.

    Parameters
    ----------
    hop_s : float
        Seconds per hop.
    latency_s : float
        How late onset strength peaks after the sound that causes it (the onset window's
        delay); beats are predicted this much earlier so that they land on the sound.
    tonal_step_s : float
        Seconds between tonal-change values (see ``process``); 0 when there are none.
    """

    def __init__(self, hop_s: float, *, latency_s: float = 0.0, tonal_step_s: float = 0.0) -> None:
        self.hop_s = hop_s
        self.tempo = TempoEstimator(hop_s)
        # A second estimator hears the note changes alone; it speaks when the onsets hold no beat.
        self.tonal_tempo = TempoEstimator(tonal_step_s, TONAL_PREFERRED_BPM) if tonal_step_s > 0 else None
        # The note changes: tonal change and the level's dips, one value each per tonal step.
        self._notes = History(int(round(HISTORY_S / tonal_step_s)) if tonal_step_s > 0 else 1, rows=2)
        self._tonal_step_s = tonal_step_s
        n = int(round(HISTORY_S / hop_s))
        self._onsets = History(n, rows=2)   # onset strength and its low-frequency part
        self._count = 0
        self._update_every = max(2, round(UPDATE_S / hop_s))
        self._phase_every = self._update_every // 2
        self._accent_hops = max(1, round(ACCENT_WINDOW_S / hop_s))
        self._kernel = smoothing_kernel(hop_s)
        self._latency_hops = latency_s / hop_s
        self.phase = 0.0
        self._since_beat = 1e9            # hops since the last beat event
        self._beat_number = 0
        self._accents = {m: np.zeros(m) for m in METERS}
        self.bar_index = -1
        self._quiet_hops = 0
        self._tonal_count = 0             # the hop of the newest tonal value
        self._undivided = 0               # updates in a row with an undivided, alternating beat
        self._alternating = 0             # and with a weakly undivided, strongly alternating one
        self._grid_index: dict[tuple, tuple] = {}   # _beat_grid's read positions, by their parameters

    def _tempo(self) -> tuple[float, float, bool]:
        """(bpm, confidence, whether it is the tonal estimator's): the onsets' tempo, or the tonal one
        where the onsets hold no beat, where it is at least twice as sure, or where it is an octave
        of the onsets' and the surer one."""
        bpm, confidence = self.tempo.bpm, self.tempo.confidence
        tonal = self.tonal_tempo
        # (Above TONAL_LISTEN the tonal estimator rests, and its reading is stale.)
        if tonal is None or tonal.bpm <= 0 or confidence >= TONAL_LISTEN:
            return bpm, confidence, False
        # (Where the two are an octave apart and the onsets' beat is weak, the onsets hear the passing
        # notes between the harmony's changes: the tonal reading is taken once it is the surer one.
        # A clearer onset beat decides for itself: drums over a slower harmony stay at their tempo.)
        octave = bpm > 0 and _at_ratio(tonal.bpm / bpm, (2.0, 0.5))
        if ((confidence < CONFIDENCE_MIN and tonal.confidence > confidence) or tonal.confidence > 2.0 * confidence
                or (octave and confidence < OCTAVE_LISTEN and tonal.confidence > confidence)):
            return tonal.bpm, tonal.confidence, True
        return bpm, confidence, False

    def _undivided_alternation(self, history: np.ndarray) -> bool:
        """Whether the onsets' tempo has held a beat that nothing subdivides and whose beats alternate
        strong and weak (the hits of a slower beat with a weak layer between them): for a few updates,
        or, where the beat is less clearly undivided, alternating more strongly for longer."""
        e = self.tempo
        if e.bpm <= 0 or e.bpm / 2 < MIN_BPM or e.acf_avg is None or e.confidence < CONFIDENCE_MIN:
            self._undivided = self._alternating = 0
            return False
        period = 60.0 / (e.bpm * self.hop_s)
        half = float(_interp(e.acf_avg, np.array([period / 2]))[0])
        if half >= _WEAKLY_UNDIVIDED:
            self._undivided = self._alternating = 0
            return False
        grid = self._beat_grid(history, period, self._kernel, _PARITY_BEATS)   # [phase, beat]
        if grid is None or grid.shape[1] < 8:
            return False
        beats = grid[int(np.argmax(grid.sum(1)))]
        even, odd = beats[0::2].mean(), beats[1::2].mean()
        contrast = abs(even - odd) / max(even + odd, 1e-9)
        self._undivided = self._undivided + 1 if contrast > _PARITY_CONTRAST and half < _UNDIVIDED else 0
        self._alternating = self._alternating + 1 if contrast > _STRONG_PARITY_CONTRAST else 0
        if self._undivided >= _UNDIVIDED_UPDATES or self._alternating >= _ALTERNATING_UPDATES:
            self._undivided = self._alternating = 0
            return True
        return False

    def _beat_grid(self, history: np.ndarray, period: float, kernel: np.ndarray, beats: int, *, step: float = 1.0,
                   newest_ago: float = 0.0, latency: float = 0.0) -> np.ndarray | None:
        """``history`` ([n], or [rows, n] of streams sampled alike) smoothed with ``kernel`` and read at the
        last ``beats`` beat positions (at most as many as it holds) for each candidate number of hops since
        the last beat (0 .. ceil(period) - 1): [phase, beat] (or [rows, phase, beat]), or None while it
        holds fewer than two beats.

        ``history`` holds one value every ``step`` hops, the newest ``newest_ago`` hops ago; a sound
        shows in it ``latency`` hops late. ``period`` is in hops."""
        n = history.shape[-1]
        if n * step < 2 * period + 2:
            return None
        key = (n, period, beats, step, newest_ago, latency, len(kernel))
        if key not in self._grid_index:
            if len(self._grid_index) >= 8:
                self._grid_index.clear()
            k = np.arange(min(beats, int((n * step - 2) // period)))
            offsets = np.arange(int(math.ceil(period)))                      # hops since the beat
            # [phi, k]: hops before the newest value
            ago = offsets[:, None] + k[None, :] * period - latency - newest_ago
            idx = np.clip(n - 1 - ago / step, 0, n - 1.001)
            # Only the tail that is read is smoothed (np.convolve's "same" output there does not change).
            start = max(0, int(idx.min()) - len(kernel) // 2 - 1)
            i = (idx - start).astype(np.int64)   # (>= 0: the floor)
            frac = idx - start - i
            self._grid_index[key] = start, i, frac, 1.0 - frac
        start, i, frac, rest = self._grid_index[key]
        if history.ndim == 1:
            smooth = np.convolve(history[start:], kernel, mode="same")
        else:
            smooth = np.stack([np.convolve(row[start:], kernel, mode="same") for row in history])
        return smooth[..., i] * rest + smooth[..., i + 1] * frac

    def _phase_score(self, history: np.ndarray, period: float, kernel: np.ndarray, *, step: float = 1.0,
                     newest_ago: float = 0.0, latency: float = 0.0) -> np.ndarray | None:
        """How much of ``history`` lies on a comb of the last six beats (recent ones weigh more) for each
        candidate number of hops since the last beat, or None while it is too short (see ``_beat_grid``)."""
        grid = self._beat_grid(history, period, kernel, 6, step=step, newest_ago=newest_ago, latency=latency)
        return None if grid is None else _recency_comb(grid)

    def _measure_phase(self, period: float, i: int, tonal_seen: int, newest_tonal_ago: float,
                       from_tonal: bool) -> float | None:
        """Beats since the last beat position (0..1) that best explains the recent onsets (or, where the
        tempo comes from the tonal estimator, the recent note changes), as of hop ``i`` of the block."""
        if from_tonal:
            # The tonal change and the level's dips mark the note changes, each with its own delay;
            # their standardised scores count equally (as below, only the spreads matter).
            step = self._tonal_step_s / self.hop_s
            score = 0.0
            for history, latency_s in zip(self._notes.upto(tonal_seen), (TONAL_LATENCY_S, DIP_LATENCY_S)):
                part = self._phase_score(history, period, _STEP_KERNEL, step=step,
                                         newest_ago=newest_tonal_ago, latency=latency_s / self.hop_s)
                if part is None:
                    return None
                score = score + part / (_spread(part) + 1e-12)
        else:
            grid = self._beat_grid(self._onsets.upto(i + 1), period, self._kernel, max(6, _LOW_PHASE_BEATS),
                                   latency=self._latency_hops)   # [strength, low; phase, beat]
            if grid is None:
                return None
            score = _recency_comb(grid[0])   # as _phase_score
            low = grid[1].sum(1)
            # (Each standardised; their means shift every offset alike, so only the spreads are taken.)
            score = score / (_spread(score) + 1e-12) + _LOW_PHASE_WEIGHT * low / (_spread(low) + 1e-12)
        # A light smoothing over neighbouring offsets keeps single-hop spikes from steering it.
        score = np.convolve(np.concatenate([score[-1:], score, score[:1]]), [0.25, 0.5, 0.25], "valid")
        return float(np.argmax(score) / period)

    def process(self, strength: np.ndarray, low: np.ndarray, audible: np.ndarray, time_s: np.ndarray,
                tonal: np.ndarray, dip_db: np.ndarray) -> BeatBlock:
        """Advance over a block of hops (arrays [hops]). ``strength``: onset strength; ``low``: its
        low-frequency part; ``audible``: whether there is sound at all; ``time_s``: each hop's time;
        ``tonal``: the tonal change on hops that end one of its steps (``tonal_step_s`` apart), else NaN;
        ``dip_db``: how far each hop's level is below its running peak (dB, 0 in silence).
        Each hop sees only the values up to itself: any cut of a stream into blocks gives the same result."""
        hops = len(strength)
        self._onsets.extend(np.stack([strength, low]))
        tonal = np.asarray(tonal, np.float64)
        has_tonal = ~np.isnan(tonal)
        self._notes.extend(np.stack([tonal[has_tonal], np.asarray(dip_db, np.float64)[has_tonal]]))
        tonal_seen = np.cumsum(has_tonal).tolist()   # tonal values in by each hop
        beat, beat_time, phase, bar = [0.0] * hops, [math.nan] * hops, [0.0] * hops, [0.0] * hops
        bar_index, bpm_out, confidence_out = [-1] * hops, [0.0] * hops, [0.0] * hops
        bpm, confidence, from_tonal = self._tempo()
        period = 60.0 / (bpm * self.hop_s) if bpm > 0 else 0.0
        has_tonal_list = has_tonal.tolist()
        for i, (is_audible, t) in enumerate(zip(np.asarray(audible, bool).tolist(), np.asarray(time_s).tolist())):
            self._count += 1
            count = self._count
            self._quiet_hops = 0 if is_audible else self._quiet_hops + 1
            if has_tonal_list[i]:
                self._tonal_count = count
            if count % self._update_every == 0 and self._onsets.filled(i + 1) * self.hop_s >= WARMUP_S:
                recent = self._onsets.upto(i + 1)[0]
                self.tempo.update(recent)
                if self._undivided_alternation(recent):
                    self.tempo.halve()   # (unless the comb would switch straight back)
                # The tonal estimator is only consulted while the onsets' periodicity is weak; it rests
                # (and costs nothing) while they hold a clear beat.
                if (self.tonal_tempo is not None and self.tempo.confidence < TONAL_LISTEN
                        and self._notes.filled(tonal_seen[i]) * self._tonal_step_s >= WARMUP_S):
                    self.tonal_tempo.update(self._notes.upto(tonal_seen[i]).T, (1.0, DIP_WEIGHT))
                bpm, confidence, from_tonal = self._tempo()
                period = 60.0 / (bpm * self.hop_s) if bpm > 0 else 0.0
            self._since_beat += 1
            if bpm <= 0:
                continue
            locked = confidence >= CONFIDENCE_MIN and self._quiet_hops * self.hop_s < 1.0
            self.phase += 1.0 / period
            if count % self._phase_every == 0:
                measured = self._measure_phase(period, i, tonal_seen[i], count - self._tonal_count, from_tonal)
                if measured is not None:
                    error = (measured - self.phase + 0.5) % 1.0 - 0.5
                    self.phase += float(np.clip(PHASE_GAIN * error, -PHASE_STEP_MAX, PHASE_STEP_MAX))
            if self.phase >= 1.0:
                self.phase -= 1.0
                # (Less than 0.6 beats after the last one, the phase slipped back over a beat it counted.)
                if locked and self._since_beat >= 0.6 * period:
                    beat[i] = max(confidence, 1e-3)
                    beat_time[i] = t - self.phase * period * self.hop_s
                    bar[i] = self._on_beat(self._onsets.upto(i + 1)[1], hops_since_last=self._since_beat)
                    self._since_beat = 0
            elif self.phase < 0.0:
                self.phase += 1.0
            if not locked:
                self.bar_index = -1
            phase[i], bar_index[i] = self.phase, self.bar_index
            bpm_out[i], confidence_out[i] = bpm, min(1.0, confidence)
        return BeatBlock(np.array(beat), np.array(beat_time), np.array(phase), np.array(bar),
                         np.array(bar_index, np.int32), np.array(bpm_out), np.array(confidence_out))

    def _on_beat(self, low: np.ndarray, hops_since_last: int) -> float:
        """Book-keeping at a beat event (``low``: the low-frequency onset strength so far); returns
        1.0 when it starts a bar."""
        self._beat_number += 1
        if self._beat_number >= 2:
            # The previous beat's accent: the strongest low-frequency (kick, bass) onset close to it.
            ago, near = hops_since_last, self._accent_hops
            lo, hi = len(low) - 1 - ago - near, len(low) - 1 - ago + near + 1
            accent = float(low[max(0, lo):max(0, hi)].max()) if hi > 0 else 0.0
            number = self._beat_number - 1
            for m, acc in self._accents.items():
                acc[number % m] += (accent - acc[number % m]) * ACCENT_SMOOTHING  # per position, over bars
        best_meter, best_contrast, best_pos = 0, 0.0, 0
        for m, acc in self._accents.items():
            total = acc.sum()
            if total <= 1e-9:
                continue
            pos = int(np.argmax(acc))
            others = np.delete(acc, pos)
            contrast = float((acc[pos] - others.max()) / total) * m  # 0 when two positions tie
            if contrast > best_contrast:
                best_meter, best_contrast, best_pos = m, contrast, pos
        if best_contrast < METER_CONTRAST:
            self.bar_index = -1
            return 0.0
        if self._beat_number % best_meter == best_pos:
            self.bar_index += 1
            return 1.0
        return 0.0
