"""A music corpus for training music maps: what the listener and the analyzer hear, window by window.

The bundled corpus (checkpoints/listen-corpus.safetensors) holds about an hour of music: the
scores of the analysis benchmark's tuning, validation and styles sets rendered by FluidSynth
(chorales on ten instruments, drum grooves, a band, electronic and Latin grooves) and the music of
Debian's extremetuxracer-data and frozen-bubble-data. Rebuild it, or add your own music to a
map's training with ``visualizer train-map --music FOLDER``:

    python -m visualizer.listen.corpus --out checkpoints/listen-corpus.safetensors FOLDER_OR_FILE ...
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from visualizer.audio.analyzer import analyse_signal
from visualizer.audio.sources import AudioError, load_audio
from visualizer.listen.descriptor import AcousticSummary
from visualizer.listen.listener import Listener, to_listener_rate
from visualizer.models.base import CheckpointError
from visualizer.models.io import CHECKPOINT_DIR, read_safetensors, write_safetensors
from visualizer.settings import AnalysisSettings

CORPUS_FORMAT = "visualizer-listen-corpus"
BUNDLED_CORPUS = CHECKPOINT_DIR / "listen-corpus.safetensors"
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus"}
CORPUS_HOP_S = 1.0     # one window per second of music
FRAME_S = 1 / 30       # the acoustic summary is stepped as a 30 fps render steps it


@dataclass
class Corpus:
    """Windows of music: listener embeddings [N, 400], acoustic summaries [N, 22], the file each came from."""

    embeddings: np.ndarray
    acoustic: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.embeddings)

    def __add__(self, other: "Corpus") -> "Corpus":
        return Corpus(np.concatenate([self.embeddings, other.embeddings]),
                      np.concatenate([self.acoustic, other.acoustic]), self.sources + other.sources)


def acoustic_track(mono: np.ndarray, analysis: AnalysisSettings, times: np.ndarray) -> np.ndarray:
    """The acoustic summary [len(times), 22] at each of ``times``, stepped frame by frame as the Mapper steps it."""
    track = analyse_signal(mono, analysis)
    summary = AcousticSummary()
    out = np.zeros((len(times), summary.values.size), np.float32)
    t, k = 0.0, 0
    while k < len(times):
        summary.step(track.span(t, t + FRAME_S), FRAME_S)
        t += FRAME_S
        while k < len(times) and times[k] <= t + 1e-9:
            out[k] = summary.vector()
            k += 1
    return out


def hear_file(path: Path, listener: Listener, analysis: AnalysisSettings = AnalysisSettings()) -> Corpus:
    """The corpus windows of one audio file."""
    clip = load_audio(path)
    music = listener.track(to_listener_rate(clip.mono(), clip.sample_rate), CORPUS_HOP_S)
    acoustic = acoustic_track(clip.mono_at(analysis.sample_rate), analysis, music.time_s)
    return Corpus(music.embedding, acoustic, [path.name] * len(music))


def audio_files(paths: list[Path]) -> list[Path]:
    """Audio files named or found under folders; a clear error when there are none."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
        elif p.is_file():
            found.append(p)
        else:
            raise AudioError(f"--music {p}: no such file or folder")
    if not found:
        raise AudioError(f"no audio files (WAV, FLAC, OGG, MP3) in {', '.join(map(str, paths))}")
    return found


def hear_files(paths: list[Path], listener: Listener, log=print) -> Corpus:
    parts = []
    for path in audio_files(paths):
        try:
            parts.append(hear_file(path, listener))
        except AudioError as exc:
            log(f"skipped {path}: {exc}")
            continue
        log(f"  {path.name}: {len(parts[-1])} windows")
    if not parts:
        raise AudioError("none of the audio files could be read")
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def save_corpus(path: Path, corpus: Corpus) -> None:
    import json

    write_safetensors(path, {"embeddings": torch.from_numpy(corpus.embeddings).half(),
                             "acoustic": torch.from_numpy(corpus.acoustic).float()},
                      {"format": CORPUS_FORMAT, "sources": json.dumps(corpus.sources)})


def load_corpus(path: Path = BUNDLED_CORPUS) -> Corpus:
    import json

    tensors, meta = read_safetensors(path)
    if meta.get("format") != CORPUS_FORMAT:
        raise CheckpointError(f"{path} is not a music corpus")
    return Corpus(tensors["embeddings"].float().numpy(), tensors["acoustic"].float().numpy(),
                  json.loads(meta["sources"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=BUNDLED_CORPUS)
    args = p.parse_args()
    corpus = hear_files(args.paths, Listener.bundled(), log=lambda m: print(m, file=sys.stderr, flush=True))
    save_corpus(args.out, corpus)
    print(f"wrote {args.out}: {len(corpus)} windows from {len(set(corpus.sources))} files", file=sys.stderr)


if __name__ == "__main__":
    main()
