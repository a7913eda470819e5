"""Does similar music look similar? The music map (walk.mode "listen") beside the keyframe loop ("loop").

    python benchmarks/synesthesia.py [--variant tuning|test] [--model cosmos] [--figures docs/]
        [--set listen.sway=0.1 ...] [--modes listen] [--songs-only]

Songs of the synesthesia set (benchmarks/synesthesia_set.py: sections in ten styles coming back
within and across songs, verse-chorus shaped) and real recordings never heard in training (the
Warzone 2100 soundtracks, Debian's warzone2100-music, first 90 s of twelve tracks: the legacy
album's for the test variant, the aftermath album's, another composer's, for tuning) are mapped
and drawn by the same engine as a render. One window a second, the picture's descriptor (a 16 px
thumbnail and colour histograms, visualizer/listen/picture.py) is compared with:

- repeat: mean picture distance between windows of the same style in different sections (another
  chorale, tempo, song) over that between windows of different styles; 1 means the picture ignores
  the music; target <= 0.4. A window's picture is the mean descriptor of the frames shown during
  its 3 s (one every 0.5 s), as the sound is measured over those 3 s. Windows in a section's first 5 s (the place is still arriving) are left out.
- chorus: the same for the chorus heard note for note again (same offset in the section).
- agreement: Spearman correlation over window pairs of the picture distance with a sound distance
  that uses none of our analysis: librosa's MFCC means and spreads, chroma, spectral centroid, RMS
  level and onset rate over the 3 s before, each standardised over the set; target >= 0.6.
- motion: mean change between consecutive 30 fps frames (RMS on 64 px thumbnails, [-1, 1] scale),
  over the first 10 s of every piece; listen mode should keep at least half of loop mode's.

--set SECTION.KEY=VALUE (repeatable) changes a setting of listen mode, for tuning runs; --modes
runs only some modes; --songs-only leaves the recordings out (no "agree(real)").

--figures DIR writes DIR/synesthesia-distances.png (picture distance against sound distance,
both modes) and DIR/synesthesia-chorus.png (the first song's chorus heard three times, and its
verses, in each mode).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine_info import cpu_name
from scipy.stats import spearmanr

import synesthesia_set
from visualizer.audio.analyzer import analyse_signal
from visualizer.audio.sources import load_audio
from visualizer.engine import OfflineRenderer, frame_count, hear_clip, place_follower, to_uint8_images
from visualizer.listen.picture import descriptor
from visualizer.models import load_generator
from visualizer.settings import Settings

FPS = 30
WINDOW_S = 3.0         # a window's sound and its pictures span the same 3 s (the listener's window)
PICTURE_STEP_S = 0.5   # pictures averaged over a window: one every 0.5 s
SKIP_S = 5.0
MOTION_S = 10.0
RECORDINGS_PACKAGE = "warzone2100-music"
RECORDING_S = 90.0
RECORDINGS = 12        # tracks a set: the recordings' agreement rests on their C(n, 2) pairs of tracks (28 at 8)


RECORDING_ALBUMS = {"test": "legacy_soundtrack", "tuning": "aftermath_soundtrack"}


def recordings(cache: Path, variant: str, count: int = RECORDINGS) -> list[Path]:
    """The first ``count`` tracks of an album of Debian's warzone2100-music (GPL-2+; the variant's,
    ``RECORDING_ALBUMS``), cut to RECORDING_S, as WAVs."""
    import soundfile as sf

    album = RECORDING_ALBUMS[variant]
    out = cache / "warzone2100" if variant == "test" else cache / f"warzone2100-{album}"
    done = sorted(out.glob("*.wav"))
    if len(done) >= count:
        return done[:count]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", RECORDINGS_PACKAGE], cwd=tmp, check=True, capture_output=True)
        subprocess.run(["dpkg-deb", "-x", str(next(Path(tmp).glob("*.deb"))), tmp], check=True)
        tracks = sorted(Path(tmp).rglob(f"{album}/track*.opus"))[:count]
        for t in tracks:
            clip = load_audio(t)
            mono = clip.mono()[: int(RECORDING_S * clip.sample_rate)]
            sf.write(out / f"{t.stem}.wav", mono, int(clip.sample_rate), subtype="PCM_16")
    return sorted(out.glob("*.wav"))[:count]


def sound_descriptors(path: Path, times: np.ndarray) -> np.ndarray:
    """librosa's view of the 3 s before each time: [len(times), 13 + 13 + 12 + 3]."""
    import librosa

    y, sr = librosa.load(path, sr=22050, mono=True)
    rows = []
    for t in times:
        w = y[max(0, int((t - WINDOW_S) * sr)):int(t * sr)]
        mfcc = librosa.feature.mfcc(y=w, sr=sr, n_mfcc=13)
        chroma = librosa.feature.chroma_stft(y=w, sr=sr)
        centroid = librosa.feature.spectral_centroid(y=w, sr=sr).mean()
        rms = librosa.feature.rms(y=w).mean()
        onsets = len(librosa.onset.onset_detect(y=w, sr=sr)) / WINDOW_S
        rows.append(np.concatenate([mfcc.mean(1), mfcc.std(1), chroma.mean(1),
                                    [np.log(centroid + 1), np.log(rms + 1e-6), onsets]]))
    return np.array(rows)


