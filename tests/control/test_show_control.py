"""Show control for real: OSC over loopback UDP, MIDI over a JACK server, scenes, system audio and an
input that vanishes, each in a running show on the virtual microphone and an Xvfb window."""

import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from visualizer.audio.demo import click_track, write_wav
from tests.live_fixtures import play, start, virtual_display, virtual_mic, virtual_midi, xdotool  # noqa: F401
from visualizer.tools.virtual_av import free_udp_port

pytestmark = pytest.mark.slow


def osc(address, *args) -> bytes:
    builder = OscMessageBuilder(address=address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


class OscPeer:
    """A loopback UDP socket that sends OSC and collects what comes back, with arrival times."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[float, str, tuple]] = []

    def send(self, port: int, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    def collect(self, seconds: float) -> list[tuple[float, str, tuple]]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data, _ = self.sock.recvfrom(65536)
            except (TimeoutError, socket.timeout):
                continue
            now = time.monotonic()
            for m in OscPacket(data).messages:
                self.got.append((now, m.message.address, tuple(m.message.params)))
        return self.got

    def close(self) -> None:
        self.sock.close()


def frames_of(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def longest_gap_s(frames) -> float:
    times = np.array([f["presented"] for f in frames])
    return float(np.diff(times).max())


def test_osc_set_changes_a_running_show_and_a_bad_one_is_refused(tmp_path, virtual_display, virtual_mic):
    env = dict(virtual_mic, DISPLAY=virtual_display)
    log, port, peer = tmp_path / "frames.jsonl", free_udp_port(), OscPeer()
    proc = start(["--input", "mic", "--device", "pulse", "--duration", "9", "--frame-log", log, "--osc", port,
                  "--window-size", "320x180"], env)
    try:
        time.sleep(2.0)
        changed_at = time.monotonic()
        peer.send(port, osc("/visualizer/set", "effects.zoom", 1.7))
        peer.send(port, osc("/visualizer/set", "effects.zom", 1.2))     # a typo
        peer.send(port, osc("/visualizer/set", "effects.zoom", 99.0))   # out of range
        peer.send(port, b"\x00\x01garbage")                              # not OSC
        peer.send(port, osc("/visualizer/nothing", 1))
        got = peer.collect(3.0)
    finally:
        out, err = proc.communicate(timeout=60)
        peer.close()
    assert proc.returncode == 0, err
    replies = [(a, p[0]) for _, a, p in got]
    assert ("/visualizer/ok", "effects.zoom = 1.7") in replies, replies
    errors = [text for address, text in replies if address == "/visualizer/error"]
    assert len(errors) == 4, replies
    assert any("did you mean 'effects.zoom'" in e for e in errors)
    assert any("[0.25, 4]" in e for e in errors)
    assert any("malformed OSC packet" in e for e in errors)
    assert any("unknown OSC address /visualizer/nothing" in e for e in errors)
    frames = frames_of(log)
    before = [f["zoom"] for f in frames if f["presented"] < changed_at]
    after = [f["zoom"] for f in frames if f["presented"] > changed_at + 0.5]
    assert np.allclose(before, 1.0, atol=0.05) and np.allclose(after, 1.7, atol=0.05), (before[-3:], after[:3])
    assert frames[-1]["presented"] - changed_at > 3.0, "the show stopped after the bad messages"
    assert "Traceback" not in err


def test_osc_out_sends_one_onset_per_click_soon_after_it_is_heard(tmp_path, virtual_display, virtual_mic):
    clicks = np.round(0.5 + 0.5 * np.arange(32), 3)  # 120 BPM, 32 clicks
    wav = write_wav(tmp_path / "clicks.wav", click_track(clicks, duration_s=clicks[-1] + 1.0, sample_rate=48000),
                    48000)
    env = dict(virtual_mic, DISPLAY=virtual_display)
    peer = OscPeer()
    proc = start(["--input", "mic", "--device", "pulse", "--duration", "26", "--osc-out", f"127.0.0.1:{peer.port}",
                  "--window-size", "320x180"], env)
    try:
        time.sleep(3.0)  # past the start-up: the listener's first hearing and the first generated frames
        player = play(wav, virtual_mic)
        got = peer.collect(20.0)
        player.wait(timeout=30)
    finally:
        out, err = proc.communicate(timeout=60)
        peer.close()
    assert proc.returncode == 0, err
    onsets = [t for t, address, _ in got if address == "/onset"]
    assert len(onsets) == len(clicks), len(onsets)
    # As far apart as the clicks were played (capture times on our side are checked in the summary below).
    assert np.allclose(np.diff(onsets), 0.5, atol=0.03), np.diff(onsets)
    beats = [p for _, address, p in got if address == "/beat"]
    tempos = [p[0] for _, address, p in got if address == "/tempo"]
    assert len(beats) >= 16 and abs(np.median(tempos) - 120) < 2, (len(beats), tempos[-3:])
    assert any(address == "/levels" for _, address, _ in got)
    assert any(address == "/tags" for _, address, _ in got)
    summary = next(line for line in err.splitlines() if "OSC out" in line)
    p95 = float(summary.split("p95")[1].split("ms")[0])
    assert p95 < 30.0, summary


MIDI_SETTINGS = """
[[midi]]
cc = 1
key = "effects.zoom"
min = 1.0
max = 2.0

[[midi]]
note = 36
action = "freeze"
"""


def jack_controller(virtual_midi, *args):
    """A MIDI controller and clock on the test's JACK server (visualizer.tools.midi_source), in its own process
    at raised priority where the test may: a drum machine or DJ software keeps time whatever the show does."""
    import os

    nice = ["nice", "-n", "-10"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([*nice, sys.executable, "-m", "visualizer.tools.midi_source", *map(str, args)],
                            env=dict(os.environ, **virtual_midi), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_midi_moves_a_bound_setting_and_its_clock_sets_tempo_and_beats(tmp_path, virtual_display, virtual_mic,
                                                                      virtual_midi):
    settings = tmp_path / "show.toml"
    settings.write_text(MIDI_SETTINGS)
    env = dict(virtual_mic, **virtual_midi, DISPLAY=virtual_display)
    log = tmp_path / "frames.jsonl"
    # One control change 1 s after 'go', then MIDI clock at 128 BPM for 12 quarter notes from 2 s.
    controller = jack_controller(virtual_midi, "--cc-at", 1.0, "--clock-at", 2.0, "--beats", 12, "--bpm", 128)
    try:
        proc = start(["--input", "mic", "--device", "pulse", "--duration", "11", "--frame-log", log,
                      "--settings", settings, "--midi", "test-controller", "--window-size", "320x180"], env)
        time.sleep(0.5)
        controller.stdin.write("go\n")
        controller.stdin.flush()
        sent = json.loads(controller.stdout.readline())
        cc_at, quarters = sent["cc"], sent["quarters"]
        clock_start = quarters[0]
        out, err = proc.communicate(timeout=60)
    finally:
        controller.stdin.close()
        controller.wait(timeout=10)
    assert proc.returncode == 0, err
    frames = frames_of(log)
    assert np.allclose([f["zoom"] for f in frames if cc_at + 0.3 < f["presented"] < clock_start], 2.0, atol=0.02)
    tempo_frames = [f for f in frames if clock_start + 2.0 < f["presented"] < quarters[-1]]
    assert np.allclose([f["tempo"] for f in tempo_frames], 128.0, atol=1.0), [f["tempo"] for f in tempo_frames][:5]
    beats = [f["beat_at"] for f in frames if f["beat_at"] is not None and clock_start < f["beat_at"] < quarters[-1]]
    assert len(beats) >= len(quarters) - 2, (len(beats), len(quarters))
    error_ms = np.array([1000 * min(abs(b - q) for q in quarters) for b in beats])
    locked = np.array(beats) > clock_start + 2.0  # as the tempo: once the clock has run 2 s
    assert error_ms[locked].max() < 20.0 and error_ms.max() < 50.0, error_ms
    # Every beat was shown in the first frame after it fell.
    for f in frames:
        if f["beat_at"] is not None:
            assert f["ticked"] - f["beat_at"] < 0.05
    assert "MIDI in" in err


def test_midi_learn_binds_the_control_moved_to_the_key_pressed(tmp_path, virtual_display, virtual_mic, virtual_midi):
    """As a VJ does it: L in the window, turn a knob, press Z; the knob then drives the zoom."""
    env = dict(virtual_mic, **virtual_midi, DISPLAY=virtual_display)
    log = tmp_path / "frames.jsonl"
    controller = jack_controller(virtual_midi)
    try:
        proc = start(["--input", "mic", "--device", "pulse", "--duration", "30", "--frame-log", log,
                      "--midi", "test-controller", "--window-size", "320x180"], env)
        controller.stdin.write("go\n")
        controller.stdin.flush()
        controller.stdout.readline()  # nothing scheduled: from now on it sends what it is told

        def send(line: str) -> float:
            controller.stdin.write(line + "\n")
            controller.stdin.flush()
            return time.monotonic()

        window = xdotool("search", "--sync", "--name", "^visualizer$", env=env).split()[0]
        xdotool("windowfocus", "--sync", window, env=env)
        time.sleep(1.0)
        xdotool("key", "l", env=env)
        time.sleep(0.5)
        send("cc 7 64")
        time.sleep(0.5)
        xdotool("key", "z", env=env)
        time.sleep(0.5)
        high = send("cc 7 127")
        time.sleep(1.5)
        low = send("cc 7 0")
        time.sleep(1.5)
        xdotool("key", "Escape", env=env)
        out, err = proc.communicate(timeout=30)
    finally:
        controller.stdin.close()
        controller.wait(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "MIDI learn: add to the settings file:\n[[midi]]\ncc = 7\nchannel = 1\nkey = \"effects.zoom\"" in err, err
    frames = frames_of(log)
    assert np.allclose([f["zoom"] for f in frames if high + 0.3 < f["presented"] < low], 2.0, atol=0.02)
    assert np.allclose([f["zoom"] for f in frames if f["presented"] > low + 0.3], 0.5, atol=0.02)


def test_scenes_switch_by_osc_cross_fade_and_survive_a_bad_edit(tmp_path, virtual_display, virtual_mic):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "calm.toml").write_text("[effects]\nzoom = 1.0\n")
    (scenes / "wild.toml").write_text("[effects]\nzoom = 2.0\n")
    env = dict(virtual_mic, DISPLAY=virtual_display)
    log, port, peer = tmp_path / "frames.jsonl", free_udp_port(), OscPeer()
    settings = tmp_path / "show.toml"
    settings.write_text("[show]\nscene_fade_s = 1.0\n")
    proc = start(["--input", "mic", "--device", "pulse", "--duration", "10", "--frame-log", log, "--osc", port,
                  "--scenes", scenes, "--settings", settings, "--window-size", "320x180"], env)
    try:
        time.sleep(1.5)
        asked = time.monotonic()
        peer.send(port, osc("/visualizer/scene", "wild"))
        time.sleep(2.0)
        (scenes / "calm.toml").write_text("[effects]\nzoom = 'big'\n")  # a mistake mid-show
        time.sleep(1.5)
        back = time.monotonic()
        peer.send(port, osc("/visualizer/scene", 1))  # by number: calm, in its last good version
        peer.send(port, osc("/visualizer/scene", "nope"))
        got = peer.collect(2.5)
    finally:
        out, err = proc.communicate(timeout=60)
        peer.close()
    assert proc.returncode == 0, err
    frames = frames_of(log)
    fade = [f["zoom"] for f in frames if asked + 0.1 < f["presented"] < asked + 0.9]
    assert any(1.1 < z < 1.9 for z in fade), fade  # a cross-fade, not a cut (silence: no scene waits for a bar)
    assert np.allclose([f["zoom"] for f in frames if asked + 1.3 < f["presented"] < back], 2.0, atol=0.02)
    assert np.allclose([f["zoom"] for f in frames if f["presented"] > back + 1.3], 1.0, atol=0.02)
    assert {f["scene"] for f in frames if f["presented"] > back + 1.3} == {"calm"}
    assert "scene calm: settings key 'effects.zoom' must be float" in err and "keeping its last good" in err
    assert any(a == "/visualizer/error" and "unknown scene 'nope'" in p[0] for _, a, p in got), got


def test_system_input_hears_what_the_machine_plays(tmp_path, virtual_display, virtual_mic):
    """The default source here is a second, silent sink's monitor: only the default output's monitor hears."""
    env = dict(virtual_mic, DISPLAY=virtual_display)
    module = subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=quiet"], env=env,
                            capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["pactl", "set-default-source", "quiet.monitor"], env=env, check=True)
    clicks = np.round(0.3 + 0.5 * np.arange(8), 2)
    wav = write_wav(tmp_path / "clicks.wav", click_track(clicks, duration_s=4.5, sample_rate=48000), 48000)
    log = tmp_path / "frames.jsonl"
    try:
        proc = start(["--input", "system", "--duration", "8", "--frame-log", log, "--window-size", "320x180"], env)
        time.sleep(1.0)
        subprocess.run(["paplay", str(wav)], env=env, check=True, timeout=30)  # to the default output
        out, err = proc.communicate(timeout=60)
    finally:
        subprocess.run(["pactl", "set-default-source", "vsink.monitor"], env=env, check=True)
        subprocess.run(["pactl", "unload-module", module], env=env, check=True)
    assert proc.returncode == 0, err
    onsets = [f for f in frames_of(log) if f["onset"] > 0]
    assert len(onsets) >= 0.8 * len(clicks), (len(onsets), err)


def test_a_vanished_microphone_comes_back_with_the_window_up(tmp_path, virtual_display, virtual_mic):
    env = dict(virtual_mic, DISPLAY=virtual_display)
    log = tmp_path / "frames.jsonl"
    clicks = np.round(0.3 + 0.5 * np.arange(6), 2)
    wav = write_wav(tmp_path / "clicks.wav", click_track(clicks, duration_s=3.5, sample_rate=48000), 48000)

    def mic_module() -> str:
        listing = subprocess.run(["pactl", "list", "short", "modules"], env=env, capture_output=True, text=True).stdout
        return next(line.split()[0] for line in listing.splitlines() if "sink_name=vsink" in line)

    proc = start(["--input", "mic", "--device", "pulse", "--duration", "14", "--frame-log", log,
                  "--window-size", "320x180"], env)
    try:
        time.sleep(1.5)
        unplugged = time.monotonic()
        subprocess.run(["pactl", "unload-module", mic_module()], env=env, check=True)
        time.sleep(3.0)
        subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=vsink", "rate=48000"], env=env,
                       check=True, capture_output=True)
        subprocess.run(["pactl", "set-default-source", "vsink.monitor"], env=env, check=True)
        plugged = time.monotonic()
        time.sleep(5.0)
        play(wav, virtual_mic).wait(timeout=30)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    frames = frames_of(log)
    lost = [f["presented"] for f in frames if f["input_lost"]]
    assert lost and lost[0] - unplugged < 2.0, "the loss was not noticed"
    assert lost[-1] - plugged < 5.0, "the input did not come back within 5 s"
    assert longest_gap_s(frames) < 0.5, "the window stalled"
    assert sum(f["onset"] > 0 for f in frames if f["presented"] > plugged + 5.0) >= 0.8 * len(clicks)
    assert "audio input lost" in err and "audio input back" in err
