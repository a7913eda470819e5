"""Soak test of live mode: memory, input overflows and display fps over a long show.

    python benchmarks/live_soak.py [--minutes 10] [--window-size 1280x720]

Runs `visualizer --input mic` on a private Xvfb display, with the demo loop playing into
a private PulseAudio microphone the whole time, samples the process's resident memory
every second and reads its per-frame log. Prints RSS growth after warm-up, input
overflows after warm-up, and the display fps per one-second window (worst, and how many
seconds fell below 30 fps).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from visualizer.audio.demo import demo_loop, write_wav
from visualizer.tools.virtual_av import play_into_mic, virtual_display, virtual_microphone

WARM_UP_S = 30.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--window-size", default="1280x720")
    args = p.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp, virtual_display() as display, virtual_microphone() as env:
        music = write_wav(Path(tmp) / "loop.wav", demo_loop(bars=30), 44100)  # 60 s, replayed
        log = Path(tmp) / "frames.jsonl"
        proc = subprocess.Popen([sys.executable, "-m", "visualizer", "--input", "mic", "--device", "pulse",
                                 "--frame-log", str(log), "--window-size", args.window_size,
                                 "--duration", str(seconds)], env=dict(env, DISPLAY=display),
                                stderr=subprocess.PIPE, text=True)
        proc.stderr.readline()
        start = time.monotonic()
        samples: list[tuple[float, float]] = []
        player = play_into_mic(music, env)
        while proc.poll() is None:
            if player.poll() is not None:
                player = play_into_mic(music, env)
            try:
                samples.append((time.monotonic() - start, rss_mb(proc.pid)))
            except OSError:
                break
            time.sleep(1.0)
        player.terminate()
        _, err = proc.communicate()
        frames = [json.loads(line) for line in log.read_text().splitlines()]

    if not frames or not any(s >= WARM_UP_S for s, _ in samples):
        sys.exit(f"live_soak: the show ended after {samples[-1][0] if samples else 0:.0f} s; it said:\n{err[-2000:]}")
    t = np.array([f["presented"] for f in frames])
    t -= t[0]
    after = t > WARM_UP_S
    per_second = np.bincount(t[after].astype(int))[int(WARM_UP_S) + 1:-1]
    warm_rss = [m for s, m in samples if s >= WARM_UP_S]
    overflow_at_warm = next((f["overflows"] for f, a in zip(frames, after) if a), 0)
    print(f"soak: {args.minutes:g} min, window {args.window_size}, Xvfb + PulseAudio null sink, demo loop playing")
    print(f"{'measure':44s} {'value':>10s}")
    print(f"{'RSS after warm-up (MB)':44s} {warm_rss[0]:10.1f}")
    print(f"{'RSS growth after warm-up (MB)':44s} {max(warm_rss) - warm_rss[0]:10.1f}")
    print(f"{'input overflows after warm-up':44s} {frames[-1]['overflows'] - overflow_at_warm:10d}")
    print(f"{'display fps, worst 1-s window':44s} {per_second.min():10d}")
    print(f"{'display fps, median 1-s window':44s} {np.median(per_second):10.1f}")
    print(f"{'seconds below 30 fps':44s} {int((per_second < 30).sum()):10d}")
    print(err.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