@dataclasses.dataclass
class Piece:
    name: str
    path: Path
    times: np.ndarray             # window ends, s
    labels: list[tuple] | None    # per window (style, section index, offset in section) for the set's songs


def parse_set(items: list[str]) -> dict[str, dict]:
    """``["listen.sway=0.1", ...]`` -> settings overrides ``{"listen": {"sway": 0.1}}`` (values as TOML)."""
    import tomllib

    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set {item!r}: write SECTION.KEY=VALUE, e.g. listen.sway=0.1")
        out.setdefault(section, {})[name] = tomllib.loads(f"v = {value}")["v"]
    return out


def pieces(variant: str, cache: Path, songs_only: bool = False, count: int = RECORDINGS) -> list[Piece]:
    root = synesthesia_set.default_dir(variant)
    out = []
    for song in synesthesia_set.build(root, variant):
        path = root / song["file"]
        times, labels = [], []
        for k, sec in enumerate(song["sections"]):
            for t in np.arange(sec["start_s"] + SKIP_S, sec["end_s"] + 1e-6, 1.0):
                times.append(t)
                labels.append((sec["style"], k, round(t - sec["start_s"]), sec.get("chorale"), sec["bpm"]))
        out.append(Piece(song["file"], path, np.array(times), labels))
    for path in [] if songs_only else recordings(cache, variant, count):
        out.append(Piece(path.stem, path, np.arange(4.0, RECORDING_S + 1e-6, 2.0), None))
    return out


def mapped(piece: Piece, settings: Settings, generator, follower) -> tuple[np.ndarray, np.ndarray]:
    """(picture descriptors of the piece's windows [K, ...], each the mean over the frames of its 3 s;
    thumbnails of the first MOTION_S at 30 fps)."""
    clip = load_audio(piece.path)
    track = analyse_signal(clip.mono_at(settings.analysis.sample_rate), settings.analysis)
    music = hear_clip(clip, settings) if follower is not None else None
    plan = OfflineRenderer(settings, generator, follower).plan(track, frame_count(clip.duration_s, FPS), music)
    back = np.arange(0.0, WINDOW_S, PICTURE_STEP_S)
    idx = np.clip(((piece.times[:, None] - back[None]) * FPS).astype(int) - 1, 0, len(plan.latents) - 1).ravel()
    with torch.no_grad():
        desc = torch.cat([descriptor(generator(torch.from_numpy(plan.latents[idx[i:i + 16]])).float().cpu())
                          for i in range(0, len(idx), 16)]).numpy()
        n = int(MOTION_S * FPS)
        thumbs = torch.cat([torch.nn.functional.adaptive_avg_pool2d(
            generator(torch.from_numpy(plan.latents[i:min(i + 16, n)])).float().cpu(), 64)
            for i in range(0, n, 16)]).numpy()
    desc = desc.reshape(len(piece.times), len(back), -1).mean(1)  # the window's picture: what was shown meanwhile
    return desc, thumbs


def distances(x: np.ndarray) -> np.ndarray:
    return np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))


def evaluate(all_pieces: list[Piece], pictures: dict[str, np.ndarray], sounds: dict[str, np.ndarray],
             motion: dict[str, np.ndarray]) -> dict:
    songs = [p for p in all_pieces if p.labels is not None]
    pic = np.concatenate([pictures[p.name] for p in songs])
    snd = np.concatenate([sounds[p.name] for p in songs])
    snd = (snd - snd.mean(0)) / (snd.std(0) + 1e-9)
    labels = [(p.name, *lab) for p in songs for lab in p.labels]
    style = np.array([lab[1] for lab in labels])
    song = np.array([lab[0] for lab in labels])
    section = np.array([lab[2] for lab in labels])
    offset = np.array([lab[3] for lab in labels])
    chorale = np.array([str(lab[4]) + str(lab[5]) for lab in labels])
    dp, ds = distances(pic), distances(snd)
    other_section = (song[:, None] != song[None]) | (section[:, None] != section[None])
    same_style = (style[:, None] == style[None]) & other_section & (chorale[:, None] != chorale[None])
    diff_style = style[:, None] != style[None]
    chorus = (song[:, None] == song[None]) & (section[:, None] != section[None]) & \
             (chorale[:, None] == chorale[None]) & (offset[:, None] == offset[None]) & (style[:, None] == style[None])
    iu = np.triu_indices(len(pic), 1)
    out = {"repeat": float(dp[same_style].mean() / dp[diff_style].mean()),
           "chorus": float(dp[chorus].mean() / dp[diff_style].mean()),
           "agreement": float(spearmanr(dp[iu], ds[iu])[0])}
    real = [p for p in all_pieces if p.labels is None]
    if real:
        rp = np.concatenate([pictures[p.name] for p in real])
        rs = np.concatenate([sounds[p.name] for p in real])
        rs = (rs - rs.mean(0)) / (rs.std(0) + 1e-9)
        ju = np.triu_indices(len(rp), 1)
        out["agreement_real"] = float(spearmanr(distances(rp)[ju], distances(rs)[ju])[0])
    steps = [np.sqrt(((m[1:] - m[:-1]) ** 2).mean(axis=(1, 2, 3))).mean() for m in motion.values()]
    out["motion"] = float(np.mean(steps))
    out["_pairs"] = (dp[iu], ds[iu])
    return out


