"""Distil the two musicnn networks into the small listener (``visualizer.listen.student``).

Step 1 hears music with the teachers and keeps, for every 3 s window (one every ``--hop`` seconds,
at most ``--max-windows`` a file, spread evenly), its log-mel spectrogram and both networks' tag
probabilities and embeddings, one .npz a file in a cache folder (``--offset`` shifts the windows, so
a second pass over the same music gives new windows). Step 2 trains the student on the cache, every
fifth file held out, and prints how closely it follows the teachers there: R² of each of the
descriptor's embedding axes, Spearman correlation of window-pair distances on those axes, tag error.

    python -m visualizer.listen.distill hear --cache DIR MUSIC_FOLDER ...
    python -m visualizer.listen.distill train --cache DIR [DIR ...] --out checkpoints/listen-small.safetensors

The bundled student was trained on the music the bundled corpus was built from (corpus.py says which).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from visualizer.audio.sources import AudioError, load_audio
from visualizer.listen.corpus import audio_files, load_corpus, spread
from visualizer.listen.descriptor import DescriptorBasis
from visualizer.listen.listener import Listener
from visualizer.listen.musicnn import SAMPLE_RATE, WINDOW_SAMPLES, log_mel
from visualizer.listen.student import Student, StudentConfig, save_student


def hear_for_student(paths: list[Path], cache: Path, teacher: Listener, *, hop_s: float = 1.5, offset_s: float = 0.0,
                     max_windows: int = 120, log=print) -> None:
    """Write ``cache/NNNN-name.npz`` for each audio file not yet there: ``mel`` float16 [n, 187, 96],
    ``probs`` [n, both networks' tags], ``emb`` [n, 400] (both networks on the same window), ``source``."""
    cache.mkdir(parents=True, exist_ok=True)
    hop, offset = int(hop_s * SAMPLE_RATE), int(offset_s * SAMPLE_RATE)
    for n, path in enumerate(audio_files(paths)):
        dst = cache / f"{n:04d}-{path.stem}.npz"
        if dst.exists():
            continue
        try:
            mono = load_audio(path).mono_at(SAMPLE_RATE)
        except AudioError as exc:
            log(f"skipped {path}: {exc}")
            continue
        ends = np.arange(WINDOW_SAMPLES + offset, len(mono) + 1, hop)
        if len(ends) == 0:
            continue
        ends = ends[spread(len(ends), max_windows)] if len(ends) > max_windows else ends
        windows = np.stack([mono[e - WINDOW_SAMPLES:e] for e in ends]).astype(np.float32)
        probs, embs = [], []
        for i in range(0, len(windows), 2):
            heard = teacher.hear_many([(net, windows[i:i + 2]) for net in range(len(teacher.nets))])
            probs.append(np.concatenate([p for p, _ in heard], 1))
            embs.append(np.concatenate([e for _, e in heard], 1))
        np.savez_compressed(dst, mel=np.stack([log_mel(w) for w in windows]).astype(np.float16),
                            probs=np.concatenate(probs), emb=np.concatenate(embs), source=str(path))
        log(f"  {path.name}: {len(windows)} windows")


def _load(caches: list[Path]) -> tuple[list[dict], list[str]]:
    files = sorted(f for c in caches for f in Path(c).glob("*.npz"))
    if not files:
        raise AudioError(f"no teacher windows (.npz) in {', '.join(map(str, caches))}; run the hear step first")
    data = [dict(np.load(f)) for f in files]
    return data, [str(d["source"]) for d in data]


def train_student(caches: list[Path], teacher: Listener, *, steps: int = 2500, width: int = 256,
                  hidden: int = 512, batch: int = 64, lr: float = 2e-3, seed: int = 0, log=print) -> tuple[Student, dict]:
    """A student trained on the teacher windows of ``caches`` (files of the same source pooled, every
    fifth source held out) and its held-out figures."""
    torch.manual_seed(seed)
    data, sources = _load(caches)
    names = sorted(set(sources))
    held = {s for i, s in enumerate(names) if i % 5 == 0}
    pick = lambda out, key: np.concatenate([d[key] for d, s in zip(data, sources) if (s in held) == out])  # noqa: E731
    mel_tr, mel_te = (torch.from_numpy(pick(o, "mel").astype(np.float32)) for o in (False, True))
    emb_tr, emb_te = pick(False, "emb"), pick(True, "emb")
    tag_tr, tag_te = (torch.from_numpy(teacher.tags_of(pick(o, "probs")).astype(np.float32)) for o in (False, True))
    net = Student(StudentConfig(tags=teacher.tags, backend_units=emb_tr.shape[1], width=width, hidden=hidden))
    net.target_mean.copy_(torch.from_numpy(emb_tr.mean(0)))
    net.target_std.copy_(torch.from_numpy(emb_tr.std(0) + 1e-3))
    z_tr = (torch.from_numpy(emb_tr) - net.target_mean) / net.target_std
    corpus = load_corpus()
    basis = DescriptorBasis.fit(corpus.embeddings, corpus.acoustic)
    # The descriptor's axes, read from a standardised embedding: counts those directions once more.
    axes = torch.from_numpy((basis.axes / basis.embedding_std * net.target_std.numpy()[None]).T.astype(np.float32))
    axes = axes / axes.norm(dim=0, keepdim=True)
    log(f"teacher windows: {len(mel_tr)} to train on, {len(mel_te)} held out ({len(held)} of {len(names)} files)")
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    start = time.perf_counter()
    net.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        rows = torch.randint(len(mel_tr), (batch,))
        logits, z = net.standardised(mel_tr[rows])
        target = z_tr[rows]
        loss = (F.mse_loss(z, target) + F.mse_loss(z @ axes, target @ axes)
                + F.binary_cross_entropy_with_logits(logits, tag_tr[rows]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 1000 == 0 or step == steps - 1:
            log(f"  step {step}: loss {loss.item():.4f}, {time.perf_counter() - start:.0f} s")
    net.eval().requires_grad_(False)
    figures = student_figures(net, mel_te, emb_te, tag_te, basis)
    figures.update(steps=steps, windows=len(mel_tr), held_out_windows=len(mel_te),
                   minutes=round((time.perf_counter() - start) / 60, 1))
    return net, figures


@torch.no_grad()
def student_figures(net: Student, mel: torch.Tensor, emb: np.ndarray, tags: torch.Tensor,
                    basis: DescriptorBasis, pairs_of: int = 800) -> dict:
    """How the student follows the teachers on held-out windows: R² of each descriptor axis, the Spearman
    correlation of descriptor-axis distances over pairs of the first ``pairs_of`` windows, tag error."""
    from scipy.stats import spearmanr

    logits, heard = zip(*(net(mel[i:i + 256]) for i in range(0, len(mel), 256)))
    heard = torch.cat(heard).numpy()
    ours, theirs = basis.embedding_axes(heard), basis.embedding_axes(emb)
    r2 = 1 - ((ours - theirs) ** 2).mean(0) / theirs.var(0)
    n = min(pairs_of, len(ours))
    iu = np.triu_indices(n, 1)
    dist = lambda a: np.linalg.norm(a[:n, None] - a[None, :n], axis=2)[iu]  # noqa: E731
    error = (torch.sigmoid(torch.cat(logits)) - tags).abs().mean().item()
    return {"axis_r2": [round(float(r), 3) for r in r2], "axis_r2_mean": round(float(r2.mean()), 3),
            "distance_spearman": round(float(spearmanr(dist(ours), dist(theirs))[0]), 3),
            "tag_error": round(error, 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="step", required=True)
    h = sub.add_parser("hear", help="the teachers' outputs for windows of music, into a cache folder")
    h.add_argument("paths", nargs="+", type=Path)
    h.add_argument("--cache", type=Path, required=True)
    h.add_argument("--hop", type=float, default=1.5, help="seconds between windows")
    h.add_argument("--offset", type=float, default=0.0, help="seconds the windows are shifted by")
    h.add_argument("--max-windows", type=int, default=120)
    t = sub.add_parser("train", help="train the student on cache folders")
    t.add_argument("--cache", type=Path, nargs="+", required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--steps", type=int, default=2500, help="training steps (the bundled student: 2500)")
    t.add_argument("--width", type=int, default=256)
    t.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    teacher = Listener.teachers(threads=1)
    try:
        if args.step == "hear":
            hear_for_student(args.paths, args.cache, teacher, hop_s=args.hop, offset_s=args.offset,
                             max_windows=args.max_windows, log=log)
            return
        net, figures = train_student(args.cache, teacher, steps=args.steps, width=args.width, seed=args.seed, log=log)
    except AudioError as exc:
        sys.exit(f"error: {exc}")
    figures.update(seed=args.seed, saved=time.strftime("%Y-%m-%d %H:%M"))
    save_student(args.out, net, figures)
    print(f"wrote {args.out}: {figures}", file=sys.stderr)


if __name__ == "__main__":
    main()
