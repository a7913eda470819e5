"""Pytest fixtures over visualizer.tools.virtual_av: a real Xvfb display and PulseAudio microphone."""

from __future__ import annotations

import pytest

from visualizer.tools.virtual_av import VirtualDeviceError, play_into_mic, virtual_display as _display
from visualizer.tools.virtual_av import virtual_microphone as _microphone

play = play_into_mic


@pytest.fixture(scope="session")
def virtual_display():
    try:
        with _display() as display:
            yield display
    except VirtualDeviceError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def virtual_mic():
    try:
        with _microphone() as env:
            yield env
    except VirtualDeviceError as exc:
        pytest.fail(str(exc))
