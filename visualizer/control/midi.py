"""MIDI in (python-rtmidi on ALSA or JACK, mido to read the bytes): controls and notes -> Commands, clock -> BeatClock.

The ``[[midi]]`` settings bind a control change or a note to a setting (the controller's 0..127
through a curve into min..max) or to an action (scene, keyframes, freeze, tap). MIDI clock,
Start, Stop, Continue and Song Position drive the BeatClock. Learning (the L key) binds the
next control that moves to a setting picked from the keyboard.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Callable

from visualizer.control.clock import BeatClock
from visualizer.control.commands import Command, CommandQueue
from visualizer.errors import UserError
from visualizer.mapping.envelopes import shape
from visualizer.settings import MidiBinding



# MIDI learn: after a control moves, the key pressed names its target (setting, min, max) or action.
LEARN_KEYS = {
    "Z": ("effects.zoom", 0.5, 2.0), "V": ("effects.vignette", 0.0, 1.0), "G": ("effects.grain", 0.0, 0.5),
    "U": ("effects.hue_drift_deg_per_s", -90.0, 90.0), "S": ("walk.base_speed", 0.0, 1.0),
    "P": ("walk.pulse_strength", 0.0, 3.0), "W": ("listen.wander", 0.0, 1.0), "M": ("listen.smoothing_s", 0.0, 4.0),
    "SPACE": "freeze", "N": "keyframes-next", "T": "tap", "RIGHT": "scene-next", "LEFT": "scene-previous",
    **{str(i): f"scene:{i}" for i in range(1, 10)},
}


def learned_binding(kind: str, number: int, channel: int, key: str) -> MidiBinding | None:
    """The binding MIDI learn makes of a control (``kind`` "cc" or "note", its number and channel) and the
    pressed key's name (pyglet's, e.g. "Z", "SPACE", "_1"); None for a key that names no target."""
    target = LEARN_KEYS.get(key.lstrip("_").upper())
    if target is None:
        return None
    where = {"cc": number} if kind == "cc" else {"note": number}
    if isinstance(target, str):
        return MidiBinding(**where, channel=channel, action=target)
    name, lo, hi = target
    return MidiBinding(**where, channel=channel, key=name, min=lo, max=hi)


def binding_toml(binding: MidiBinding) -> str:
    """The binding as a settings file's [[midi]] table (lines joined by newlines)."""
    parts = [f"cc = {binding.cc}" if binding.cc >= 0 else f"note = {binding.note}", f"channel = {binding.channel}"]
    parts += [f'key = "{binding.key}"', f"min = {binding.min}", f"max = {binding.max}"] if binding.key else \
        [f'action = "{binding.action}"']
    return "\n".join(["[[midi]]", *parts])


class MidiError(UserError):
    """No MIDI system, or no port of the given name."""


def pick_api(setting: str) -> str:
    """"alsa" or "jack" for show.midi_api: auto takes ALSA's sequencer where the kernel has one, else JACK."""
    if setting != "auto":
        return setting
    return "alsa" if os.path.exists("/dev/snd/seq") else "jack"


def _rtmidi_in(api: str):
    import rtmidi

    return rtmidi.MidiIn(rtapi=rtmidi.API_LINUX_ALSA if api == "alsa" else rtmidi.API_UNIX_JACK,
                         name="visualizer", queue_size_limit=4096)


def input_names(api: str) -> list[str]:
    try:
        probe = _rtmidi_in(api)
        try:
            return list(probe.get_ports())
        finally:
            probe.delete()
    except Exception as exc:  # rtmidi raises SystemError and friends when the MIDI system is absent
        raise MidiError(f"no {api.upper()} MIDI system here ({str(exc).splitlines()[0][:80]}); "
                        + ("start jackd, or set show.midi_api = \"alsa\"" if api == "jack"
                           else "load the snd-seq module, or set show.midi_api = \"jack\" with jackd running")) from None


def find_port(name: str, api: str) -> str:
    """The input port whose name contains ``name`` (case-insensitive); a MidiError listing the ports otherwise."""
    names = input_names(api)
    matches = [n for n in names if name.lower() in n.lower()]
    if len(matches) == 1 or (matches and name in matches):
        return name if name in matches else matches[0]
    listed = ", ".join(repr(n) for n in names) or "none"
    if matches:
        raise MidiError(f"MIDI input {name!r} matches several ports ({', '.join(map(repr, matches))}); "
                        "give more of the name")
    raise MidiError(f"no MIDI input port {name!r}; the ports are: {listed}")


