"""Soak test of live mode: memory, input overflows and the display's worst second over a long show.

    python benchmarks/live_soak.py [--minutes 10] [--window-size 1280x720]
        [--control [--scene-every 20]]

Runs `visualizer --input mic` on a private Xvfb display with the demo loop playing into a private
PulseAudio microphone the whole time. With --control the show also has three scenes, OSC in, OSC
out and a MIDI controller on a private JACK server (MIDI clock at 128 BPM, a fader sweep bound to
effects.vignette), and every --scene-every seconds the scene changes, over OSC and over MIDI (a
pad bound to scene-next) in turn. Prints the show's resident memory after its first minute and at the end,
the input overflows, and the slowest second of the display (frames presented in it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from visualizer.audio.demo import demo_loop, write_wav
from visualizer.tools.virtual_av import free_udp_port, play_into_mic, virtual_display, virtual_microphone, virtual_midi

SCENES = {
    "1-calm": "[effects]\nzoom = 1.0\nvignette = 0.2\n[walk]\nbase_speed = 0.02\n",
    "2-drive": "[effects]\nzoom = 1.15\nhue_drift_deg_per_s = 12.0\n[listen]\nsway = 0.3\n",
    "3-wild": "[effects]\nzoom = 1.3\nvignette = 0.5\n[walk]\npulse_strength = 1.6\n",
}
MIDI = '[[midi]]\ncc = 1\nkey = "effects.vignette"\nmin = 0.0\nmax = 0.6\n\n[[midi]]\nnote = 36\naction = "scene-next"\n'


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def osc(address: str, *args) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--control", action="store_true", help="scenes, OSC in and out, MIDI fader and clock")
    p.add_argument("--scene-every", type=float, default=20.0)
    p.add_argument("--window-size", default="1280x720")
    args = p.parse_args()
    seconds = args.minutes * 60.0

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        display = stack.enter_context(virtual_display())
        mic = stack.enter_context(virtual_microphone())
        midi = stack.enter_context(virtual_midi()) if args.control else {}
        scenes = tmp / "scenes"
        scenes.mkdir()
        for name, text in SCENES.items():
            (scenes / f"{name}.toml").write_text(text)
        settings = tmp / "show.toml"
        settings.write_text("[show]\nscene_fade_s = 2.0\n\n" + MIDI)
        song = write_wav(tmp / "loop.wav", demo_loop(sample_rate=48000, bars=16), 48000)
        beats = int((seconds + 30) * 128 / 60)
        controller = None if not args.control else subprocess.Popen(
            [sys.executable, "-m", "visualizer.tools.midi_source", "--clock-at", "0", "--beats", str(beats),
             "--sweep-hz", "30"], env=dict(os.environ, **midi), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        if controller is not None:
            stack.callback(controller.kill)  # whatever happens, no controller is left behind
            assert controller.stdout.readline().strip() == "ready"
        sink = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        sink.bind(("127.0.0.1", 0))
        port = free_udp_port()
        log = tmp / "frames.jsonl"
        show = subprocess.Popen(
            [sys.executable, "-m", "visualizer", "--input", "mic", "--device", "pulse", "--frame-log", str(log),
             "--window-size", args.window_size, "--duration", str(seconds),
             *(["--settings", str(settings), "--scenes", str(scenes), "--osc", str(port),
                "--osc-out", f"127.0.0.1:{sink.getsockname()[1]}", "--midi", "test-controller"] if args.control else [])],
            env=dict(mic, **midi, DISPLAY=display), stderr=subprocess.PIPE, text=True)
        first = show.stderr.readline()
        if "live from" not in first:
            sys.exit(f"the show did not start: {first}{show.stderr.read()}")
        start = time.monotonic()
        if controller is not None:
            controller.stdin.write("go\n")
            controller.stdin.flush()
        player = _Looper(song, mic)
        memory, changes, next_change = [], 0, start + args.scene_every
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while show.poll() is None:
            now = time.monotonic()
            player.keep_playing()
            if controller is not None and now >= next_change:
                if changes % 2 == 0:
                    sender.sendto(osc("/visualizer/scene/next"), ("127.0.0.1", port))
                else:
                    controller.stdin.write("note 36\n")
                    controller.stdin.flush()
                changes += 1
                next_change += args.scene_every
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                memory.append((now - start, rss_mb(show.pid)))
            time.sleep(1.0)
        err = show.stderr.read()
        player.stop()
        frames = [json.loads(line) for line in log.read_text().splitlines()]

    presented = np.array([f["presented"] for f in frames])
    seconds_in = np.floor(presented - presented[0]).astype(int)
    per_second = np.bincount(seconds_in)[2:-1]  # whole seconds, after the window's first two
    scenes_seen = len({f["scene"] for f in frames if f["scene"]})
    # From the first minute (the model and the listener loaded) to 5 s before the end (the show closing frees it).
    mem = np.array([m for t, m in memory if 60.0 <= t <= seconds - 5.0])
    control = f", scene change every {args.scene_every:g} s (OSC and MIDI in turn)" if args.control else ""
    print(f"machine: {Path('/proc/sys/kernel/hostname').read_text().strip()}, {args.minutes:g} min, window "
          f"{args.window_size} on Xvfb{control}")
    print(f"{'measure':44s} {'value':>10s}")
    if args.control:
        print(f"{'scene changes sent / scenes shown':44s} {changes:>5d} / {scenes_seen}")
    if len(mem):
        print(f"{'resident memory at 1 min / end (MB)':44s} {mem[0]:6.1f} / {mem[-1]:6.1f}")
        print(f"{'memory growth after the first minute (MB)':44s} {mem[-1] - mem[0]:10.1f}")
        print(f"{'memory peak after the first minute (MB)':44s} {mem.max():10.1f}")
    print(f"{'input overflows':44s} {frames[-1]['overflows']:10d}")
    print(f"{'display: slowest second (frames)':44s} {per_second.min():10d}")
    print(f"{'display: median second (frames)':44s} {int(np.median(per_second)):10d}")
    print(f"{'seconds under 30 frames':44s} {int((per_second < 30).sum()):10d}")
    for line in err.splitlines():
        if line.startswith("show control:") or line.startswith("live:"):
            print(line)


class _Looper:
    """Keeps the song playing into the microphone, start to end again."""

    def __init__(self, song: Path, env: dict) -> None:
        self.song, self.env = song, env
        self.player = play_into_mic(song, env)

    def keep_playing(self) -> None:
        if self.player.poll() is not None:
            self.player = play_into_mic(self.song, self.env)

    def stop(self) -> None:
        self.player.kill()


if __name__ == "__main__":
    main()
