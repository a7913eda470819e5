"""A music corpus for training music maps: what the listener and the analyzer hear, window by window.

The bundled corpus (checkpoints/listen-corpus.safetensors) holds 9263 windows of music: the
scores of the analysis benchmark's tuning, validation and styles sets rendered by FluidSynth
(chorales on ten instruments, drum grooves, a band, electronic and Latin grooves), the music of
Debian's extremetuxracer-data and frozen-bubble-data, and 60 windows of each track of
freedroidrpg-data, lincity-ng-data, supertux-data and wesnoth-1.16-music (their music folders:
orchestral, ambient, chiptune and pop game music; ``--add`` and ``--max-windows 60``). Rebuild it, or add your own music to a
map's training with ``visualizer train-map --music FOLDER``:

    python -m visualizer.listen.corpus --out checkpoints/listen-corpus.safetensors FOLDER_OR_FILE ...

``--add CORPUS`` extends a corpus instead of starting afresh; ``--max-windows N`` keeps at most N
windows of each file, spread evenly over it. ``--reanalyse CORPUS`` measures the acoustic summaries
again from the files it was built from (given in the same order), keeping the listener's embeddings:
for when the analyzer learns a feature (the timbre, 2026-12-03), at a tenth of a rebuild's time;
``--rehear CORPUS`` hears its embeddings again, keeping the summaries: for when the listener changes
(the small listener, 2026-12-03).
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
from visualizer.listen.descriptor import SUMMARY_SIZE, AcousticSummary
from visualizer.listen.listener import SAMPLE_RATE as LISTENER_RATE
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
    """Windows of music: listener embeddings [N, 400], acoustic summaries [N, 34] (22 in corpora made
    before the analyzer heard the timbre), the file each came from."""

    embeddings: np.ndarray
    acoustic: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.embeddings)

    def subset(self, rows: np.ndarray) -> "Corpus":
        return Corpus(self.embeddings[rows], self.acoustic[rows], [self.sources[i] for i in rows])

    def __add__(self, other: "Corpus") -> "Corpus":
        return Corpus(np.concatenate([self.embeddings, other.embeddings]),
                      np.concatenate([self.acoustic, other.acoustic]), self.sources + other.sources)


def acoustic_track(mono: np.ndarray, analysis: AnalysisSettings, times: np.ndarray) -> np.ndarray:
    """The acoustic summary [len(times), 34] at each of ``times``, stepped frame by frame as the Mapper steps it."""
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


def spread(count: int, keep: int) -> np.ndarray:
    """Indices of ``keep`` of ``count`` windows spread evenly over them, the first and last included."""
    return np.linspace(0, count - 1, keep).round().astype(int)


def hear_file(path: Path, listener: Listener, analysis: AnalysisSettings = AnalysisSettings(),
              max_windows: int | None = None) -> Corpus:
    """The corpus windows of one audio file, one a second; at most ``max_windows``, spread evenly over it."""
    clip = load_audio(path)
    music = listener.track(to_listener_rate(clip.mono(), clip.sample_rate), CORPUS_HOP_S)
    acoustic = acoustic_track(clip.mono_at(analysis.sample_rate), analysis, music.time_s)
    corpus = Corpus(music.embedding, acoustic, [path.name] * len(music))
    if max_windows is not None and len(corpus) > max_windows:
        # Long tracks would otherwise outweigh short ones in every batch the maps train on.
        corpus = corpus.subset(spread(len(corpus), max_windows))
    return corpus


def reanalysed(corpus: Corpus, paths: list[Path], analysis: AnalysisSettings = AnalysisSettings(),
               log=print, listener: Listener | None = None) -> Corpus:
    """``corpus`` with its acoustic summaries measured again by today's analyzer, its embeddings kept
    (the listener is the slow part), or with ``listener``, its embeddings heard again by that listener,
    its summaries kept: ``paths`` are the files or folders it was built from, in the order they were
    given then (each call's, one after the other, when it was built with ``--add``)."""
    rows, parts = 0, []
    for path in audio_files(paths):
        try:
            clip = load_audio(path)
        except AudioError as exc:  # as the builder did: such a file is not in the corpus
            log(f"skipped {path}: {exc}")
            continue
        run = 0
        while rows + run < len(corpus) and corpus.sources[rows + run] == path.name:
            run += 1
        if run == 0 and path.name not in corpus.sources[rows:]:
            log(f"skipped {path}: not in the corpus (it could not be read when the corpus was built)")
            continue
        if run == 0:
            found = corpus.sources[rows] if rows < len(corpus) else "its end"
            raise AudioError(f"{path} is not the corpus's next file (it has {found} there); give the files "
                             "and folders in the order the corpus was built from")
        # As many windows as the listener's track had: counted on the same resampled signal it heard.
        mono_16k = to_listener_rate(clip.mono(), clip.sample_rate)
        count = int(len(mono_16k) / LISTENER_RATE / CORPUS_HOP_S + 1e-9)
        kept = spread(count, run) if run < count else np.arange(count)  # built with --max-windows: the same windows
        if listener is not None:
            parts.append(listener.track(mono_16k, CORPUS_HOP_S).embedding[kept])
        else:
            times = (np.arange(1, count + 1) * CORPUS_HOP_S)[kept]
            parts.append(acoustic_track(clip.mono_at(analysis.sample_rate), analysis, times))
        rows += len(kept)
        log(f"  {path.name}: {len(kept)} windows")
    if rows != len(corpus):
        raise AudioError(f"the files give {rows} of the corpus's {len(corpus)} windows; name every file it was built from")
    if listener is not None:
        return Corpus(np.concatenate(parts), corpus.acoustic, corpus.sources)
    return Corpus(corpus.embeddings, np.concatenate(parts), corpus.sources)


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


def hear_files(paths: list[Path], listener: Listener, log=print, max_windows: int | None = None) -> Corpus:
    parts = []
    for path in audio_files(paths):
        try:
            parts.append(hear_file(path, listener, max_windows=max_windows))
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

    if not Path(path).is_file():
        raise CheckpointError(f"music corpus not found: {path}")
    tensors, meta = read_safetensors(path)
    if meta.get("format") != CORPUS_FORMAT:
        raise CheckpointError(f"{path} is not a music corpus")
    return Corpus(tensors["embeddings"].float().numpy(), tensors["acoustic"].float().numpy(),
                  json.loads(meta["sources"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=BUNDLED_CORPUS)
    p.add_argument("--add", type=Path, help="a corpus to extend (it may be --out itself)")
    p.add_argument("--max-windows", type=int, help="at most this many windows a file, spread evenly over it")
    p.add_argument("--reanalyse", type=Path, metavar="CORPUS",
                   help="measure CORPUS's acoustic summaries again from the files it was built from (PATHS, in "
                        "the order they were given), keeping its embeddings; after the analyzer learns a feature")
    p.add_argument("--rehear", type=Path, metavar="CORPUS",
                   help="as --reanalyse, but hear CORPUS's embeddings again with the bundled listener, keeping its "
                        "summaries; after the listener changes")
    args = p.parse_args()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    try:
        base = load_corpus(args.add) if args.add is not None else None
        if base is not None and base.acoustic.shape[1] != SUMMARY_SIZE:
            raise CheckpointError(f"{args.add} was made before the analyzer heard the timbre; measure it again "
                                  f"first: python -m visualizer.listen.corpus --reanalyse {args.add} FILES ...")
        if args.reanalyse is not None:
            corpus = reanalysed(load_corpus(args.reanalyse), args.paths, log=log)
        elif args.rehear is not None:
            corpus = reanalysed(load_corpus(args.rehear), args.paths, log=log, listener=Listener.bundled())
        else:
            corpus = hear_files(args.paths, Listener.bundled(), log=log, max_windows=args.max_windows)
    except (AudioError, CheckpointError) as exc:
        sys.exit(f"error: {exc}")
    if base is not None:
        corpus = base + corpus
    save_corpus(args.out, corpus)
    print(f"wrote {args.out}: {len(corpus)} windows from {len(set(corpus.sources))} files", file=sys.stderr)


if __name__ == "__main__":
    main()
