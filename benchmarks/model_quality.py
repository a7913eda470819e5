"""Quality of a VisVAE checkpoint, recomputed from the file as shipped.

    python benchmarks/model_quality.py [--model PATH] [--grid docs/samples.png]

Rebuilds the held-out wallpaper crops (Debian packages, see visualizer/train/dataset.py),
then prints held-out reconstruction PSNR, sample diversity against real crops and the
sharpness ratio (high-frequency energy of samples over real crops); optionally saves a
grid of samples beside real held-out crops.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from visualizer.engine import to_uint8_images
from visualizer.models.io import DEFAULT_CHECKPOINT, load_visvae
from visualizer.train.dataset import build_crop_sets
from visualizer.train.metrics import evaluate


def save_grid(path: Path, rows: list[np.ndarray]) -> None:
    """Save rows of uint8 [N, H, W, 3] images as one PNG."""
    from PIL import Image

    grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(DEFAULT_CHECKPOINT))
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "visualizer" / "wallpapers"))
    p.add_argument("--grid", default=None, help="write a PNG: 2 rows of samples, real crops, reconstructions")
    args = p.parse_args()
    model, mean, chol = load_visvae(args.model)
    _, heldout, _, n_held = build_crop_sets(Path(args.cache), size=model.cfg.resolution, train_count=0,
                                            heldout_count=256, seed=0)
    metrics = evaluate(model, mean, chol, heldout)
    print(f"checkpoint: {args.model} ({n_held} held-out wallpapers, {len(heldout)} crops)")
    for key, value in metrics.items():
        print(f"{key:28s} {value:10.3f}")
    if args.grid:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(0)
            z = mean + torch.randn((16, mean.shape[0]), generator=gen) @ chol.T
            samples = to_uint8_images(model.decoder(z))
            real = heldout.as_float(slice(0, 8))
            recon = to_uint8_images(model.decoder(model.encoder(real)[0]))
        real_u8 = to_uint8_images(real)
        save_grid(Path(args.grid), [samples[:8], samples[8:], real_u8, recon])
        print(f"grid: {args.grid} (rows: samples, samples, held-out crops, their reconstructions)")


if __name__ == "__main__":
    main()
