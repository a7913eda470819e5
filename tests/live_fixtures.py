"""Real stand-ins for a show's hardware: an Xvfb display and a PulseAudio null-sink microphone.

.ci/setup installs Xvfb and PulseAudio; these fixtures start private instances and stop
them afterwards. Audio played into the sink with ``paplay`` comes back on its monitor,
which is the default source, so ``--input mic --device pulse`` hears it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; run 'bash .ci/setup' (it installs xvfb and pulseaudio)")
    return path


@pytest.fixture(scope="session")
def virtual_display():
    """DISPLAY of a private 1280x720 Xvfb server."""
    xvfb = _require("Xvfb")
    for number in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    proc = subprocess.Popen([xvfb, f":{number}", "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("Xvfb did not start")
        time.sleep(0.05)
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def virtual_mic(tmp_path_factory):
    """Environment variables for a private PulseAudio with a null sink 'vsink' whose monitor is the mic."""
    pulseaudio = _require("pulseaudio")
    runtime = tmp_path_factory.mktemp("pulse")
    os.chmod(runtime, 0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), PULSE_RUNTIME_PATH=str(runtime / "pulse"),
               HOME=str(runtime))
    proc = subprocess.Popen(
        [pulseaudio, "--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no",
         "--load=module-null-sink sink_name=vsink rate=48000", "--load=module-native-protocol-unix",
         "--log-target=stderr"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("PulseAudio did not start")
        time.sleep(0.1)
    subprocess.run(["pactl", "set-default-source", "vsink.monitor"], env=env, check=True)
    yield env
    proc.terminate()
    proc.wait(timeout=10)


def play(wav: Path, env: dict) -> subprocess.Popen:
    """Play a WAV into the virtual sink (so the virtual mic hears it)."""
    return subprocess.Popen(["paplay", "-d", "vsink", str(wav)], env=env)
