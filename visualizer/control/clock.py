"""A beat clock from outside: MIDI clock (24 pulses per quarter note) or tapped tempo.

While it runs, the show's ``beat``, ``beat_phase``, ``bar`` and ``tempo`` follow it instead of
the analyzer's tracker; when the MIDI clock stops (Stop, or no pulse for ``clock_timeout_s``)
or a tapped tempo is older than ``tap_hold_s``, the tracker takes over again. Pulses arrive on
the MIDI thread and taps on the display thread; ``read`` may be called from any thread.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

PULSES_PER_BEAT = 24
BEATS_PER_BAR = 4  # MIDI clock carries no meter; DJ software and drum machines count 4/4
TAP_RESET_S = 2.0  # a pause this long between taps starts a new tempo


@dataclass(frozen=True)
class ClockReading:
    """Where the outside clock stands: ``beats`` since its start (float; its integer part counts the
    quarter notes), ``bpm``, when the current beat fell (``beat_at``, monotonic s) and who runs it."""

    beats: float
    bpm: float
    beat_at: float
    source: str  # "MIDI clock" or "tap"

    @property
    def beat_index(self) -> int:
        return int(np.floor(self.beats + 1e-9))

    @property
    def phase(self) -> float:
        return float(self.beats - self.beat_index)


class BeatClock:
    """MIDI clock messages and taps in; a ClockReading (or None: use the tracker) out."""

    def __init__(self, *, clock_timeout_s: float = 0.5, tap_hold_s: float = 30.0) -> None:
        self.clock_timeout_s, self.tap_hold_s = clock_timeout_s, tap_hold_s
        self._lock = threading.Lock()
        # Arrival times of the newest pulses: four beats, so the tempo holds steady through a few ms of jitter.
        self._pulses: deque[tuple[float, int]] = deque(maxlen=PULSES_PER_BEAT * 4 + 1)  # (arrival, count)
        self._count = -1          # pulses since Start (0 is the downbeat); -1: the next pulse is the downbeat
        self._running = True      # a clock without Start (joined while running) counts from its first pulse
        self._taps: list[float] = []
        # The line through the pulses, fitted once per change of them (the display reads every frame,
        # several times between two pulses): (the pulses it was fitted to, origin, interval).
        self._line: tuple[tuple[float, int] | None, float, float] = (None, 0.0, 0.0)

    # MIDI clock (the MIDI thread)

    def pulse(self, t: float) -> None:
        with self._lock:
            if not self._running:
                return
            # Pulses after a pause stay with those before it: a busy transport may hold a clock up for a
            # while and then deliver a burst (which the fit below sees as late), and Start clears anyway.
            self._count += 1
            self._pulses.append((t, self._count))

    def start(self) -> None:
        """MIDI Start: the next pulse is the first beat of bar 0."""
        with self._lock:
            self._running, self._count = True, -1
            self._pulses.clear()

    def proceed(self) -> None:
        """MIDI Continue: go on from where Stop left the count."""
        with self._lock:
            self._running = True

    def stop(self) -> None:
        """MIDI Stop: the tracker takes over until the clock starts again."""
        with self._lock:
            self._running = False
            self._pulses.clear()

    def song_position(self, sixteenths: int) -> None:
        """MIDI Song Position Pointer: the next pulse falls at this many sixteenth notes (6 pulses each)."""
        with self._lock:
            self._count = 6 * sixteenths - 1
            self._pulses.clear()

    # taps (the display thread)

    def tap(self, t: float) -> float | None:
        """One tap at ``t``; returns the tapped tempo in BPM once two taps make one."""
        with self._lock:
            if self._taps and t - self._taps[-1] > TAP_RESET_S:
                self._taps.clear()
            self._taps = (self._taps + [t])[-8:]
            return self._tap_bpm()

    def _tap_bpm(self) -> float | None:
        if len(self._taps) < 2:
            return None
        return 60.0 / float(np.median(np.diff(self._taps)))

    def _fit(self) -> tuple[float, float]:
        """The robust line through the pulses; first it counts in the pulses a transport lost (JACK drops the
        MIDI of a cycle its client missed): the newest pulses then all sit whole pulses above the line."""
        pulses = np.asarray(self._pulses, np.float64)
        times, counts = pulses[:, 0], pulses[:, 1]
        origin, interval = _robust_line(counts, times)
        tail = PULSES_PER_BEAT // 2
        if len(times) > 2 * tail:
            behind = (times - (origin + interval * counts)) / interval  # pulses late, each
            lost = int(np.floor(behind[-tail:].min() + 0.4))  # even the most punctual of the last ones is late
            if lost >= 1:
                start = len(behind) - tail
                while start > 0 and behind[start - 1] >= lost - 0.4:
                    start -= 1
                self._pulses = deque([(t, n + lost * (i >= start)) for i, (t, n) in enumerate(self._pulses)],
                                     maxlen=self._pulses.maxlen)
                self._count += lost
                counts = counts + lost * (np.arange(len(counts)) >= start)
                origin, interval = _robust_line(counts, times)
        return origin, interval

    def read(self, now: float) -> ClockReading | None:
        """The outside clock at ``now`` (monotonic s), or None when neither a MIDI clock nor a tapped tempo runs."""
        with self._lock:
            if self._running and len(self._pulses) >= 3 and now - self._pulses[-1][0] <= self.clock_timeout_s:
                if self._line[0] != self._pulses[-1]:
                    origin, interval = self._fit()  # may count lost pulses in, relabelling the newest
                    self._line = (self._pulses[-1], origin, interval)
                _, origin, interval = self._line
                # The fitted line, not the pulse that happened to arrive, times the beat: a pulse held up
                # a few ms (the sender, the transport, our own threads) moves neither phase nor tempo.
                pulse_now = min((now - origin) / interval, self._count + 1.0)
                beats = pulse_now / PULSES_PER_BEAT
                beat_at = origin + interval * PULSES_PER_BEAT * np.floor(beats + 1e-9)
                bpm = 60.0 / (PULSES_PER_BEAT * interval)
                if 20.0 <= bpm <= 400.0:  # else the pulses so far are a burst, not yet a tempo
                    return ClockReading(beats, bpm, float(beat_at), "MIDI clock")
            bpm = self._tap_bpm()
            if bpm is not None and now - self._taps[-1] <= self.tap_hold_s:
                period = 60.0 / bpm
                # The taps fall on beats, the newest anchoring the phase; a run of taps starts on a downbeat.
                since = (now - self._taps[-1]) / period
                return ClockReading(len(self._taps) - 1 + since, bpm, self._taps[-1] + np.floor(since) * period, "tap")
            return None


def _robust_line(counts: np.ndarray, times: np.ndarray) -> tuple[float, float]:
    """(time of pulse 0, seconds per pulse), fitted to the earliest arrivals.

    A pulse can only arrive late, never early: a transport that moves MIDI once per period, a sender or
    a receiver that stalls, then delivers a burst. So the line is fitted by least squares, then again to
    the pulses on or below it, three times over: it settles on the lower edge, where the clock itself is.
    """
    keep = np.ones(len(times), bool)
    origin, slope = float(times[0]), 0.0
    for _ in range(4):
        n, t = counts[keep], times[keep]
        if len(n) < 3 or n.max() - n.min() < PULSES_PER_BEAT // 2:
            break
        slope = float((n - n.mean()) @ (t - t.mean()) / ((n - n.mean()) @ (n - n.mean())))
        origin = float(t.mean() - slope * n.mean())
        residual = times - (origin + slope * counts)
        keep = residual <= np.median(residual[keep]) + 0.001
    if slope <= 0.0:  # too few pulses to fit: the span from first to last
        slope = (times[-1] - times[0]) / max(1.0, counts[-1] - counts[0])
        origin = float(times[-1] - slope * counts[-1])
    return origin, max(slope, 1e-4)


class ClockFollower:
    """Puts a BeatClock's beat into each display frame's Features, once per frame on the display thread."""

    def __init__(self, clock: BeatClock) -> None:
        self.clock = clock
        self.reading: ClockReading | None = None
        self._last_beat: int | None = None

    def overlay(self, features, now: float):
        """``features`` with beat, beat_phase, bar, tempo and bar_index from the outside clock while it runs
        (a beat and a bar are events of the frame in which their quarter note falls); unchanged otherwise."""
        from dataclasses import replace

        reading = self.clock.read(now)
        self.reading = reading
        if reading is None:
            self._last_beat = None
            return features
        index = reading.beat_index
        beat = index != self._last_beat and (self._last_beat is not None or reading.phase < 0.25)
        self._last_beat = index
        return replace(features, beat=1.0 if beat else 0.0, bar=1.0 if beat and index % BEATS_PER_BAR == 0 else 0.0,
                       beat_phase=reading.phase, tempo_bpm=reading.bpm, tempo_confidence=1.0,
                       bar_index=max(0, index) // BEATS_PER_BAR)