def figures(folder: Path, results: dict, chorus_frames: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=False)
    for ax, (mode, r) in zip(axes, results.items()):
        dp, ds = r["_pairs"]
        pick = np.random.default_rng(0).choice(len(dp), min(4000, len(dp)), replace=False)
        ax.scatter(ds[pick], dp[pick], s=2, alpha=0.3)
        ax.set_title(f'{mode}: Spearman {r["agreement"]:.2f}, repeat {r["repeat"]:.2f}')
        ax.set_xlabel("sound distance (librosa features)")
        ax.set_ylabel("picture distance")
    fig.tight_layout()
    fig.savefig(folder / "synesthesia-distances.png", dpi=110)
    rows = []
    for mode, frames in chorus_frames.items():
        rows.append(np.concatenate(list(frames), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(folder / "synesthesia-chorus.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", choices=list(synesthesia_set.VARIANTS), default="tuning")
    p.add_argument("--model", default=None, help="model (default: the bundled default)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "visualizer")
    p.add_argument("--figures", type=Path)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="a listen-mode setting to try (repeatable)")
    p.add_argument("--modes", nargs="+", choices=("listen", "loop"), default=["listen", "loop"])
    p.add_argument("--songs-only", action="store_true", help="leave the recordings out (faster tuning runs)")
    p.add_argument("--recordings", type=int, default=RECORDINGS, help="tracks of the album to use (at most 13)")
    args = p.parse_args()
    tried = parse_set(args.set)
    generator = load_generator(args.model, device="cpu")
    all_pieces = pieces(args.variant, args.cache, args.songs_only, args.recordings)
    sounds = {piece.name: sound_descriptors(piece.path, piece.times) for piece in all_pieces}
    results, chorus_frames = {}, {}
    start = time.perf_counter()
    for mode in args.modes:
        overrides = {"walk": {"mode": mode}, "model": {"checkpoint": args.model or ""}}
        if mode == "listen":
            for section, values in tried.items():
                overrides[section] = {**overrides.get(section, {}), **values}
        settings = Settings().with_overrides(**overrides)
        follower = place_follower(settings, generator)
        if mode == "listen" and follower is None:
            raise SystemExit(f"no music map for {args.model or 'the default model'}; train one with visualizer train-map")
        pictures, motion = {}, {}
        for piece in all_pieces:
            follower = place_follower(settings, generator)  # a fresh one per piece, as a render starts afresh
            pictures[piece.name], motion[piece.name] = mapped(piece, settings, generator, follower)
        results[mode] = evaluate(all_pieces, pictures, sounds, motion)
        first = all_pieces[0]
        clip = load_audio(first.path)
        track = analyse_signal(clip.mono_at(settings.analysis.sample_rate), settings.analysis)
        music = hear_clip(clip, settings) if follower is not None else None
        plan = OfflineRenderer(settings, generator, place_follower(settings, generator)).plan(
            track, frame_count(clip.duration_s, FPS), music)
        picks = [int((s * synesthesia_set.SECTION_S + 8) * FPS) for s in range(5)]  # 8 s into each section
        chorus_frames[mode] = to_uint8_images(generator(torch.from_numpy(plan.latents[picks])))
    model = Path(getattr(generator, "source", "")).name
    print(f"synesthesia | {args.variant} set + {RECORDINGS_PACKAGE} {RECORDING_ALBUMS[args.variant]} "
          f"({0 if args.songs_only else args.recordings} tracks) | model {model} | {cpu_name()} | "
          f"{time.strftime('%Y-%m-%d')} | {time.perf_counter() - start:.0f} s" + (f" | {' '.join(args.set)}" if args.set else ""))
    print(f"{'mode':>8s} {'repeat':>7s} {'chorus':>7s} {'agree':>7s} {'agree(real)':>11s} {'motion':>7s}")
    for mode, r in results.items():
        print(f"{mode:>8s} {r['repeat']:7.3f} {r['chorus']:7.3f} {r['agreement']:7.3f} {r.get('agreement_real', 0):11.3f} "
              f"{r['motion']:7.4f}")
    if len(results) == 2:
        print(f"motion ratio listen / loop: {results['listen']['motion'] / results['loop']['motion']:.2f}")
    if args.figures and len(results) == 2:
        figures(args.figures, results, chorus_frames)
        print(f"figures: {args.figures}/synesthesia-distances.png, synesthesia-chorus.png")
    print(json.dumps({m: {k: v for k, v in r.items() if not k.startswith("_")} for m, r in results.items()}))


if __name__ == "__main__":
    main()