def binding_value(binding: MidiBinding, value: int) -> float:
    """A controller's 0..127 through the binding's curve into its min..max."""
    return binding.min + (binding.max - binding.min) * shape(value / 127.0, binding.curve)


class MidiIn:
    """An open MIDI input; its messages become Commands (bindings) and BeatClock calls (clock)."""

    def __init__(self, name: str, bindings: list[MidiBinding], queue: CommandQueue, clock: BeatClock, *,
                 api: str = "auto") -> None:
        self.api = pick_api(api)
        self.port_name = find_port(name, self.api)
        self.bindings = list(bindings)
        self.queue, self.clock = queue, clock
        self.received = 0
        self.learning = False
        self.learned: tuple[str, int, int] | None = None  # ("cc" or "note", number, channel 1-16) seen in learn mode
        self.on_learn: Callable[[str, int, int], None] | None = None
        self._lock = threading.Lock()
        self._elapsed = 0.0                      # the transport's own clock: sum of the messages' time deltas
        self._offsets: deque[float] = deque(maxlen=256)  # arrival (monotonic s) less that clock, per message
        try:
            self._port = _rtmidi_in(self.api)
            self._port.ignore_types(sysex=True, timing=False, active_sense=True)  # clock is wanted
            self._port.open_port(input_names(self.api).index(self.port_name), "visualizer in")
        except Exception as exc:
            raise MidiError(f"cannot open MIDI input {self.port_name!r} ({str(exc).splitlines()[0][:80]})") from None
        # rtmidi queues the messages with their times and this thread takes them: a Python callback would
        # run inside JACK's process cycle, and waiting there for the interpreter stalls every JACK client.
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="midi-in", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._port.close_port()
        self._port.delete()

    def _poll(self, interval_s: float = 0.002) -> None:
        while not self._stop.is_set():
            event = self._port.get_message()
            if event is None:
                self._stop.wait(interval_s)
                continue
            self._raw(event)

    def _raw(self, event, _data=None) -> None:
        """One message from rtmidi: (bytes, seconds since the previous message, as the transport timed them)."""
        import mido

        data, delta = event
        arrived = time.monotonic()
        # The transport times each message where it happened; this thread sees it up to a poll later (or
        # more, when the interpreter is busy). The earliest arrival against the transport's clock is the
        # least delayed, and puts its clock on ours.
        self._elapsed += delta
        self._offsets.append(arrived - self._elapsed)
        at = self._elapsed + min(self._offsets)
        try:
            message = mido.Message.from_bytes(data)
        except (ValueError, TypeError):
            return  # a malformed message from a controller is not worth a word mid-show
        self._callback(message, at)

    def bind(self, binding: MidiBinding) -> None:
        """Add a binding while the show runs (MIDI learn); a newer binding of the same control wins."""
        with self._lock:
            self.bindings = [b for b in self.bindings
                             if not (b.cc == binding.cc and b.note == binding.note and b.channel == binding.channel)]
            self.bindings.append(binding)

    def _callback(self, message, now: float) -> None:
        self.received += 1
        kind = message.type
        if kind == "clock":
            self.clock.pulse(now)
        elif kind == "start":
            self.clock.start()
        elif kind == "stop":
            self.clock.stop()
        elif kind == "continue":
            self.clock.proceed()
        elif kind == "songpos":
            self.clock.song_position(message.pos)
        elif kind == "control_change":
            self._control("cc", message.control, message.value, message.channel + 1)
        elif kind == "note_on" and message.velocity > 0:
            self._control("note", message.note, message.velocity, message.channel + 1)

    def _control(self, kind: str, number: int, value: int, channel: int) -> None:
        if self.learning:
            self.learned = (kind, number, channel)
            self.learning = False
            if self.on_learn is not None:
                self.on_learn(kind, number, channel)
            return
        with self._lock:
            bindings = list(self.bindings)
        for b in bindings:
            if (b.cc if kind == "cc" else b.note) != number or (b.channel and b.channel != channel):
                continue
            origin = f"MIDI {kind} {number} (channel {channel})"
            if b.key:
                self.queue.put(Command("set", (b.key, binding_value(b, value)), origin))
            elif b.action.startswith("scene:"):
                self.queue.put(Command("scene", (b.action.partition(":")[2],), origin))
            elif b.action == "freeze":
                self.queue.put(Command("freeze", (), origin))
            else:
                self.queue.put(Command(b.action, (), origin))
