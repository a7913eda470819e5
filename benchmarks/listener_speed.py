"""Listener speed: the bundled small listener beside its musicnn teachers, in the same run.

    python benchmarks/listener_speed.py [--seconds 32] [--repeats 3]

Hears the synthesised demo loop as a render does (one window of 3 s every ``listen.update_s``, one
thread a network: the two teachers side by side on two) with each listener and prints, for each,
the best of ``--repeats`` runs: seconds to hear the song, milliseconds a window, the share of the
song's duration, and the teachers' time over the small one's.
"""

from __future__ import annotations

import argparse
import time

import torch
from machine_info import host_and_cpu

from visualizer.audio.demo import demo_loop
from visualizer.listen.listener import Listener, to_listener_rate
from visualizer.settings import Settings


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=32.0)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    update_s = Settings().listen.update_s
    bpm = 120.0
    bars = max(1, round(args.seconds / (4 * 60 / bpm)))
    audio = to_listener_rate(demo_loop(bpm=bpm, bars=bars).mean(axis=0), 44100)
    duration = len(audio) / 16000
    print(f"# {host_and_cpu()}; {duration:.1f} s of the demo loop, a window every {update_s} s, "
          "one thread a network")
    print(f"{'listener':>10} {'seconds':>8} {'ms/window':>10} {'of song':>8}")
    best = {}
    for name, listener in (("small", Listener.bundled(threads=1)), ("musicnn", Listener.teachers(threads=1))):
        listener.track(audio[: 16000 * 4], update_s)  # warm up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            track = listener.track(audio, update_s)
            times.append(time.perf_counter() - start)
        best[name] = min(times)
        print(f"{name:>10} {best[name]:8.3f} {1000 * best[name] / len(track):10.2f} {best[name] / duration:8.1%}")
    print(f"musicnn over small: {best['musicnn'] / best['small']:.1f}x")


if __name__ == "__main__":
    main()
