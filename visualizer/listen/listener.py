"""The listener: what kind of music the last 3 seconds were, as tags and an embedding.

The bundled listener is one small network (``visualizer.listen.student``) distilled from two
musicnn networks, the MagnaTagATune one (instruments, voices, energy) and the Million Song Dataset
one (genres, moods), hearing in about a tenth of their time (docs/benchmarks.md). It gives what
they give together: the music embedding [400] (their penultimate features side by side) the music
map places in a generator's latent space, and the tag probabilities (a tag both know is their
mean) that ``visualizer analyze`` shows and settings can tie picture qualities to. The teachers themselves (``Listener.teachers``)
take turns when heard as a listener: one update every ``update_s``, each network every other one.

The same windows are heard live and offline: one ends every ``update_s`` seconds of stream time,
and a window that would reach back before the stream's start is padded with silence, so a render
hears what the live show heard at the same moment of the song. Before a network's first window
its part of the state reads zeros.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from visualizer.listen.musicnn import SAMPLE_RATE, WINDOW_SAMPLES, Musicnn, load_musicnn, log_mel
from visualizer.listen.student import Student, load_student
from visualizer.models.io import CHECKPOINT_DIR

LISTENER_FILE = "listen-small.safetensors"
TEACHER_FILES = ("musicnn-mtt.safetensors", "musicnn-msd.safetensors")
WINDOW_S = WINDOW_SAMPLES / SAMPLE_RATE


@dataclass(frozen=True)
class MusicState:
    """What the listener heard in the window ending at ``time_s``: tag probabilities [tags] (0..1,
    names in ``Listener.tags``) and the embedding [400]."""

    time_s: float
    tags: np.ndarray
    embedding: np.ndarray


@dataclass(frozen=True)
class MusicTrack:
    """Listener output over a stream: ``time_s`` [K] (window ends), ``tags`` [K, tags], ``embedding`` [K, 400]."""

    time_s: np.ndarray
    tags: np.ndarray
    embedding: np.ndarray

    def __len__(self) -> int:
        return len(self.time_s)

    def joined(self, later: "MusicTrack") -> "MusicTrack":
        """This track followed by ``later``'s states."""
        return MusicTrack(np.concatenate([self.time_s, later.time_s]), np.concatenate([self.tags, later.tags]),
                          np.concatenate([self.embedding, later.embedding]))

    def since(self, time_s: float) -> "MusicTrack":
        """The states ``at`` reads from ``time_s`` on: the newest one by then and all later ones."""
        k = max(0, int(np.searchsorted(self.time_s, time_s + 1e-9, side="right")) - 1)
        return MusicTrack(self.time_s[k:], self.tags[k:], self.embedding[k:])

    def at(self, time_s: float) -> MusicState | None:
        """The newest state heard by ``time_s`` (None before the first window ends)."""
        k = int(np.searchsorted(self.time_s, time_s + 1e-9, side="right")) - 1
        if k < 0:
            return None
        return MusicState(float(self.time_s[k]), self.tags[k], self.embedding[k])


