"""Live mode for real: a virtual microphone, an Xvfb window, the visualizer as a user starts it."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from visualizer.audio.demo import click_track, write_wav
from tests.live_fixtures import play, start, virtual_display, virtual_mic, xdotool  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow
CLICKS = np.round(np.arange(0.5, 6.0, 0.6), 2)


@pytest.fixture(scope="module")
def clicks_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "clicks.wav"
    return write_wav(path, click_track(CLICKS, duration_s=6.5, sample_rate=48000), 48000)


def test_the_window_flashes_with_the_clicks_a_microphone_hears(tmp_path, virtual_display, virtual_mic,
                                                               clicks_wav):
    env = dict(virtual_mic, DISPLAY=virtual_display)
    log = tmp_path / "frames.jsonl"
    proc = start(["--input", "mic", "--device", "pulse", "--duration", "12", "--frame-log", log,
                  "--window-size", "640x360"], env)
    time.sleep(1.0)
    play(clicks_wav, virtual_mic).wait(timeout=30)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "live: display" in err
    assert "leaked" not in err, err  # extension objects are released at exit (see gc.freeze in the window)
    frames = [json.loads(line) for line in log.read_text().splitlines()]
    assert sum(f["has_frame"] for f in frames) > 50
    onsets = [i for i, f in enumerate(frames) if f["onset"] > 0]
    assert len(onsets) >= 0.8 * len(CLICKS), (len(onsets), len(CLICKS))
    brightness = np.array([f["brightness"] for f in frames])
    # From 3 s on: before that the picture is still travelling to the place of what is heard (listen
    # mode), and its own brightness changes as much as a flash.
    settled = [i for i in onsets if i >= 10 and frames[i]["presented"] - frames[0]["presented"] > 3.0]
    brighter = [brightness[i] > np.median(brightness[max(0, i - 10):i]) + 15 for i in settled]
    assert len(settled) >= 0.5 * len(CLICKS) and np.mean(brighter) >= 0.8, brighter
    latencies = [f["presented"] - f["onset_capture"] for f in frames if f["onset_capture"]]
    assert 0 < np.median(latencies) < 0.5
    # Capture times are the clicks' own: they are as far apart as the clicks were played.
    gaps = np.diff([f["onset_capture"] for f in frames if f["onset_capture"]])
    near = gaps[np.abs(gaps - 0.6) < 0.1]
    assert len(near) >= 0.7 * (len(CLICKS) - 1), gaps
    assert np.abs(near - 0.6).max() < 0.004, gaps


def test_the_keys_work_as_a_user_presses_them(tmp_path, virtual_display, virtual_mic):
    env = dict(virtual_mic, DISPLAY=virtual_display)
    log = tmp_path / "frames.jsonl"
    proc = start(["--input", "mic", "--device", "pulse", "--duration", "60", "--frame-log", log,
                  "--window-size", "320x240"], env)
    window = xdotool("search", "--sync", "--name", "^visualizer$", env=env).split()[0]
    xdotool("windowfocus", "--sync", window, env=env)
    pressed = {}
    for key in ("h", "space", "n", "r", "f", "Escape"):  # real key events through the X server (XTEST)
        time.sleep(1.0)
        pressed[key] = time.monotonic()
        xdotool("key", key, env=env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert time.monotonic() - pressed["Escape"] < 10  # Esc ended the show, not --duration
    assert "no --settings file to reload" in err  # R, started without --settings
    frames = [json.loads(line) for line in log.read_text().splitlines()]

    def after(key):
        shown = [f for f in frames if f["presented"] > pressed[key] + 0.5]
        assert len(shown) > 10, f"the window stopped drawing after {key}"
        return shown

    first, last = frames[0], frames[-1]
    assert not first["hud"] and all(f["hud"] for f in after("h"))
    assert not first["frozen"] and all(f["frozen"] for f in after("space"))
    assert all(f["seed"] == first["seed"] + 1 for f in after("n"))
    assert first["size"] == [320, 240] and last["size"] != [320, 240]  # fullscreen: the screen's size


def test_sigterm_and_sigint_end_the_show_cleanly(virtual_display, virtual_mic):
    env = dict(virtual_mic, DISPLAY=virtual_display)
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = start(["--input", "mic", "--device", "pulse", "--window-size", "320x240"], env)
        time.sleep(1.0)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "live: display" in err


def test_no_threads_are_left_behind(virtual_display, virtual_mic):
    # In a fresh process: PortAudio lists devices once, when it starts, so this process's list may be stale.
    script = (
        "import threading, time\n"
        "from visualizer.live import run_live\n"
        "from visualizer.settings import Settings\n"
        "print(run_live('mic', Settings(), device='pulse', size=(320, 240), duration_s=2.0))\n"
        "time.sleep(0.2)\n"
        "print(sorted(t.name for t in threading.enumerate() if t.name in ('analysis', 'generator')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], env=dict(virtual_mic, DISPLAY=virtual_display),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary, threads = proc.stdout.strip().splitlines()[-2:]
    assert summary.startswith("live: display") and threads == "[]"


def test_without_a_display_the_error_suggests_rendering_a_file():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "visualizer", "--input", "mic"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "--output" in lines[0]


def test_an_unknown_device_is_refused_with_the_device_list(virtual_display, virtual_mic):
    env = dict(virtual_mic, DISPLAY=virtual_display)
    proc = subprocess.run([sys.executable, "-m", "visualizer", "--input", "mic", "--device", "no-such-mic"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "no input device matches 'no-such-mic'" in line and "pulse" in line and "\n" not in line


@pytest.mark.parametrize("args", [["--list-devices"], ["--input", "mic"]])
def test_without_the_portaudio_library_the_error_names_the_package(tmp_path, virtual_display, args):
    # The library cannot be uninstalled inside a test, so the lookup sounddevice itself makes
    # (ctypes.util.find_library("portaudio")) is told there is none, as on a machine without
    # libportaudio2; sounddevice then fails to import exactly as it does there.
    (tmp_path / "sitecustomize.py").write_text(
        "import ctypes.util\n"
        "_find = ctypes.util.find_library\n"
        "ctypes.util.find_library = lambda name: None if 'portaudio' in name else _find(name)\n")
    env = dict(os.environ, DISPLAY=virtual_display,
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "visualizer", *args], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, line
    assert "PortAudio" in line and "apt-get install libportaudio2" in line, line


def test_a_device_that_fails_to_open_is_a_clear_error(tmp_path, virtual_display):
    # The ALSA 'pulse' device exists, but with no PulseAudio server behind it it cannot open.
    lonely = tmp_path / "no-server"
    lonely.mkdir(mode=0o700)
    env = dict(os.environ, DISPLAY=virtual_display, XDG_RUNTIME_DIR=str(lonely),
               PULSE_RUNTIME_PATH=str(lonely / "pulse"), PULSE_SERVER=f"unix:{lonely}/nothing")
    proc = subprocess.run([sys.executable, "-m", "visualizer", "--input", "mic", "--device", "pulse"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "--device" in line and "Traceback" not in line, line


def test_a_typo_in_the_settings_file_never_stops_the_show(tmp_path, virtual_display, virtual_mic):
    env = dict(virtual_mic, DISPLAY=virtual_display)
    settings = tmp_path / "show.toml"
    settings.write_text("[walk]\ntruncation = 0.8\n")
    proc = start(["--input", "mic", "--device", "pulse", "--settings", settings, "--duration", "6",
                  "--window-size", "320x240"], env)
    time.sleep(1.0)
    settings.write_text("[walk]\ntrucation = 0.5\n")
    time.sleep(1.5)
    settings.write_text("[walk]\ntruncation = 0.5\n")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "unknown settings key 'walk.trucation' (did you mean 'walk.truncation'?); keeping the previous" in err
    assert "settings reloaded" in err.split("trucation")[-1]
    assert "Traceback" not in err


def test_a_file_plays_through_the_speakers_and_the_visuals_follow(tmp_path, virtual_display, virtual_mic,
                                                                  clicks_wav):
    env = dict(virtual_mic, DISPLAY=virtual_display)
    log = tmp_path / "frames.jsonl"
    began = time.monotonic()
    proc = start(["--input", clicks_wav, "--device", "pulse", "--frame-log", log, "--window-size", "320x240"], env)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert time.monotonic() - began >= 6.0  # it ran for the length of the song, then ended by itself
    frames = [json.loads(line) for line in log.read_text().splitlines()]
    onsets = [f for f in frames if f["onset"] > 0]
    assert len(onsets) >= 0.8 * len(CLICKS)
