"""Pytest fixtures over visualizer.tools.virtual_av: a real Xvfb display and PulseAudio microphone."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from visualizer.tools.virtual_av import VirtualDeviceError, play_into_mic, virtual_display as _display
from visualizer.tools.virtual_av import virtual_microphone as _microphone

play = play_into_mic


def start(args, env):
    """Start the visualizer and return once it says the show is live."""
    proc = subprocess.Popen([sys.executable, "-m", "visualizer", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()
    assert "visualizer: live from" in first, first + proc.stderr.read()
    return proc


def xdotool(*args, env) -> str:
    """Real key events and window lookups through the X server (XTEST); what xdotool prints."""
    if shutil.which("xdotool") is None:
        pytest.fail("xdotool is missing: apt-get install xdotool (bash .ci/setup installs it)")
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=30, check=True).stdout


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
