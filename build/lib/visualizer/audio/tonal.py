"""Tonal change at fine frequency resolution: how much new pitch content appears, step by step.

Strings, pads, choir and organ start their notes without a percussive attack, so the onset
function barely moves when the harmony changes. Each new note still adds partials that were
not sounding before. On a spectrum with ~5 Hz bins (a 186 ms window) those partials stand
apart from the old ones, and the rise of log power over ~46 ms marks the note changes.
Coarser bins (the analyzer's own 21.5 Hz) blur old and new partials together.

Only the band below ``BAND_HZ`` is analysed (where most voices' and instruments' fundamentals
lie), on the signal averaged down to about 2.8 kHz, and one value is made every ``STEP_S``:
about half a millisecond of compute per second of audio.
"""

from __future__ import annotations

import math

import numpy as np

from visualizer.audio.beats import REFERENCE_HOP_S
from visualizer.audio.onsets import RunningPeak, decaying_max

BAND_HZ = 1200.0          # upper edge of the analysed band (fundamentals of most voices and instruments)
LOW_HZ = 50.0             # lower edge (below, bins hold rumble more than notes)
TARGET_RATE = 2500.0      # decimate to the lowest rate of at least this (22.05 kHz -> 2.76 kHz)
WINDOW_S = 0.17           # window length, rounded up to a power of two in samples (512 at 2.76 kHz)
STEP_S = 2 * REFERENCE_HOP_S  # seconds between values (23 ms)
LAG_S = 4 * REFERENCE_HOP_S   # each spectrum is compared with the one this long before (46 ms)
GAIN = 1e6                # log compression: power relative to the running peak, a 60 dB floor


