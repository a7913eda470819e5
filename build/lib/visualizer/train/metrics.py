"""Quality figures for a trained VisVAE: held-out PSNR, sample diversity and sharpness."""

from __future__ import annotations

import math

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


def thumbnails(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Images [B, 3, H, W] shrunk to [B, 3, size, size] by area averaging (for picture distances)."""
    return F.interpolate(images, size=(size, size), mode="area")


def rms_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """RMS pixel distance of every image in ``a`` [N, ...] to every one in ``b`` [M, ...]: [N, M]."""
    fa, fb = a.flatten(1), b.flatten(1)
    return torch.cdist(fa, fb) / fa.shape[1] ** 0.5


def near_duplicate_share(samples: torch.Tensor, threshold: float = 0.05) -> float:
    """Share of samples with another sample within ``threshold`` RMS (on 64 px thumbnails, [-1, 1] scale):
    pictures a viewer would call the same one (mode collapse)."""
    d = rms_distances(thumbnails(samples), thumbnails(samples))
    d.fill_diagonal_(float("inf"))
    return float((d.min(1).values < threshold).float().mean())


def copy_ratio(samples: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor) -> tuple[float, float]:
    """How close samples sit to the training pictures compared with unseen ones of the same theme:
    (median over samples of the nearest training picture's distance over the nearest held-out picture's
    distance, the smallest nearest-training distance). A model that copies its training set has a ratio
    well below 1 and a smallest distance near 0; ``train`` and ``heldout`` should be the same size."""
    ts = thumbnails(samples)
    d_train = rms_distances(ts, thumbnails(train)).min(1).values
    d_held = rms_distances(ts, thumbnails(heldout)).min(1).values
    return float((d_train / d_held.clamp_min(1e-6)).median()), float(d_train.min())


def _gaussian_pyramid_down(x: torch.Tensor) -> torch.Tensor:
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    k = torch.outer(taps, taps).to(x).expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, stride=2, groups=x.shape[1])


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels of images [B, 3, H, W], finest first; the last entry is the low-pass rest."""
    out, x = [], images
    for _ in range(levels - 1):
        small = _gaussian_pyramid_down(x)
        up = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
        out.append(x - up)
        x = small
    return out + [x]


def _patches(level: torch.Tensor, per_image: int, size: int, gen: torch.Generator) -> torch.Tensor:
    b, c, h, w = level.shape
    ys = torch.randint(0, h - size + 1, (b, per_image), generator=gen)
    xs = torch.randint(0, w - size + 1, (b, per_image), generator=gen)
    out = [level[i, :, y:y + size, x:x + size].reshape(-1)
           for i in range(b) for y, x in zip(ys[i].tolist(), xs[i].tolist())]
    return torch.stack(out)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, *, levels: int = 4, patches_per_image: int = 64,
                       patch: int = 7, projections: int = 512, seed: int = 0) -> list[float]:
    """Sliced Wasserstein distance between the 7x7 patches of the Laplacian pyramids of two picture sets
    (as in Karras et al. 2018, "Progressive Growing of GANs"), one figure per level, finest first, x 1000;
    fewer levels for small pictures (the coarsest is at least 16 px).

    Needs no trained network. Patches are normalised per level and channel by the pooled mean and
    spread of both sets; lower is closer; the distance of a set to itself (another draw) is the floor.
    """
    gen = torch.Generator().manual_seed(seed)
    levels = max(1, min(levels, int(math.log2(a.shape[-1] / 16)) + 1))  # the coarsest level is at least 16 px
    out = []
    for la, lb in zip(laplacian_pyramid(a, levels), laplacian_pyramid(b, levels)):
        pa = _patches(la, patches_per_image, patch, gen)
        pb = _patches(lb, patches_per_image, patch, gen)
        n = min(len(pa), len(pb))
        pa, pb = pa[:n].view(n, 3, -1), pb[:n].view(n, 3, -1)
        both = torch.cat([pa, pb])
        mean, std = both.mean(dim=(0, 2), keepdim=True), both.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
        pa, pb = ((pa - mean) / std).flatten(1), ((pb - mean) / std).flatten(1)
        dirs = torch.randn((pa.shape[1], projections), generator=gen)
        dirs /= dirs.norm(dim=0, keepdim=True)
        proj_a, _ = torch.sort(pa @ dirs, dim=0)
        proj_b, _ = torch.sort(pb @ dirs, dim=0)
        out.append(float((proj_a - proj_b).abs().mean()) * 1000)
    return out


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a and b [D] at fractions t [T]: [T, D]."""
    na, nb = a / a.norm(), b / b.norm()
    omega = torch.arccos((na * nb).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    t = t.view(-1, 1)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.no_grad()
def largest_slerp_step(generator, pairs: int = 8, steps: int = 30, seed: int = 3) -> float:
    """Worst, over ``pairs`` slerps between prior samples, of the largest frame-to-frame change as a share
    of the whole path's change (sum of the steps, RMS on pixels): 1/steps for an even morph; a
    "pop" (most of the change in one step) shows as a large share."""
    z = generator.sample_latents(2 * pairs, seed=seed)
    worst = 0.0
    t = torch.linspace(0, 1, steps + 1)
    for i in range(pairs):
        frames = generator(slerp(z[2 * i], z[2 * i + 1], t)).float()
        step = (frames[1:] - frames[:-1]).flatten(1).pow(2).mean(1).sqrt()
        worst = max(worst, float(step.max() / step.sum().clamp_min(1e-8)))
    return worst


@torch.no_grad()
def generated(generator, count: int, seed: int, batch: int = 16) -> torch.Tensor:
    """``count`` pictures [count, 3, R, R] of prior samples, float32 in [-1, 1], contiguous, on the CPU."""
    z = generator.sample_latents(count, seed=seed)
    return torch.cat([generator(z[i:i + batch]).float().cpu().contiguous() for i in range(0, count, batch)])


def quick_gan_metrics(generator, heldout: torch.Tensor, seed: int = 1) -> dict:
    """The checkpoint figures of a GAN run: sharpness and diversity ratios of as many samples as
    ``heldout`` pictures [N, 3, R, R] (in [-1, 1]) against them, the real pictures' high-frequency energy
    (what the shipped model's samples are later checked against) and the SWD per pyramid level."""
    fakes = generated(generator, len(heldout), seed)
    swd = sliced_wasserstein(fakes, heldout, patches_per_image=32, projections=128)
    real_hf = high_frequency_energy(heldout)
    return {
        "sharpness_ratio": round(high_frequency_energy(fakes) / real_hf, 3),
        "real_high_frequency_energy": round(real_hf, 5),
        "diversity_ratio": round(mean_pairwise_distance(fakes) / mean_pairwise_distance(heldout), 3),
        "swd_x1e3": [round(v, 1) for v in swd],
    }
