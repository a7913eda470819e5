"""A virtual display (Xvfb), microphone (PulseAudio null sink) and MIDI transport (JACK) for headless machines.

Used by the live-mode tests and benchmarks; also handy to try live mode on a server:

    with virtual_display() as display, virtual_microphone() as env:
        ...  # run with DISPLAY=display and env; play into the mic with play_into_mic(wav, env)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

from visualizer.errors import UserError


class VirtualDeviceError(UserError):
    """Xvfb or PulseAudio is missing or did not start."""


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise VirtualDeviceError(f"{binary} is not installed; run 'bash .ci/setup' (it installs {package})")
    return path


@contextlib.contextmanager
def virtual_display(size: str = "1280x720x24") -> Iterator[str]:
    """Start a private Xvfb server; yields its DISPLAY string (e.g. ':91')."""
    xvfb = _require("Xvfb", "xvfb")
    number = next(n for n in range(91, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists()
                  and not Path(f"/tmp/.X{n}-lock").exists())
    proc = subprocess.Popen([xvfb, f":{number}", "-screen", "0", size, "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise VirtualDeviceError("Xvfb did not start")
            time.sleep(0.05)
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def virtual_microphone(rate: int = 48000) -> Iterator[dict[str, str]]:
    """Start a private PulseAudio whose default source hears its null sink 'vsink'.

    Yields the environment (XDG_RUNTIME_DIR etc.) under which programs reach it.
    """
    pulseaudio = _require("pulseaudio", "pulseaudio")
    _require("pactl", "pulseaudio-utils")
    with tempfile.TemporaryDirectory(prefix="pulse-") as runtime:
        os.chmod(runtime, 0o700)
        env = dict(os.environ, XDG_RUNTIME_DIR=runtime, PULSE_RUNTIME_PATH=f"{runtime}/pulse", HOME=runtime)
        proc = subprocess.Popen(
            [pulseaudio, "--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no",
             f"--load=module-null-sink sink_name=vsink rate={rate}", "--load=module-native-protocol-unix"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 15
            while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise VirtualDeviceError("PulseAudio did not start")
                time.sleep(0.1)
            subprocess.run(["pactl", "set-default-source", "vsink.monitor"], env=env, check=True,
                           capture_output=True)
            yield env
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def free_udp_port() -> int:
    """A UDP port on loopback that nothing listens on now (for OSC in tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def play_into_mic(wav: str | Path, env: dict[str, str]) -> subprocess.Popen:
    """Play a WAV into the virtual sink, so the virtual microphone hears it."""
    return subprocess.Popen(["paplay", "-d", "vsink", str(wav)], env=env)


@contextlib.contextmanager
def virtual_midi(period: int = 1024) -> Iterator[dict[str, str]]:
    """Start a private JACK server on its dummy driver (no sound card, no realtime rights), whose MIDI ports
    rtmidi's JACK backend opens; yields the environment that names the server (JACK_DEFAULT_SERVER).

    ``period`` frames at 48 kHz is how often JACK moves MIDI (1024: 21 ms, a common setting): MIDI arriving
    in bursts after a stall of a busy machine must fit into one period's port buffer, or JACK drops it.
    """
    jackd = _require("jackd", "jackd2")
    name = f"visualizer-{os.getpid()}-{time.monotonic_ns() % 100000}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    proc = subprocess.Popen([jackd, "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", str(period)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _jack_up(env):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise VirtualDeviceError("jackd did not start")
            time.sleep(0.1)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _jack_up(env: dict[str, str]) -> bool:
    lsp = shutil.which("jack_lsp")
    if lsp is None:  # jackd2 ships jack_lsp; without it, give the server a moment
        time.sleep(1.0)
        return True
    return subprocess.run([lsp], env=env, capture_output=True, timeout=10).returncode == 0
