"""A MIDI controller and clock on a JACK server, for tests and benchmarks of show control.

    python -m visualizer.tools.midi_source --port test-controller [--cc-at 1.0] [--clock-at 2.0 --beats 12]
        [--bpm 128] [--sweep-hz 30]

Opens a virtual MIDI output port, prints "ready", waits for a line on stdin, then from that moment
sends control change 1 = 127 at ``--cc-at`` seconds, MIDI Start and ``--beats`` quarter notes of
clock (24 pulses each) from ``--clock-at``, then Stop; with ``--sweep-hz`` also a control change 1
sweep (a fader moving) that often until the clock ends. Prints one JSON line: when the control
change went and when each quarter note's first pulse went (monotonic seconds, the show's clock);
after that each stdin line "note N" or "cc N VALUE" sends that message, until stdin closes.
It runs as its own process, as a drum machine or DJ software would, so the show's load does not
move its timing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", default="test-controller")
    p.add_argument("--cc-at", type=float, default=-1.0, help="seconds after 'go' of the one control change (<0: none)")
    p.add_argument("--clock-at", type=float, default=-1.0, help="seconds after 'go' the clock starts (<0: none)")
    p.add_argument("--beats", type=int, default=12)
    p.add_argument("--bpm", type=float, default=128.0)
    p.add_argument("--sweep-hz", type=float, default=0.0)
    args = p.parse_args()

    import mido

    port = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).open_output(args.port, virtual=True)
    print("ready", flush=True)
    sys.stdin.readline()
    go = time.monotonic()
    result: dict = {"cc": None, "quarters": []}

    def until(t: float) -> None:
        # Asleep until just before, then short naps: on time to a fraction of a millisecond for little CPU.
        time.sleep(max(0.0, t - time.monotonic() - 0.002))
        while time.monotonic() < t:
            time.sleep(0.0002)

    if args.cc_at >= 0:
        until(go + args.cc_at)
        port.send(mido.Message("control_change", control=1, value=127))
        result["cc"] = time.monotonic()
    if args.clock_at >= 0:
        until(go + args.clock_at)
        interval = 60.0 / args.bpm / 24
        port.send(mido.Message("start"))
        next_at = next_sweep = time.monotonic()
        for i in range(24 * args.beats):
            until(next_at)
            port.send(mido.Message("clock"))
            if i % 24 == 0:
                result["quarters"].append(time.monotonic())
            if args.sweep_hz > 0 and time.monotonic() >= next_sweep:
                level = 0.5 + 0.5 * math.sin(math.pi * (time.monotonic() - go))  # one sweep up and down in 2 s
                port.send(mido.Message("control_change", control=1, value=round(127 * level)))
                next_sweep += 1.0 / args.sweep_hz
            next_at += interval
        port.send(mido.Message("stop"))
    print(json.dumps(result), flush=True)
    # Then, until stdin closes, one message per line: "note N" (a pad hit) or "cc N VALUE".
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["note"]:
            port.send(mido.Message("note_on", note=int(words[1]), velocity=100))
            port.send(mido.Message("note_off", note=int(words[1])))
        elif words[:1] == ["cc"]:
            port.send(mido.Message("control_change", control=int(words[1]), value=int(words[2])))
    port.close()


if __name__ == "__main__":
    main()
