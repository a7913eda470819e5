"""Pytest fixtures over visualizer.tools.virtual_av: a real Xvfb display and PulseAudio microphone."""

from __future__ import annotations

import pytest

from visualizer.tools.virtual_av import VirtualDeviceError, play_into_mic, virtual_display as _display
from visualizer.tools.virtual_av import virtual_microphone as _microphone

play = play_into_mic


def _started(context):
    """Yield what the context manager gives; a device that cannot start fails the test with its reason."""
    try:
        with context as value:
            yield value
    except VirtualDeviceError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def virtual_display():
    yield from _started(_display())


@pytest.fixture(scope="session")
def virtual_mic():
    yield from _started(_microphone())


@pytest.fixture(scope="session")
def virtual_midi():
    from visualizer.tools.virtual_av import virtual_midi as _midi

    yield from _started(_midi())
