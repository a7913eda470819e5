"""OSC over UDP (python-osc for the format): commands in, what the analyzer hears out.

In (``--osc PORT``): ``/visualizer/set KEY VALUE``, ``/visualizer/scene NAME``,
``/visualizer/scene/next``, ``/visualizer/scene/previous``, ``/visualizer/keyframes/next``,
``/visualizer/freeze [0|1]``, ``/visualizer/tap``. Each is answered to its sender with
``/visualizer/ok TEXT`` or ``/visualizer/error TEXT`` once the show has acted on it.

Out (``--osc-out HOST:PORT``): ``/onset strength``, ``/beat index``, ``/bar index``,
``/tempo bpm confidence``, ``/levels loudness bass mid treble`` and ``/tags name value ...``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from typing import Callable

import numpy as np

from visualizer.control.commands import Command, CommandQueue
from visualizer.errors import UserError

PREFIX = "/visualizer"
ADDRESSES = {
    f"{PREFIX}/set": "set",
    f"{PREFIX}/scene": "scene",
    f"{PREFIX}/scene/next": "scene-next",
    f"{PREFIX}/scene/previous": "scene-previous",
    f"{PREFIX}/keyframes/next": "keyframes-next",
    f"{PREFIX}/freeze": "freeze",
    f"{PREFIX}/tap": "tap",
}


class OscError(UserError):
    """An OSC port that cannot be opened, or an address that cannot be reached."""


def host_port(text: str, *, default_host: str = "127.0.0.1", what: str = "--osc-out") -> tuple[str, int]:
    """("host", port) from "HOST:PORT" or "PORT" (``default_host``); an OscError naming ``what`` otherwise."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise OscError(f"{what} {text!r} is not HOST:PORT (e.g. 127.0.0.1:9001) or a port 1-65535")
    return host or default_host, int(port)


def _message(address: str, *args) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder(address=address)
    for a in args:
        builder.add_arg(float(a) if isinstance(a, (np.floating, np.integer)) and not isinstance(a, np.integer)
                        else int(a) if isinstance(a, np.integer) else a)
    return builder.build().dgram


class OscIn:
    """A UDP socket on its own thread: OSC messages -> Commands in ``queue``; mistakes -> ``on_error(line)``."""

    def __init__(self, port: int, queue: CommandQueue, on_error: Callable[[str], None], host: str = "0.0.0.0") -> None:
        """``port`` 0 takes any free one (``self.port`` says which); every interface listens by default, so a
        controller app on a phone or a lighting desk on the network reaches the show."""
        number = int(port)
        self.queue, self.on_error = queue, on_error
        self.received = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, number))
        except OSError as exc:
            self._sock.close()
            reason = "is in use by another program" if exc.errno == 98 else f"cannot be opened ({exc.strerror})"
            raise OscError(f"OSC port {number} {reason}; pick another with --osc PORT") from None
        self.port = self._sock.getsockname()[1]
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="osc-in", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self._sock.close()

    def _reply(self, sender: tuple[str, int]) -> Callable[[bool, str], None]:
        def reply(ok: bool, text: str) -> None:
            try:
                self._sock.sendto(_message(f"{PREFIX}/{'ok' if ok else 'error'}", text), sender)
            except OSError:
                pass  # a sender that went away needs no answer
        return reply

    def _run(self) -> None:
        from pythonosc.osc_packet import OscPacket, ParseError

        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(65536)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.received += 1
            origin = f"OSC from {sender[0]}:{sender[1]}"
            try:
                messages = [m.message for m in OscPacket(data).messages]
            except (ParseError, ValueError, IndexError, UnicodeDecodeError):
                self._refuse(sender, f"malformed OSC packet ({len(data)} bytes) from {sender[0]}:{sender[1]} ignored; "
                                     "send OSC 1.0 messages such as /visualizer/set effects.zoom 1.4")
                continue
            for message in messages:
                self._handle(message.address, tuple(message.params), sender, origin)

    def _refuse(self, sender, text: str) -> None:
        self.on_error(text)
        self._reply(sender)(False, text)

    def _handle(self, address: str, params: tuple, sender, origin: str) -> None:
        name = ADDRESSES.get(address.rstrip("/"))
        if name is None:
            self._refuse(sender, f"unknown OSC address {address}; known: {', '.join(ADDRESSES)}")
            return
        if name == "set" and (len(params) != 2 or not isinstance(params[0], str)):
            self._refuse(sender, f"{address} takes a key and a value, e.g. {PREFIX}/set effects.zoom 1.4")
            return
        if name == "scene" and len(params) != 1:
            self._refuse(sender, f"{address} takes a scene's name or number, e.g. {PREFIX}/scene chorus")
            return
        # OSC floats are 32-bit: 1.7 arrives as 1.7000000476837158; seven digits are what was sent.
        params = tuple(float(f"{p:.7g}") if isinstance(p, float) else p for p in params)
        self.queue.put(Command(name, params, origin, self._reply(sender)))


