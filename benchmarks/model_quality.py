"""Picture quality of every bundled model beside real held-out pictures of its own theme.

    python benchmarks/model_quality.py [--models cosmos flames visvae] [--samples 100] [--sheets docs/]

For each model the theme it was trained on is rebuilt (Debian packages; visualizer/train/themes.py)
and its held-out pictures, never trained on, are the reference. Prints one table:

- sharpness: high-frequency energy (mean squared Laplacian) of samples over that of real pictures;
- diversity: mean pairwise RMS distance of samples over that of real pictures;
- swd: sliced Wasserstein distance of 7x7 Laplacian-pyramid patches (Progressive GAN paper; x1e3,
  mean over levels), samples vs held-out; "floor" is training crops vs held-out, the figure two
  real sets reach;
- dup: share of samples with a near-duplicate among the others (64 px RMS < 0.05);
- copy: median over samples of (distance to the nearest training crop / to the nearest held-out
  crop); about 1 or more means no copying; "nearest" is the smallest distance to a training crop;
- slerp: largest frame-to-frame change of a 30-step slerp between two samples, as a share of the
  whole path (1/30 = 0.033 is an even morph), worst of 8;
- fps at batch 1 and 8, 256 px, into host memory as uint8, on all cores.

--sheets DIR writes DIR/samples-NAME.png (16 samples) and DIR/nearest-NAME.png (8 samples above
their nearest training crops).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from machine_info import cpu_name

from visualizer.engine import to_uint8_images
from visualizer.models import load_generator
from visualizer.models.io import BUNDLED, bundled_path, read_safetensors
from visualizer.train import metrics as m
from visualizer.train.themes import as_float, build_theme

CACHE = Path.home() / ".cache" / "visualizer" / "themes"


def theme_of(path: Path) -> str:
    """The data a checkpoint was trained on (its training record), wallpapers for the VisVAE."""
    _, meta = read_safetensors(path)
    return json.loads(meta.get("training", "{}")).get("data", "wallpapers")


def fps(gen, batch: int, seconds: float = 3.0) -> float:
    z = gen.sample_latents(batch, seed=0)
    to_uint8_images(gen(z))
    runs, start = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - start < seconds:
        to_uint8_images(gen(z))
        runs += 1
    return runs * batch / (time.perf_counter() - start)


def save_rows(path: Path, rows: list[torch.Tensor]) -> None:
    from PIL import Image

    grid = np.concatenate([np.concatenate(list(to_uint8_images(r)), axis=1) for r in rows], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)


def measure(name: str, samples: int, cache: Path, sheets: Path | None) -> dict:
    path = bundled_path(name) or Path(name)
    gen = load_generator(path, device="cpu")
    if hasattr(gen, "truncation"):
        gen.truncation = 1.0  # StyleGAN: the prior itself; the walk's truncation is a show setting
    theme = theme_of(path)
    train, held = build_theme(theme, cache, gen.resolution, log=lambda msg: None)
    real = as_float(held.fixed_crops(samples, gen.resolution, seed=1000))
    train_crops = as_float(train.fixed_crops(samples, gen.resolution, seed=2000))
    many_train = as_float(train.fixed_crops(256, gen.resolution, seed=3000))
    many_held = as_float(held.fixed_crops(256, gen.resolution, seed=4000))
    fakes = m.generated(gen, samples, seed=1)
    copy, nearest = m.copy_ratio(fakes, many_train, many_held)
    row = {
        "model": name if name in BUNDLED else Path(name).stem, "theme": theme,
        "sharpness": m.high_frequency_energy(fakes) / m.high_frequency_energy(real),
        "diversity": m.mean_pairwise_distance(fakes) / m.mean_pairwise_distance(real),
        "swd": float(np.mean(m.sliced_wasserstein(fakes, real))),
        "floor": float(np.mean(m.sliced_wasserstein(train_crops, real))),
        "dup": m.near_duplicate_share(fakes), "copy": copy, "nearest": nearest,
        "slerp": m.largest_slerp_step(gen),
        "fps1": fps(gen, 1), "fps8": fps(gen, 8),
    }
    if sheets is not None:
        save_rows(sheets / f"samples-{name}.png", [fakes[:8], fakes[8:16]])
        d = m.rms_distances(m.thumbnails(fakes[:8]), m.thumbnails(many_train)).argmin(1)
        save_rows(sheets / f"nearest-{name}.png", [fakes[:8], many_train[d]])
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(BUNDLED), help="bundled names or checkpoint files")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--cache", default=str(CACHE))
    p.add_argument("--sheets", help="folder for the sample and nearest-crop sheets")
    args = p.parse_args()
    print(f"model quality | {cpu_name()}, {torch.get_num_threads()} threads | torch {torch.__version__} | "
          f"{time.strftime('%Y-%m-%d')} | {args.samples} samples vs held-out pictures of each theme")
    head = (f"{'model':>10s} {'theme':>10s} {'sharp':>6s} {'divers':>6s} {'swd':>6s} {'floor':>6s} {'dup':>5s} "
            f"{'copy':>5s} {'nearest':>7s} {'slerp':>6s} {'fps1':>6s} {'fps8':>6s}")
    print(head)
    for name in args.models:
        r = measure(name, args.samples, Path(args.cache), Path(args.sheets) if args.sheets else None)
        print(f"{r['model']:>10s} {r['theme']:>10s} {r['sharpness']:6.3f} {r['diversity']:6.3f} {r['swd']:6.1f} "
              f"{r['floor']:6.1f} {r['dup']:5.2f} {r['copy']:5.2f} {r['nearest']:7.3f} {r['slerp']:6.3f} "
              f"{r['fps1']:6.1f} {r['fps8']:6.1f}", flush=True)


if __name__ == "__main__":
    main()
