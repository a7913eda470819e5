"""Live mode under load: audio-to-photon latency, display fps and generator fps.

    python benchmarks/live_latency.py [--clicks 120] [--window-size 1280x720] [--model PATH] [--settings FILE]
        [--control]

Runs `visualizer --input mic` in a window on a private Xvfb display, listening to a
private PulseAudio null-sink microphone, plays a click track into it, and reads the
per-frame log the window writes after each buffer flip. Latency of one click = the time
the first frame reacting to it was presented - the time its samples were captured
(the ADC timestamp PortAudio gives the input block). Prints one table.

With --control the show also runs its show control as at a gig: OSC in (a port), OSC out (to a
socket here that counts the /onset messages), and MIDI from a controller process on a private
JACK server sending a fader sweep (30 messages/s, bound to effects.zoom) and MIDI clock at
128 BPM for the whole click track; the table adds OSC-out latency (capture -> sent) and counts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from visualizer.audio.demo import click_track, write_wav
from visualizer.tools.virtual_av import free_udp_port, play_into_mic, virtual_display, virtual_microphone


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clicks", type=int, default=120)
    p.add_argument("--interval", type=float, default=0.4, help="seconds between clicks")
    p.add_argument("--window-size", default="1280x720")
    p.add_argument("--model", default=None)
    p.add_argument("--settings", default=None, help="settings file for the visualizer (e.g. a [live] table)")
    p.add_argument("--control", action="store_true", help="OSC in and out and MIDI (fader and clock) on as well")
    args = p.parse_args()

    times = 1.0 + args.interval * np.arange(args.clicks)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        display = stack.enter_context(virtual_display())
        env = stack.enter_context(virtual_microphone())
        control = stack.enter_context(_ShowControl(args, Path(tmp), times)) if args.control else None
        err, frames = _run(args, tmp, display, env, times, control)
    _report(args, err, frames, control)


class _ShowControl(contextlib.AbstractContextManager):
    """OSC in/out and a MIDI controller process on a private JACK server, for --control."""

    def __init__(self, args, tmp: Path, times: np.ndarray) -> None:
        from visualizer.tools.virtual_av import virtual_midi

        self._midi = virtual_midi()
        self.env = self._midi.__enter__()
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.bind(("127.0.0.1", 0))
        self.sink.settimeout(0.1)
        self.onsets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._count, daemon=True)
        self._thread.start()
        self.settings = tmp / "control.toml"
        own = Path(args.settings).read_text() if args.settings else ""
        self.settings.write_text(own + '\n[[midi]]\ncc = 1\nkey = "effects.zoom"\nmin = 1.0\nmax = 1.3\n')
        beats = int((times[-1] + 2.0) * 128 / 60)
        self.controller = subprocess.Popen(
            [sys.executable, "-m", "visualizer.tools.midi_source", "--clock-at", "0", "--beats", str(beats),
             "--bpm", "128", "--sweep-hz", "30"], env=dict(os.environ, **self.env), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        assert self.controller.stdout.readline().strip() == "ready"

    def args(self) -> list[str]:
        return ["--settings", str(self.settings), "--midi", "test-controller", "--osc", str(free_udp_port()),
                "--osc-out", f"127.0.0.1:{self.sink.getsockname()[1]}"]

    def go(self) -> None:
        self.controller.stdin.write("go\n")
        self.controller.stdin.flush()

    def _count(self) -> None:
        from pythonosc.osc_packet import OscPacket

        while not self._stop.is_set():
            try:
                data = self.sink.recv(65536)
            except (TimeoutError, socket.timeout):
                continue
            self.onsets += sum(m.message.address == "/onset" for m in OscPacket(data).messages)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sink.close()
        self.controller.kill()
        self.controller.wait(timeout=10)
        self._midi.__exit__(*exc)


def _run(args, tmp, display, env, times, control) -> tuple[str, list[dict]]:
    """Start the show, play the clicks into its microphone; (its stderr, its frame log)."""
    wav = write_wav(Path(tmp) / "clicks.wav", click_track(times, duration_s=times[-1] + 1.0,
                                                           sample_rate=48000), 48000)
    log = Path(tmp) / "frames.jsonl"
    cmd = [sys.executable, "-m", "visualizer", "--input", "mic", "--device", "pulse", "--frame-log", str(log),
           "--window-size", args.window_size, "--duration", str(times[-1] + 6.0)]
    if args.model:
        cmd += ["--model", args.model]
    if control is not None:
        cmd += control.args()
    elif args.settings:
        cmd += ["--settings", args.settings]
    run_env = dict(env, DISPLAY=display, **(control.env if control else {}))
    proc = subprocess.Popen(cmd, env=run_env, stderr=subprocess.PIPE, text=True)
    proc.stderr.readline()  # "live from ..." once the window is up
    time.sleep(2.0)  # warm-up
    if control is not None:
        control.go()
    play_into_mic(wav, env).wait()
    _, err = proc.communicate(timeout=120)
    frames = [json.loads(line) for line in log.read_text().splitlines()]
    return err, frames


def _report(args, err, frames, control) -> None:

    presented = np.array([f["presented"] for f in frames])
    steady = presented[presented > presented[0] + 2.0]
    intervals = np.diff(steady)
    latencies = np.array([f["presented"] - f["onset_capture"] for f in frames if f["onset_capture"]]) * 1000
    generator_fps = re.search(r"generator ([\d.]+) fps", err)
    device_ms = re.search(r"device latency ([\d.]+) ms", err)
    listener = re.search(r"listener ([\d.]+) updates/s using ([\d.]+) % of a core", err)
    print(f"machine: {Path('/proc/sys/kernel/hostname').read_text().strip()}, window {args.window_size} on Xvfb "
          "(Mesa llvmpipe), PulseAudio null-sink microphone")
    print(f"{'measure':40s} {'value':>10s}")
    print(f"{'clicks played / onsets seen':40s} {args.clicks:>4d} / {len(latencies):<4d}")
    if len(latencies):
        print(f"{'audio-to-photon latency p50 (ms)':40s} {np.percentile(latencies, 50):10.1f}")
        print(f"{'audio-to-photon latency p95 (ms)':40s} {np.percentile(latencies, 95):10.1f}")
    onset_frames = [f for f in frames if f["onset_capture"] and f.get("onset_found")]
    if onset_frames:
        for label, first, last in (("heard -> reported by the analysis", "onset_capture", "onset_found"),
                                   ("reported -> taken by the display", "onset_found", "ticked"),
                                   ("taken -> presented (draw, flip)", "ticked", "presented")):
            part = np.array([f[last] - f[first] for f in onset_frames]) * 1000
            print(f"{'  ' + label + ' p50/p95 (ms)':40s} {np.percentile(part, 50):5.1f} / {np.percentile(part, 95):4.1f}")
    if device_ms:
        print(f"{'device input latency (ms, reported)':40s} {float(device_ms.group(1)):10.1f}")
    print(f"{'display fps (mean)':40s} {1.0 / intervals.mean():10.1f}")
    print(f"{'display fps (5th percentile frame)':40s} {1.0 / np.percentile(intervals, 95):10.1f}")
    if generator_fps:
        print(f"{'generator fps':40s} {float(generator_fps.group(1)):10.1f}")
    if listener:
        print(f"{'listener updates per second':40s} {float(listener.group(1)):10.2f}")
        print(f"{'listener thread, % of one core':40s} {float(listener.group(2)):10.1f}")
    else:
        print("listener: not running (no music map for this model, or walk.mode = \"loop\")")
    if control is not None:
        osc = re.search(r"onset capture-to-sent p50 ([\d.]+) ms p95 ([\d.]+) ms", err)
        midi = re.search(r"MIDI in (\d+) messages", err)
        print(f"{'clicks played / OSC /onset received':40s} {args.clicks:>4d} / {control.onsets:<4d}")
        if osc:
            print(f"{'OSC out onset capture-to-sent p50 (ms)':40s} {float(osc.group(1)):10.1f}")
            print(f"{'OSC out onset capture-to-sent p95 (ms)':40s} {float(osc.group(2)):10.1f}")
        if midi:
            print(f"{'MIDI messages received (clock + fader)':40s} {int(midi.group(1)):10d}")


if __name__ == "__main__":
    main()