class OscOut:
    """Sends what the analyzer hears to ``target`` ("HOST:PORT"), from the analysis thread as it hears it.

    ``latencies`` keeps, for the newest onsets, seconds from the onset's capture to its message leaving.
    """

    def __init__(self, target: str, *, levels_hz: float = 30.0, tags_s: float = 1.0) -> None:
        self.address = host_port(target)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.connect(self.address)  # resolves the host now, so a bad one is a start-up error
        except OSError as exc:
            self._sock.close()
            raise OscError(f"--osc-out {target}: cannot send there ({exc.strerror or exc}); give HOST:PORT of "
                           "the receiving program") from None
        self.levels_interval_s = 1.0 / levels_hz
        self.tags_interval_s = tags_s
        self._next_levels = 0.0
        self._next_tags = 0.0
        self.beats = 0
        self.sent = 0
        self.latencies: deque[float] = deque(maxlen=2000)
        self.errors = 0

    def close(self) -> None:
        self._sock.close()

    def send(self, address: str, *args) -> None:
        try:
            self._sock.send(_message(address, *args))
            self.sent += 1
        except OSError:  # nobody listening (ICMP refused) must not stop the analysis
            self.errors += 1

    def heard(self, track, onset_captures: list[float], now: float) -> None:
        """One analysis step's rows (a FeatureTrack): events as they are, levels and tempo at most at their rates;
        ``onset_captures`` are the monotonic capture times of the track's onsets, in order."""
        # One message per onset: the row that reports it (a hit straddling two rows may raise the next row too).
        onsets = np.flatnonzero(~np.isnan(track.onset_time_s))
        for i, row in enumerate(onsets):
            self.send("/onset", float(track.onset[row]))
            if i < len(onset_captures):
                self.latencies.append(time.monotonic() - onset_captures[i])
        for row in np.flatnonzero(track.beat > 0):
            self.send("/beat", self.beats)
            self.beats += 1
            self.send("/tempo", float(track.tempo_bpm[row]), float(track.tempo_confidence[row]))
            if track.bar[row] > 0:
                self.send("/bar", int(track.bar_index[row]))
        if now >= self._next_levels:
            self._next_levels = now + self.levels_interval_s
            bass, mid, treble = (float(v) for v in track.bands[-1])
            self.send("/levels", float(track.loudness[-1]), bass, mid, treble)

    def tags(self, names: tuple[str, ...], values: np.ndarray, now: float) -> None:
        """The listener's tags, at most once per ``tags_s``: /tags name value name value ..."""
        if now < self._next_tags:
            return
        self._next_tags = now + self.tags_interval_s
        args: list = []
        for name, value in zip(names, values):
            args += [name, float(value)]
        self.send("/tags", *args)

    def latency_ms(self) -> tuple[float, float] | None:
        """(p50, p95) of capture -> sent for onsets, in milliseconds; None before the first onset."""
        if not self.latencies:
            return None
        values = 1000.0 * np.asarray(self.latencies)
        return float(np.percentile(values, 50)), float(np.percentile(values, 95))
