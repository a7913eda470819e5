"""Quality figures for a trained VisVAE: held-out PSNR, sample diversity and sharpness."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from visualizer.train.dataset import CropSet

_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [-1, 1] (peak-to-peak range 2)."""
    mse = (a - b).pow(2).mean().clamp_min(1e-12)
    return float(10 * torch.log10(4.0 / mse))


def high_frequency_energy(images: torch.Tensor) -> float:
    """Mean squared Laplacian response of images [B, 3, H, W]: how much fine detail they hold."""
    kernel = _LAPLACIAN.to(images).expand(3, 1, 3, 3)
    return float(F.conv2d(images, kernel, groups=3).pow(2).mean())


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean RMS pixel distance over all pairs of images [B, 3, H, W]."""
    flat = images.flatten(1)
    d = torch.cdist(flat, flat) / flat.shape[1] ** 0.5
    n = flat.shape[0]
    return float(d.sum() / (n * (n - 1)))


@torch.no_grad()
def evaluate(model, prior_mean: torch.Tensor, prior_chol: torch.Tensor, heldout: CropSet,
             samples: int = 128, seed: int = 1) -> dict:
    """Metrics of ``model`` on ``heldout`` crops and of samples from the fitted prior."""
    model.eval()
    real = heldout.as_float(slice(0, None))
    recons = torch.cat([model.decoder(model.encoder(real[i:i + 64])[0]) for i in range(0, len(real), 64)])
    gen = torch.Generator().manual_seed(seed)
    z = prior_mean + torch.randn((samples, prior_mean.shape[0]), generator=gen) @ prior_chol.T
    fakes = torch.cat([model.decoder(z[i:i + 64]) for i in range(0, samples, 64)])
    real_n = real[:samples]
    return {
        "heldout_psnr_db": round(psnr(recons, real), 2),
        "diversity_samples": round(mean_pairwise_distance(fakes), 4),
        "diversity_real": round(mean_pairwise_distance(real_n), 4),
        "diversity_ratio": round(mean_pairwise_distance(fakes) / mean_pairwise_distance(real_n), 3),
        "sharpness_ratio_samples": round(high_frequency_energy(fakes) / high_frequency_energy(real_n), 3),
        "sharpness_ratio_recons": round(high_frequency_energy(recons) / high_frequency_energy(real), 3),
    }