class TonalChange:
    """Streaming fine-resolution tonal change, one value every ``hops_per_step`` analyzer hops.

    Parameters
    ----------
    sample_rate : int
        Input sample rate in Hz.
    hop_length : int
        The analyzer's hop in samples; values come on hops whose end is a step's end.
    fall : float
        Per-hop decay of the running peak level the log power is taken against (the onset picker's).
    """

    def __init__(self, sample_rate: int, hop_length: int, fall: float) -> None:
        hop_s = hop_length / sample_rate
        self.hops_per_step = max(1, round(STEP_S / hop_s))
        self.step_s = self.hops_per_step * hop_s
        self._lag = max(1, round(LAG_S / self.step_s))
        self._decimation = max(1, int(sample_rate // TARGET_RATE))
        rate = sample_rate / self._decimation
        self._n_fft = 1 << math.ceil(math.log2(WINDOW_S * rate))
        self._window = np.hanning(self._n_fft + 1)[:-1]
        self._offsets = np.arange(-self._n_fft, 0)
        freqs = np.fft.rfftfreq(self._n_fft, 1.0 / rate)
        self._bins = slice(int(np.searchsorted(freqs, LOW_HZ)), int(np.searchsorted(freqs, min(BAND_HZ, 0.45 * rate))))
        self._carry = np.zeros(0)                       # input samples not yet averaged into a decimated one
        self._average = np.full(self._decimation, 1.0 / self._decimation)
        self._hop = hop_length
        self._seen = 0                                  # input samples so far
        self._rows = 0                                  # analyzer hops so far
        self._decimated = np.zeros(self._n_fft)         # the newest n_fft decimated samples
        n_bins = self._bins.stop - self._bins.start
        self._previous = np.full((self._lag, n_bins), np.log(np.float32(1.0 / GAIN)))  # last ``lag`` log spectra
        self._log_fall = -self.hops_per_step * math.log(fall)   # per step, in nepers
        self._log_power_peak = math.log(1e-12)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Take the samples of the next whole hops (float [k * hop_length]); returns float64 [k]:
        the tonal change on hops that end a step, NaN on the others. It is the mean rise of log
        power per bin (in nepers) against ``LAG_S`` before."""
        x = np.asarray(samples, np.float64)
        hops = len(x) // self._hop
        d = self._decimation
        # Decimated sample j is the mean of input samples j * d .. j * d + d - 1: a cheap, weak
        # anti-alias filter. Partials folded into the band still come and go with their notes,
        # which is all the rise measures.
        joined = np.concatenate([self._carry, x])
        whole = len(joined) // d * d
        new = joined[:whole].reshape(-1, d) @ self._average
        self._carry = joined[whole:]
        buffer = np.concatenate([self._decimated, new])
        out = np.full(hops, np.nan)
        rows = self._rows + 1 + np.arange(hops)     # 1-based hop numbers: hop r ends at input sample r * hop
        ends = np.flatnonzero(rows % self.hops_per_step == 0)
        if len(ends):
            # Decimated samples complete by the end of hop r: floor(r * hop / d); ``buffer`` ends at
            # floor((seen + len(x)) / d).
            total = (self._seen + len(x)) // d
            stop = (rows[ends] * self._hop) // d - (total - len(buffer))
            frames = buffer[stop[:, None] + self._offsets] * self._window   # [steps, n_fft]
            spectrum = np.fft.rfft(frames, axis=1)[:, self._bins]
            power = spectrum.real ** 2 + spectrum.imag ** 2
            # The running peak of the loudest bin (never below 1e-12), in nepers.
            log_peak = decaying_max(np.log(np.maximum(power.max(1), 1e-12)), self._log_power_peak, self._log_fall)
            self._log_power_peak = float(log_peak[-1])
            peak = np.exp(log_peak)
            # log(p / peak + 1 / GAIN): log1p(GAIN * p / peak) less a constant, which the rise
            # (a difference) does not see; float32 logs are several times faster.
            logs = np.log((power / peak[:, None]).astype(np.float32) + np.float32(1.0 / GAIN))
            history = np.vstack([self._previous, logs])
            # (Its scale is free: the tempo estimator reads only its periodicity.)
            out[ends] = np.maximum(history[self._lag:] - history[: -self._lag], 0.0).mean(1)
            self._previous = history[-self._lag:]
        self._decimated = buffer[-self._n_fft:].copy()
        self._seen += len(x)
        self._rows += hops
        return out


ONSET_DELAY_S = 0.1       # a note change without an attack peaks in the tonal change about this late
ONSET_SPREAD_K = 3.0      # a peak stands this many median absolute deviations above the last second's median
ONSET_RATIO = 1.5         # and this many times the median (noise has a high, steady median)
ONSET_GAP_S = 0.1         # and comes at least this long after the last onset
STATS_S = 1.0             # span of that median
STATS_EVERY = 4           # steps between updates of the median and spread


class TonalOnsets:
    """Causal peak picking on the tonal change: note changes that have no attack (organ, strings).

    A value is a peak when it stands above the last second's median by ``ONSET_SPREAD_K``
    spreads and by ``ONSET_RATIO`` times, and the values on both sides of it are lower; it is
    confirmed one step later. Its time is the step's end less ``ONSET_DELAY_S``.

    Parameters
    ----------
    step_s : float
        Seconds between tonal-change values.
    """

    def __init__(self, step_s: float) -> None:
        self._n = max(4, round(STATS_S / step_s))
        self._recent = np.zeros(self._n)
        self._count = 0
        self._threshold = math.inf
        self._before = self._candidate = 0.0
        self._candidate_s = -math.inf
        self._peak = RunningPeak(0.5 ** (step_s / STATS_S), floor=1e-9)   # of the values; halves every second

    def step(self, value: float, time_s: float, last_onset_s: float) -> tuple[float, float] | None:
        """Take the value of the step ending at ``time_s``; returns (onset time s, strength 0..1)
        when the previous value was a peak at least ``ONSET_GAP_S`` after ``last_onset_s``."""
        found = None
        candidate = self._candidate
        peak = self._peak(candidate)
        onset_s = self._candidate_s - ONSET_DELAY_S
        if (candidate > self._threshold and candidate >= self._before and candidate >= value
                and onset_s - last_onset_s >= ONSET_GAP_S):
            found = (onset_s, min(1.0, candidate / peak))
        self._recent[self._count % self._n] = value
        self._count += 1
        if self._count % STATS_EVERY == 0 and self._count >= self._n // 2:
            past = self._recent[: min(self._count, self._n)]
            middle = len(past) // 2                  # (np.partition: np.median costs 20x more on so few values)
            median = float(np.partition(past, middle)[middle])
            spread = float(np.partition(np.abs(past - median), middle)[middle])
            self._threshold = max(median + ONSET_SPREAD_K * spread, ONSET_RATIO * median)
        self._before, self._candidate, self._candidate_s = candidate, value, time_s
        return found
