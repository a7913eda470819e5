"""The analysis thread on its own: samples arrive in a ring as an audio callback puts them there."""

import threading
import time

import numpy as np

from visualizer.audio.demo import click_track
from visualizer.handoff import SampleRing
from visualizer.live import FeatureFeed
from visualizer.settings import Settings


class RingSource:
    """What the feed reads from a MicInput: its ring, rate, (samples written, time heard) clock and
    the event its callback sets after each block."""

    def __init__(self, rate):
        self.sample_rate = rate
        self.ring = SampleRing(rate * 4)
        self.clock = (0, 0.0)
        self.arrived = threading.Event()

    def deliver(self, block, heard_at):
        self.ring.write(block)
        self.clock = (self.ring.written, heard_at)
        self.arrived.set()


def test_onsets_carry_the_time_the_click_was_heard():
    rate, block = 48000, 256
    clicks = np.arange(0.5, 4.0, 0.5)
    audio = click_track(clicks, duration_s=4.2, sample_rate=rate)
    source = RingSource(rate)
    feed = FeatureFeed(source, Settings())
    feed.start()
    t0 = time.monotonic()
    captures = []
    try:
        for i in range(0, len(audio), block):
            # The callback's clock: the block's newest sample was heard at t0 + its stream time.
            end = min(len(audio), i + block)
            source.deliver(audio[i:end], t0 + end / rate)
            time.sleep(block / rate / 4)  # faster than real time, but the feed still sees small blocks
            _, capture, _ = feed.take()
            if capture is not None:
                captures.append(capture - t0)
        time.sleep(0.2)
        _, capture, _ = feed.take()
        if capture is not None:
            captures.append(capture - t0)
    finally:
        feed.stop()
    heard = np.array(captures)
    assert len(heard) == len(clicks), heard
    # Each capture time is the click's own time, not the end of the analysis frame that caught it.
    np.testing.assert_allclose(heard, clicks, atol=0.002)
