"""Training the default VisVAE on the wallpaper crop set, on whatever device there is."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from visualizer.models.io import load_visvae, read_safetensors, save_visvae
from visualizer.models.visvae import VisVAE, VisVAEConfig
from visualizer.train.dataset import CropSet, build_crop_sets
from visualizer.train.metrics import evaluate


@dataclass
class TrainConfig:
    """Knobs of ``visualizer train``; stored in the checkpoint's metadata."""

    minutes: float = 45.0          # wall-clock budget for the optimisation loop
    batch_size: int = 32
    learning_rate: float = 1e-3
    kl_weight: float = 2e-4        # per latent dim, relative to the per-pixel reconstruction loss
    fft_weight: float = 0.1        # weight of the log-amplitude spectrum loss (keeps detail)
    train_crops: int = 8000
    heldout_crops: int = 256
    seed: int = 0
    threads: int = 0               # torch CPU threads; 0 keeps torch's default


def spectrum_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 distance of log-amplitude spectra: penalises blur, which removes high frequencies."""
    a = torch.fft.rfft2(recon, norm="ortho").abs().add(1e-3).log()
    b = torch.fft.rfft2(target, norm="ortho").abs().add(1e-3).log()
    return (a - b).abs().mean()


def vae_loss(model: VisVAE, batch: torch.Tensor, cfg: TrainConfig) -> tuple[torch.Tensor, dict]:
    recon, mean, logvar = model(batch)
    rec = (recon - batch).abs().mean()
    spec = spectrum_loss(recon, batch)
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean() / mean.shape[1]
    loss = rec + cfg.fft_weight * spec + cfg.kl_weight * kl * mean.shape[1]
    return loss, {"l1": rec.item(), "spec": spec.item(), "kl": kl.item()}


@torch.no_grad()
def fit_prior(model: VisVAE, crops: CropSet, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian (mean [D], Cholesky factor [D, D]) of the posterior means over ``crops``."""
    model.eval()
    means = []
    for start in range(0, len(crops), batch_size):
        means.append(model.encoder(crops.as_float(slice(start, start + batch_size)))[0])
    z = torch.cat(means).double()
    mu = z.mean(0)
    cov = torch.cov(z.T) + 1e-4 * torch.eye(z.shape[1], dtype=z.dtype)
    return mu.float(), torch.linalg.cholesky(cov).float()


def train_visvae(out: Path, cache_dir: Path, cfg: TrainConfig, model_cfg: VisVAEConfig,
                 log=print, resume: Path | None = None) -> dict:
    """Build the crop sets, train for ``cfg.minutes``, fit the prior, save, and return metrics.

    ``resume`` starts from the weights of an earlier checkpoint (its architecture wins)
    and adds this run's steps and minutes to the ones it records.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    train, heldout, n_train_imgs, n_held_imgs = build_crop_sets(
        cache_dir, size=model_cfg.resolution, train_count=cfg.train_crops,
        heldout_count=cfg.heldout_crops, seed=cfg.seed,
    )
    log(f"crops: {len(train)} train from {n_train_imgs} wallpapers, {len(heldout)} held out "
        f"from {n_held_imgs} ({time.perf_counter() - t0:.0f} s)")
    history = {"steps": 0, "minutes": 0.0}
    if resume is not None:
        model, _, _ = load_visvae(resume)
        _, meta = read_safetensors(resume)
        earlier = json.loads(meta.get("training", "{}"))
        history = {"steps": earlier.get("steps", 0), "minutes": earlier.get("minutes", 0.0)}
        log(f"resuming from {resume} after {history['steps']} steps")
    else:
        model = VisVAE(model_cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.99))
    rng = np.random.default_rng(cfg.seed)
    budget = cfg.minutes * 60.0
    start = time.perf_counter()
    step = 0
    while (elapsed := time.perf_counter() - start) < budget:
        # Cosine decay over the time budget, since the step count is not known in advance.
        lr = cfg.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * elapsed / budget)))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.from_numpy(rng.integers(0, len(train), cfg.batch_size))
        model.train()
        loss, parts = vae_loss(model, train.as_float(idx), cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log(f"step {step} {elapsed / 60:.1f} min lr {lr:.2e} "
                + " ".join(f"{k} {v:.4f}" for k, v in parts.items()))
    mean, chol = fit_prior(model, train)
    metrics = evaluate(model, mean, chol, heldout)
    training = {
        "train": asdict(cfg), "steps": history["steps"] + step,
        "minutes": round(history["minutes"] + (time.perf_counter() - start) / 60, 1),
        "train_wallpapers": n_train_imgs, "heldout_wallpapers": n_held_imgs, "metrics": metrics,
    }
    save_visvae(out, model, mean, chol, training=training)  # fp16 weights: half the size, same pictures
    log(f"saved {out}: {metrics}")
    return training
