"""The default model's image collection, rebuilt from Debian's wallpaper packages.

The packages hold DFSG-free photographs and abstract art. We download the .deb files
with ``apt-get download`` (no installation, no root needed for that step), unpack them
with ``dpkg-deb -x`` and cut random square crops at several scales, which gives a
texture-rich set of a few thousand 256x256 pictures from under a hundred wallpapers.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from visualizer.errors import UserError

WALLPAPER_PACKAGES = ("gnome-backgrounds", "plasma-workspace-wallpapers", "mate-backgrounds")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
MIN_FILE_BYTES = 100_000  # skips icons, thumbnails and flat-colour fills


class DatasetError(UserError):
    """The image collection could not be built (no apt, no packages, no images)."""


def fetch_packages(cache_dir: Path, packages: tuple[str, ...]) -> Path:
    """Download and unpack Debian ``packages`` into ``cache_dir`` (once); returns the unpacked root."""
    root = cache_dir / "root"
    marker = cache_dir / "unpacked.txt"
    if marker.exists() and marker.read_text().split() == list(packages):
        return root
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DatasetError("apt-get/dpkg-deb not found: building the image set needs a Debian machine")
    debs = cache_dir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["apt-get", "download", *packages], cwd=debs, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise DatasetError(
            f"apt-get download {' '.join(packages)} failed ({result.stderr.strip().splitlines()[-1:]}); "
            "run 'apt-get update' first"
        )
    root.mkdir(parents=True, exist_ok=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    marker.write_text("\n".join(packages))
    return root


def fetch_wallpapers(cache_dir: Path, packages: tuple[str, ...] = WALLPAPER_PACKAGES) -> Path:
    """Download and unpack the wallpaper packages into ``cache_dir``; returns the unpacked root."""
    return fetch_packages(cache_dir, packages)


def list_images(root: Path) -> list[Path]:
    """Image files under ``root``, one per wallpaper (the largest of each multi-size set)."""
    best: dict[Path, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        if path.stat().st_size < MIN_FILE_BYTES:
            continue
        # Plasma ships one wallpaper as contents/images/<W>x<H>.jpg in several sizes.
        key = path.parent if path.parent.name.startswith("images") else path
        if key not in best or path.stat().st_size > best[key].stat().st_size:
            best[key] = path
    return sorted(best.values())


def is_held_out(path: Path, fraction: float = 0.1) -> bool:
    """Deterministic split by path: about ``fraction`` of the wallpapers are held out."""
    # The last four path parts name a wallpaper uniquely (Plasma's file names are just sizes).
    digest = hashlib.sha256("/".join(path.parts[-4:]).encode()).digest()
    return digest[0] < 256 * fraction


def load_image(path: Path, short_side: int) -> torch.Tensor:
    """Decode one image as uint8 [3, H, W], scaled so its shorter side is at most ``short_side``."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = short_side / min(img.size)
        if scale < 1.0:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
        array = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


@dataclass
class CropSet:
    """Square crops as uint8 [N, 3, size, size]; ``as_float`` maps them to [-1, 1]."""

    images: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def as_float(self, index: torch.Tensor | slice) -> torch.Tensor:
        return self.images[index].float().div_(127.5).sub_(1.0)


def random_crops(
    images: list[torch.Tensor], count: int, *, size: int, rng: np.random.Generator,
    min_fraction: float = 0.25, max_fraction: float = 1.0,
) -> CropSet:
    """Cut ``count`` square crops whose side is a random fraction of each image's shorter side.

    Scales are drawn log-uniformly, so close-up textures and whole compositions are equally
    common; half the crops are mirrored left-right.
    """
    out = torch.empty((count, 3, size, size), dtype=torch.uint8)
    for i in range(count):
        img = images[rng.integers(len(images))]
        _, h, w = img.shape
        short = min(h, w)
        fraction = np.exp(rng.uniform(np.log(min_fraction), np.log(max_fraction)))
        side = max(size // 2, int(short * fraction))
        side = min(side, short)
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        crop = img[:, y : y + side, x : x + side].unsqueeze(0).float()
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        out[i] = crop.round_().clamp_(0, 255).to(torch.uint8)[0]
    return CropSet(out)


def build_crop_sets(
    cache_dir: Path, *, size: int, train_count: int, heldout_count: int, seed: int,
) -> tuple[CropSet, CropSet, int, int]:
    """Train and held-out crop sets from the wallpaper packages.

    Returns (train, heldout, number of train wallpapers, number of held-out wallpapers).
    """
    root = fetch_wallpapers(cache_dir)
    paths = list_images(root)
    if not paths:
        raise DatasetError(f"no images found under {root}")
    short_side = size * 3
    train_imgs = [load_image(p, short_side) for p in paths if not is_held_out(p)]
    held_imgs = [load_image(p, short_side) for p in paths if is_held_out(p)]
    if not held_imgs or not train_imgs:
        raise DatasetError("the held-out split left one side empty; add packages")
    rng = np.random.default_rng(seed)
    train = random_crops(train_imgs, train_count, size=size, rng=rng)
    heldout = random_crops(held_imgs, heldout_count, size=size, rng=rng)
    return train, heldout, len(train_imgs), len(held_imgs)
