"""The outside beat clock: MIDI clock pulses and taps -> tempo, phase and beats."""

import numpy as np
from dataclasses import replace

from visualizer.audio.features import silent_features
from visualizer.control.clock import PULSES_PER_BEAT, BeatClock, ClockFollower


def pulses(clock, bpm, beats, t0=100.0, late=None):
    """Feed ``beats`` beats of pulses at ``bpm``; ``late(i)`` adds a delay (s) to pulse i. Returns the times sent."""
    interval = 60.0 / bpm / PULSES_PER_BEAT
    sent = t0 + interval * np.arange(beats * PULSES_PER_BEAT)
    for i, t in enumerate(sent):
        clock.pulse(t + (late(i) if late else 0.0))
    return sent


def test_midi_clock_gives_tempo_and_the_quarter_notes_from_start():
    clock = BeatClock()
    clock.start()
    sent = pulses(clock, 128.0, 6)
    reading = clock.read(sent[-1] + 0.001)
    assert abs(reading.bpm - 128.0) < 0.01
    assert reading.beat_index == 5 and abs(reading.beat_at - sent[5 * PULSES_PER_BEAT]) < 1e-6
    assert reading.source == "MIDI clock"


def test_late_and_bunched_pulses_do_not_move_tempo_or_phase():
    """A transport that delivers once per 21 ms period, and a 150 ms stall with a burst after it."""
    rng = np.random.default_rng(1)
    period = 1024 / 48000

    def late(i):
        stall = 0.15 if 60 <= i < 68 else 0.0
        return stall + rng.uniform(0, period)

    clock = BeatClock()
    clock.start()
    sent = pulses(clock, 128.0, 8, late=late)
    reading = clock.read(sent[-1] + 0.005)
    assert abs(reading.bpm - 128.0) < 0.5
    assert abs(reading.beat_at - sent[7 * PULSES_PER_BEAT]) < 0.01


def test_stop_and_a_silent_clock_hand_the_beat_back_to_the_tracker():
    clock = BeatClock(clock_timeout_s=0.5)
    sent = pulses(clock, 120.0, 2)
    assert clock.read(sent[-1] + 0.1) is not None
    assert clock.read(sent[-1] + 0.6) is None  # no pulse for longer than the timeout
    clock.stop()
    pulses(clock, 120.0, 1, t0=sent[-1] + 0.7)
    assert clock.read(sent[-1] + 1.2) is None  # pulses after Stop are ignored until Start or Continue


def test_song_position_sets_the_count():
    clock = BeatClock()
    clock.start()
    clock.song_position(16)  # 16 sixteenths: bar 1, beat 0
    sent = pulses(clock, 120.0, 1)
    assert clock.read(sent[-1] + 0.001).beat_index == 4


def test_taps_set_tempo_and_phase_and_expire():
    clock = BeatClock(tap_hold_s=5.0)
    assert clock.tap(10.0) is None
    for i in range(1, 4):
        bpm = clock.tap(10.0 + 0.5 * i)
    assert abs(bpm - 120.0) < 1e-6
    reading = clock.read(11.75)
    assert reading.source == "tap" and abs(reading.phase - 0.5) < 1e-6 and reading.beat_at == 11.5
    assert clock.read(11.5 + 5.1) is None


def test_the_follower_puts_beats_bars_and_tempo_into_features():
    clock = BeatClock()
    clock.start()
    follower = ClockFollower(clock)
    base = replace(silent_features(), tempo_bpm=90.0)
    interval = 0.5 / PULSES_PER_BEAT  # 120 BPM
    beats = bars = 0
    for i in range(PULSES_PER_BEAT * 8):
        t = 50.0 + i * interval
        clock.pulse(t)
        if i >= 2:
            f = follower.overlay(base, t + 0.0001)
            beats += f.beat > 0
            bars += f.bar > 0
            assert abs(f.tempo_bpm - 120.0) < 0.5 and f.tempo_confidence == 1.0
    assert beats == 8 and bars == 2  # beat 0 (read just after it fell) to beat 7; bars start at beats 0 and 4
    assert follower.overlay(base, 1000.0).tempo_bpm == 90.0  # the clock is gone: the tracker's tempo


def test_pulses_a_transport_dropped_are_counted_in():
    """JACK loses the MIDI of a cycle its client missed: five pulses gone mid-beat must not shift the beats."""
    clock = BeatClock()
    clock.start()
    interval = 60.0 / 128 / PULSES_PER_BEAT
    sent = 100.0 + interval * np.arange(8 * PULSES_PER_BEAT)
    for i, t in enumerate(sent):
        if not 100 <= i < 105:
            clock.pulse(t)
        if i % 3 == 0:
            clock.read(t + 0.001)  # the display reads the clock every frame, a few pulses apart
    reading = clock.read(sent[-1] + 0.002)
    assert reading.beat_index == 7 and abs(reading.beat_at - sent[7 * PULSES_PER_BEAT]) < 0.002
    assert abs(reading.bpm - 128.0) < 0.1
