"""Live mode under load: audio-to-photon latency, display fps and generator fps.

    python benchmarks/live_latency.py [--clicks 120] [--window-size 1280x720] [--model PATH] [--settings FILE]

Runs `visualizer --input mic` in a window on a private Xvfb display, listening to a
private PulseAudio null-sink microphone, plays a click track into it, and reads the
per-frame log the window writes after each buffer flip. Latency of one click = the time
the first frame reacting to it was presented - the time its samples were captured
(the ADC timestamp PortAudio gives the input block). Prints one table.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from visualizer.audio.demo import click_track, write_wav
from visualizer.tools.virtual_av import play_into_mic, virtual_display, virtual_microphone


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clicks", type=int, default=120)
    p.add_argument("--interval", type=float, default=0.4, help="seconds between clicks")
    p.add_argument("--window-size", default="1280x720")
    p.add_argument("--model", default=None)
    p.add_argument("--settings", default=None, help="settings file for the visualizer (e.g. a [live] table)")
    args = p.parse_args()

    times = 1.0 + args.interval * np.arange(args.clicks)
    with tempfile.TemporaryDirectory() as tmp, virtual_display() as display, virtual_microphone() as env:
        wav = write_wav(Path(tmp) / "clicks.wav", click_track(times, duration_s=times[-1] + 1.0,
                                                               sample_rate=48000), 48000)
        log = Path(tmp) / "frames.jsonl"
        cmd = [sys.executable, "-m", "visualizer", "--input", "mic", "--device", "pulse", "--frame-log", str(log),
               "--window-size", args.window_size, "--duration", str(times[-1] + 6.0)]
        if args.model:
            cmd += ["--model", args.model]
        if args.settings:
            cmd += ["--settings", args.settings]
        proc = subprocess.Popen(cmd, env=dict(env, DISPLAY=display), stderr=subprocess.PIPE, text=True)
        proc.stderr.readline()  # "live from ..." once the window is up
        time.sleep(2.0)  # warm-up
        play_into_mic(wav, env).wait()
        _, err = proc.communicate(timeout=120)
        frames = [json.loads(line) for line in log.read_text().splitlines()]

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


if __name__ == "__main__":
    main()
