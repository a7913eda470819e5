"""A user's pictures placed in a generator's latent space, as keyframes the music's place can land on.

A VisVAE has an encoder: a picture's place is its posterior mean. A GAN has none, so the place
is found by optimisation, as NVlabs' projector does for StyleGAN: start from the prior sample
that looks most like the picture (of 32), then follow the gradient of the picture distance (L1 at
64 px plus the colour-histogram descriptor) through the frozen generator for 100 steps, staying
on the prior's sphere. Places are in standard-normal coordinates, like the music map's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from visualizer.errors import UserError
from visualizer.listen.picture import descriptor
from visualizer.train.dataset import IMAGE_SUFFIXES


class KeyframeError(UserError):
    """A keyframe picture that is missing or not a picture."""


def picture_files(paths: list[str]) -> list[Path]:
    """The pictures named, folders expanded (sorted); a KeyframeError for a missing path or a non-picture."""
    out: list[Path] = []
    for name in paths:
        p = Path(name).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise KeyframeError(f"--keyframes {p}: the folder holds no pictures (PNG, JPEG, WebP)")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise KeyframeError(f"--keyframes {p}: no such file or folder")
    return out


def read_square(path: Path, size: int) -> torch.Tensor:
    """A picture's centre square at ``size`` px: [1, 3, size, size] in [-1, 1]; KeyframeError if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            side = min(img.size)
            left, top = (img.width - side) // 2, (img.height - side) // 2
            img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)
            array = np.asarray(img, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError):
        raise KeyframeError(f"--keyframes {path}: not a picture this program can read (use PNG or JPEG)") from None
    return torch.from_numpy(array / 127.5 - 1.0).permute(2, 0, 1)[None]


def _encoded(generator, target: torch.Tensor) -> torch.Tensor | None:
    """A VisVAE's own encoding of ``target`` in standard-normal coordinates, or None for other families."""
    from visualizer.models.io import load_visvae
    from visualizer.models.visvae import VisVAEGenerator

    if not isinstance(generator, VisVAEGenerator):
        return None
    model, mean, chol = load_visvae(generator.source)
    with torch.no_grad():
        posterior = model.encoder(target)[0]
    return torch.linalg.solve_triangular(chol, (posterior - mean).T, upper=False).T


def project(generator, target: torch.Tensor, steps: int = 100, seed: int = 0) -> torch.Tensor:
    """The standard-normal coordinates [D] whose picture looks most like ``target`` [1, 3, R, R]."""
    encoded = _encoded(generator, target)
    if encoded is not None:
        return encoded[0]
    from visualizer.listen.place import sphere

    small = F.interpolate(target, size=64, mode="area")
    want = descriptor(target)
    candidates = sphere(torch.randn((32, generator.latent_dim), generator=torch.Generator().manual_seed(seed)))
    with torch.no_grad():
        pictures = torch.cat([generator(generator.from_normal(candidates[i:i + 8])).float().cpu()
                              for i in range(0, 32, 8)])
    start = (descriptor(pictures) - want).norm(dim=1).argmin()
    eps = candidates[start:start + 1].clone().requires_grad_(True)
    opt = torch.optim.Adam([eps], lr=0.05)
    for _ in range(steps):
        picture = generator.differentiable(generator.from_normal(eps)).float().cpu()
        loss = (F.interpolate(picture, size=64, mode="area") - small).abs().mean() + (descriptor(picture) - want).norm()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            eps.copy_(sphere(eps))
    return eps.detach()[0]


def place_pictures(paths: list[str], generator, log=lambda msg: None) -> np.ndarray:
    """Every picture under ``paths`` placed in ``generator``'s latent space: [K, D] standard-normal coordinates."""
    places = []
    for path in picture_files(paths):
        places.append(project(generator, read_square(path, generator.resolution)).double().numpy())
        log(f"placed keyframe {path.name}")
    return np.stack(places)