class Listener:
    """Tagging networks (each giving tag logits and its part of the embedding for log-mel windows)
    and the tag vocabulary they share."""

    def __init__(self, nets: list[Musicnn | Student], *, threads: int = 0) -> None:
        self.nets = nets
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None  # two threads for ``hear_many``, made on first use

    @classmethod
    def bundled(cls, folder: Path = CHECKPOINT_DIR, **kwargs) -> "Listener":
        """The listener renders and shows hear with: the small network distilled from the teachers."""
        return cls([load_student(folder / LISTENER_FILE)], **kwargs)

    @classmethod
    def teachers(cls, folder: Path = CHECKPOINT_DIR, **kwargs) -> "Listener":
        """The two musicnn networks the small one learnt from (what ``distill`` trains it on)."""
        return cls([load_musicnn(folder / name) for name in TEACHER_FILES], **kwargs)

    @cached_property
    def tags(self) -> tuple[str, ...]:
        """Every tag name once (lower case), in the order the networks list them."""
        names: list[str] = []
        for net in self.nets:
            names += [t.lower() for t in net.cfg.tags if t.lower() not in names]
        return tuple(names)

    @cached_property
    def _tag_matrix(self) -> np.ndarray:
        """[all logits, tags]: averages each tag over the networks that have it."""
        columns = [t.lower() for net in self.nets for t in net.cfg.tags]
        m = np.zeros((len(columns), len(self.tags)), np.float32)
        for i, name in enumerate(columns):
            m[i, self.tags.index(name)] = 1.0
        return m / m.sum(axis=0, keepdims=True)

    @property
    def embedding_dim(self) -> int:
        return sum(net.cfg.backend_units for net in self.nets)

    def _tag_columns(self, net: int) -> slice:
        start = sum(len(n.cfg.tags) for n in self.nets[:net])
        return slice(start, start + len(self.nets[net].cfg.tags))

    def _embedding_columns(self, net: int) -> slice:
        start = sum(n.cfg.backend_units for n in self.nets[:net])
        return slice(start, start + self.nets[net].cfg.backend_units)

    @torch.no_grad()
    def hear_with(self, net: int, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network ``net`` on windows of 16 kHz mono audio [B, WINDOW_SAMPLES]: (tag probabilities [B, its
        tags], its part of the embedding [B, its units])."""
        return self.hear_many([(net, windows)])[0]

    @torch.no_grad()
    def hear_many(self, jobs: list[tuple[int, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``hear_with`` for each (network, windows) of ``jobs``, two at a time on two threads: each
        network's small convolutions run best on one core, so two of them side by side use two."""
        threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)  # once for both threads: the setting is the process's
        try:
            if len(jobs) == 1 or self.threads != 1 or (os.cpu_count() or 1) < 2:
                return [self._run(net, windows) for net, windows in jobs]
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="listener")
            return list(self._pool.map(lambda job: self._run(*job), jobs))
        finally:
            torch.set_num_threads(threads)

    def _run(self, net: int, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mel = torch.from_numpy(np.stack([log_mel(w) for w in windows]))
        logits, embedding = self.nets[net](mel)
        return torch.sigmoid(logits).numpy(), embedding.numpy()

    def empty_state(self) -> tuple[np.ndarray, np.ndarray]:
        """(all logits' probabilities [sum of tags], embedding [400]) before anything was heard: zeros."""
        return (np.zeros(sum(len(n.cfg.tags) for n in self.nets), np.float32),
                np.zeros(self.embedding_dim, np.float32))

    def update(self, probs: np.ndarray, embedding: np.ndarray, net: int, window: np.ndarray) -> None:
        """Refresh network ``net``'s part of a running state (``probs``, ``embedding``) from one window, in place."""
        window = np.asarray(window, np.float32)[-WINDOW_SAMPLES:]
        window = np.pad(window, (WINDOW_SAMPLES - len(window), 0))  # a resampled window may be a sample short
        p, e = self.hear_with(net, window[None])
        probs[self._tag_columns(net)] = p[0]
        embedding[self._embedding_columns(net)] = e[0]

    def tags_of(self, probs: np.ndarray) -> np.ndarray:
        """All networks' tag probabilities [..., sum of tags] -> one per tag name [..., tags]."""
        return probs @ self._tag_matrix

    def track(self, audio_16k: np.ndarray, update_s: float, batch: int = 2) -> MusicTrack:
        """Hear a whole stream of 16 kHz mono audio [N] as the live listener would: one update every
        ``update_s`` s, the networks taking turns (update k is network k mod 2's, on the window ending then).

        ``batch`` windows go through a network at once; more than two is slower on a CPU (the
        activations of a batch of 8 outgrow the caches: 105 against 45 ms a window on one core)."""
        hearing = self.stream(update_s, batch)
        hearing.feed(audio_16k)
        return hearing.finish()

    def stream(self, update_s: float, batch: int = 2) -> "Hearing":
        """``track`` of a stream fed a block at a time (``Hearing.feed``), holding only a window of it."""
        return Hearing(self, update_s, batch)


class Hearing:
    """A Listener's track of a stream of 16 kHz mono audio fed in blocks of any size: the same rows as
    ``Listener.track`` of the whole stream, holding only the samples the next windows need."""

    def __init__(self, listener: Listener, update_s: float, batch: int) -> None:
        self.listener, self.update_s, self.batch = listener, update_s, batch
        self._held = np.zeros(WINDOW_SAMPLES, np.float32)  # silence before the stream's start
        self._held_from = -WINDOW_SAMPLES                   # stream sample of _held[0]
        self._taken = 0                                     # updates whose window has been cut
        self._waiting: dict[int, list[tuple[int, np.ndarray]]] = {n: [] for n in range(len(listener.nets))}
        self._heard: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._state = listener.empty_state()
        self._rows: list[tuple[np.ndarray, np.ndarray]] = []  # states not yet taken
        self._given = 0                                         # states taken before those

    def _end(self, k: int) -> int:
        """The stream sample that update ``k``'s window ends before."""
        return int(round((k + 1) * self.update_s * SAMPLE_RATE))

    def feed(self, audio_16k: np.ndarray) -> None:
        """The next samples of the stream, float32 [n]."""
        self._held = np.concatenate([self._held, np.asarray(audio_16k, np.float32)])
        fed = self._held_from + len(self._held)
        nets = len(self.listener.nets)
        while self._taken < int(fed / SAMPLE_RATE / self.update_s + 1e-9):
            k = self._taken
            end = self._end(k) - self._held_from
            net = k % nets
            self._waiting[net].append((k, self._held[end - WINDOW_SAMPLES:end].copy()))
            self._taken += 1
        self._hear()
        keep = self._end(self._taken) - WINDOW_SAMPLES - self._held_from
        if keep > 0:
            self._held, self._held_from = self._held[keep:], self._held_from + keep

    def _hear(self, final: bool = False) -> None:
        """Hear the waiting windows ``batch`` at a time (at the ``final`` end of the stream, those left
        over too), the networks side by side."""
        jobs, keys = [], []
        for net, waiting in self._waiting.items():
            full = len(waiting) if final else len(waiting) - len(waiting) % self.batch
            self._waiting[net] = waiting[full:]
            for i in range(0, full, self.batch):
                ks, windows = zip(*waiting[i:i + self.batch])
                jobs.append((net, np.stack(windows)))
                keys.append(ks)
        for ks, (probs, embedding) in zip(keys, self.listener.hear_many(jobs) if jobs else []):
            self._heard.update({k: (p, e) for k, p, e in zip(ks, probs, embedding)})
        probs, embedding = self._state
        while self._given + len(self._rows) in self._heard:
            k = self._given + len(self._rows)
            p, e = self._heard.pop(k)
            probs[self.listener._tag_columns(k % len(self.listener.nets))] = p
            embedding[self.listener._embedding_columns(k % len(self.listener.nets))] = e
            self._rows.append((probs.copy(), embedding.copy()))

    @property
    def heard_s(self) -> float:
        """Every state up to this stream time (s) has been given or is ready to be taken."""
        return (self._given + len(self._rows) + 1) * self.update_s - 1e-6

    def take(self) -> MusicTrack:
        """The states ready since the last ``take``: times [K] (window ends, s), tags [K, tags], embedding [K, 400]."""
        probs, embedding = self._state
        rows_p = np.array([p for p, _ in self._rows], np.float32).reshape(-1, len(probs))
        rows_e = np.array([e for _, e in self._rows], np.float32).reshape(-1, len(embedding))
        times = np.arange(self._given + 1, self._given + len(self._rows) + 1) * self.update_s
        self._given += len(self._rows)
        self._rows = []
        return MusicTrack(times, self.listener.tags_of(rows_p), rows_e)

    def flush(self) -> None:
        """At the end of the stream: hear the windows still waiting for a batch."""
        self._hear(final=True)

    def finish(self) -> MusicTrack:
        """The track of everything fed (since the last ``take``)."""
        self.flush()
        return self.take()


def to_listener_rate(mono: np.ndarray, sample_rate: float) -> np.ndarray:
    """Mono audio at any rate -> float32 at the listener's 16 kHz (soxr, high quality)."""
    import soxr

    if int(sample_rate) == SAMPLE_RATE:
        return np.asarray(mono, np.float32)
    return soxr.resample(np.asarray(mono, np.float32), sample_rate, SAMPLE_RATE).astype(np.float32)
