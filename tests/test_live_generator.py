"""The generator thread on its own: newest request in, picture out, at a lower CPU priority."""

import os
import sys
import threading

import pytest

from tests.test_live_feed import RingSource
from visualizer.live import GeneratorWorker, LiveSession
from visualizer.models.io import load_generator
from visualizer.settings import Settings, from_dict

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


@pytest.fixture(scope="module")
def generator():
    return load_generator(None, device="cpu")


def _one_frame(worker: GeneratorWorker, generator) -> None:
    worker.start()
    try:
        worker.requests.put((generator.sample_latents(1, seed=3)[0].numpy(), None))
        seq, frame = worker.frames.wait_newer(0, timeout_s=30.0)
        assert seq == 1 and frame.image.ndim == 3 and frame.image.shape[2] == 3
    finally:
        worker.stop()


@linux_only
def test_a_cpu_generator_yields_the_cores_to_the_display_and_the_audio(generator):
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = GeneratorWorker(generator, nice=10)
    _one_frame(worker, generator)
    # The generator's own thread made the picture at the lower priority; the caller's is untouched.
    assert os.getpriority(os.PRIO_PROCESS, worker._thread.native_id) == min(19, base + 10)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base


@linux_only
def test_without_nice_the_generator_keeps_the_show_s_priority(generator):
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = GeneratorWorker(generator, nice=0)
    _one_frame(worker, generator)
    assert os.getpriority(os.PRIO_PROCESS, worker._thread.native_id) == base


def test_the_live_settings_set_the_cpu_generator_s_niceness_and_pace(generator):
    settings = from_dict({"live": {"cpu_generator_nice": 5, "cpu_generator_fps": 20}})
    session = LiveSession(settings=settings, generator=generator, source=RingSource(48000))
    assert session.worker.nice == 5
    assert session.worker.min_interval_s == pytest.approx(1 / 20)
    assert LiveSession(settings=Settings(), generator=generator, source=RingSource(48000)).worker.nice == 10
