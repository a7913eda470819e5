"""Bounded hand-offs between threads: a sample ring buffer and a newest-value slot.

Both drop the oldest data when the reader falls behind, so a slow stage loses work
instead of adding latency.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


class SampleRing:
    """Single-producer, single-consumer ring of float32 samples.

    ``write`` is safe to call from an audio callback: it copies into preallocated memory,
    takes no lock and never blocks. ``read`` returns what arrived since the last read;
    if more than ``capacity`` samples arrived, the oldest are skipped and counted in
    ``dropped``.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._data = np.zeros(self.capacity, np.float32)
        self._written = 0  # total samples ever written; published after the copy
        self._read = 0
        self.dropped = 0

    @property
    def written(self) -> int:
        return self._written

    @property
    def read_position(self) -> int:
        """Total samples ever written up to the end of the last ``read``."""
        return self._read

    def write(self, samples: np.ndarray) -> None:
        total = len(samples)
        if total > self.capacity:  # only the newest capacity samples can be kept
            samples = samples[-self.capacity:]
        n = len(samples)
        start = (self._written + total - n) % self.capacity
        first = min(n, self.capacity - start)
        self._data[start:start + first] = samples[:first]
        if first < n:
            self._data[: n - first] = samples[first:]
        self._written += total

    def latest(self, n: int) -> np.ndarray:
        """A copy of the newest ``n`` samples (zeros before the first ones), without consuming them; for a
        second reader that only ever wants the recent past (the listener)."""
        n = min(int(n), self.capacity)
        end = self._written
        out = np.zeros(n, np.float32)
        have = min(n, end)
        start = (end - have) % self.capacity
        first = min(have, self.capacity - start)
        out[n - have:n - have + first] = self._data[start:start + first]
        out[n - have + first:] = self._data[:have - first]
        return out

    def read(self) -> np.ndarray:
        """The samples written since the previous read (a new array), oldest first."""
        end = self._written
        begin = max(self._read, end - self.capacity)
        self.dropped += begin - self._read
        self._read = end
        n = end - begin
        start = begin % self.capacity
        if start + n <= self.capacity:
            return self._data[start:start + n].copy()
        return np.concatenate([self._data[start:], self._data[: n - (self.capacity - start)]])


class LatestSlot(Generic[T]):
    """Holds only the newest value; readers see each value at most once via its sequence number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._value: T | None = None
        self._seq = 0

    def put(self, value: T) -> None:
        with self._cond:
            self._value = value
            self._seq += 1
            self._cond.notify_all()

    def newest(self) -> tuple[int, T | None]:
        """(sequence number, value); sequence 0 means nothing was put yet."""
        with self._lock:
            return self._seq, self._value

    def wait_newer(self, seq: int, timeout_s: float) -> tuple[int, T | None]:
        """Block until a value newer than ``seq`` arrives (or the timeout); returns ``newest()``."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq, timeout=timeout_s)
            return self._seq, self._value
