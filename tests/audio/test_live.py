"""The live input's clock: ring index -> when that sample was captured."""

import numpy as np

from visualizer.audio.live import BlockClock

RATE, BLOCK = 48000, 256


def feed(clock, origin, jitter, start=0, rate=RATE):
    """Blocks whose timestamps are late by ``jitter`` seconds each; returns the clock's error at
    each block's end against the true capture time (seconds)."""
    errors = []
    for i, late in enumerate(jitter):
        first = start + i * BLOCK
        clock.update(first, origin + first / rate + late)
        end = first + BLOCK
        errors.append(clock.time_of(end) - (origin + end / rate))
    return np.array(errors)


def test_callback_jitter_is_averaged_out():
    jitter = np.random.default_rng(0).uniform(0.0, 0.004, 2000)  # callbacks up to 4 ms late
    errors = feed(BlockClock(RATE), 100.0, jitter)[100:]
    raw = jitter[100:]
    assert errors.std() < 0.25 * raw.std()
    assert np.ptp(errors) < 0.002 < np.ptp(raw)
    assert abs(errors.mean() - raw.mean()) < 0.0005  # the average lateness stays, as before


def test_a_jump_or_an_overflow_restarts_the_clock():
    clock = BlockClock(RATE)
    feed(clock, 100.0, np.zeros(50))
    # Samples lost: the same index now belongs to a time 30 ms later; the next block says so at once.
    assert abs(feed(clock, 100.03, np.zeros(1), start=50 * BLOCK)[0]) < 1e-9
    # A smaller shift with an overflow reported is taken at once too.
    clock.update(51 * BLOCK, 100.035 + 51 * BLOCK / RATE, reset=True)
    assert abs(clock.time_of(52 * BLOCK) - (100.035 + 52 * BLOCK / RATE)) < 1e-9


def test_a_device_clock_that_drifts_is_followed():
    # The sound card's clock 100 ppm fast against time.monotonic(), for ten minutes.
    n = int(600 * RATE / BLOCK)
    errors = feed(BlockClock(RATE), 5.0, np.zeros(n), rate=RATE * 1.0001)
    assert np.abs(errors[-1000:]).max() < 0.0002
