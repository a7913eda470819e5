"""Commands from outside the window (OSC, MIDI) waiting for the display thread.

OSC and MIDI arrive on their own threads; the show acts on them once per display frame, on
the display thread, so a setting never changes halfway through a frame. The queue is bounded
and drops the oldest command when nobody takes them.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

# What a command may ask (``Command.name``), and what its ``args`` are.
COMMANDS = {
    "set": "KEY VALUE: set one setting, validated as a settings file is",
    "scene": "NAME or NUMBER: switch to a scene of --scenes (NUMBER counts from 1, as the keys do)",
    "scene-next": "the next scene",
    "scene-previous": "the previous scene",
    "keyframes-next": "draw a new set of keyframes (as the N key)",
    "freeze": "1 freezes the picture, 0 lets it run again; no argument toggles",
    "tap": "one tap of the tempo (as the T key)",
}


@dataclass(frozen=True)
class Command:
    """One request: ``name`` (a key of COMMANDS), its ``args``, who sent it (``origin``, for messages) and
    ``reply``, told ``(ok, text)`` once the show has acted on it (OSC answers its sender with it)."""

    name: str
    args: tuple[Any, ...] = ()
    origin: str = ""
    reply: Callable[[bool, str], None] | None = None


class CommandQueue:
    """Many producers (OSC, MIDI threads), one consumer (the display thread); at most ``capacity`` waiting."""

    def __init__(self, capacity: int = 256) -> None:
        self._items: deque[Command] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, command: Command) -> None:
        with self._lock:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(command)

    def drain(self) -> list[Command]:
        """Everything waiting, oldest first; of several 'set's of one key only the newest is kept (a MIDI
        fader sends hundreds a second, and only where it ends matters)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
        newest_set: dict[Any, int] = {}
        for i, c in enumerate(items):
            if c.name == "set" and c.args and c.reply is None:
                newest_set[c.args[0]] = i
        return [c for i, c in enumerate(items)
                if not (c.name == "set" and c.args and c.reply is None and newest_set.get(c.args[0]) != i)]
