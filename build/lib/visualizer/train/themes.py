"""Image sets ("themes") for training, rebuilt from Debian packages or read from a user's folder.

    cosmos      the deep-sky photographs of stellarium-data (galaxies, nebulae, clusters)
    flames      fractal flames rendered by flam3-utils from random genomes
    wallpapers  the GNOME, Plasma and MATE wallpapers (the VisVAE's set)
    PATH        any folder of pictures

Packages are fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into a cache
folder (no installation, no other network). Each theme is split by a hash of the source's name:
about a tenth of the sources are held out, never trained on, and serve as the real pictures that
samples are measured against. Training batches are cut on the fly: a random square crop of a
random source, a random rotation by a multiple of 90 degrees where the theme has no "up", a
random mirror, resized to the model's size.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from visualizer.errors import UserError
from visualizer.train.dataset import IMAGE_SUFFIXES, DatasetError, fetch_packages, list_images

THEMES = ("cosmos", "flames", "wallpapers")
FLAME_PACKAGES = ("flam3-utils", "libflam3-0", "flam3-palette")
FLAME_RENDER_SIZE_FACTOR = 1.125  # flames are rendered this much larger than the model and cropped back


class ThemeError(UserError):
    """A theme could not be built: an unknown name, a folder without pictures, a missing tool."""


@dataclass
class ImagePool:
    """Source pictures, each uint8 [3, H, W] with a shorter side of at least the crop size, and how
    to cut training crops from them."""

    images: list[torch.Tensor]
    names: list[str]
    min_fraction: float = 0.5   # smallest crop side, as a fraction of the source's shorter side
    rotate: bool = True         # also rotate by multiples of 90 degrees (pictures with no "up")

    def __len__(self) -> int:
        return len(self.images)

    def crops(self, count: int, size: int, rng: np.random.Generator) -> torch.Tensor:
        """``count`` random crops, uint8 [count, 3, size, size]."""
        out = torch.empty((count, 3, size, size), dtype=torch.uint8)
        for i in range(count):
            img = self.images[int(rng.integers(len(self.images)))]
            _, h, w = img.shape
            short = min(h, w)
            lo = max(self.min_fraction * short, min(short, 0.75 * size))  # never enlarge a crop by more than 4/3
            side = int(round(np.exp(rng.uniform(np.log(lo), np.log(short))))) if lo < short else short
            y = int(rng.integers(0, h - side + 1))
            x = int(rng.integers(0, w - side + 1))
            crop = img[:, y:y + side, x:x + side]
            if side != size:
                crop = F.interpolate(crop[None].float(), size=(size, size), mode="bilinear", antialias=True,
                                     align_corners=False)[0].round_().clamp_(0, 255).to(torch.uint8)
            if self.rotate:
                crop = torch.rot90(crop, int(rng.integers(4)), dims=(1, 2))
            if rng.random() < 0.5:
                crop = crop.flip(-1)
            out[i] = crop
        return out

    def fixed_crops(self, count: int, size: int, seed: int) -> torch.Tensor:
        """The same ``count`` crops for the same seed: the real pictures metrics compare against."""
        return self.crops(count, size, np.random.default_rng(seed))


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float32 in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def held_out(name: str, fraction: float = 0.1) -> bool:
    """Deterministic split by a source's name: about ``fraction`` of the sources are held out."""
    return hashlib.sha256(name.encode()).digest()[0] < 256 * fraction


def read_picture(path: Path, max_short_side: int) -> torch.Tensor | None:
    """uint8 [3, H, W] RGB (transparency composited on black), scaled down so its shorter side is at most
    ``max_short_side``; None for a file that is not a readable picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "P"):
                img = img.convert("RGBA")
                black = Image.new("RGBA", img.size, (0, 0, 0, 255))
                img = Image.alpha_composite(black, img)
            img = img.convert("RGB")
            scale = max_short_side / min(img.size)
            if scale < 1.0:
                img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                                 Image.LANCZOS)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def _pools(paths: list[Path], names: list[str], *, size: int, max_short_side: int, min_fraction: float,
           rotate: bool, where: str, log, keep=None) -> tuple[ImagePool, ImagePool]:
    train, held = ImagePool([], [], min_fraction, rotate), ImagePool([], [], min_fraction, rotate)
    unreadable = small = 0
    for path, name in zip(paths, names):
        img = read_picture(path, max_short_side)
        if img is None:
            unreadable += 1
            continue
        if keep is not None and not keep(img):
            continue
        if min(img.shape[1:]) < size:
            small += 1
            continue
        pool = held if held_out(name) else train
        pool.images.append(img)
        pool.names.append(name)
    if unreadable or small:
        log(f"skipped {unreadable} unreadable pictures and {small} smaller than {size} px in {where}")
    if len(train) == 0:
        raise ThemeError(f"no usable pictures in {where} ({len(paths)} files, {unreadable} unreadable, {small} "
                         f"smaller than {size} px); give a folder of PNG or JPEG pictures of at least {size} px")
    if len(held) == 0:  # a tiny folder: hold out one picture so the metrics have something real
        held.images.append(train.images.pop())
        held.names.append(train.names.pop())
        if len(train) == 0:
            raise ThemeError(f"{where} has a single usable picture; give at least two")
    return train, held


def cosmos(cache: Path, size: int, log=print) -> tuple[ImagePool, ImagePool]:
    """Stellarium's deep-sky photographs (about 540, GPL-2+, credits in the package's copyright file)."""
    root = fetch_packages(cache / "packages" / "stellarium", ("stellarium-data",))
    folder = root / "usr" / "share" / "stellarium" / "nebulae" / "default"
    paths = sorted(folder.glob("*.png"))
    return _pools(paths, [p.name for p in paths], size=size, max_short_side=2 * size, min_fraction=0.5,
                  rotate=True, where=str(folder), log=log)


def wallpapers(cache: Path, size: int, log=print) -> tuple[ImagePool, ImagePool]:
    """The wallpapers of gnome-backgrounds, plasma-workspace-wallpapers and mate-backgrounds."""
    from visualizer.train.dataset import fetch_wallpapers

    root = fetch_wallpapers(cache / "packages" / "wallpapers")
    paths = list_images(root)
    return _pools(paths, ["/".join(p.parts[-4:]) for p in paths], size=size, max_short_side=3 * size,
                  min_fraction=0.25, rotate=False, where=str(root), log=log)


def folder(path: Path, size: int, log=print) -> tuple[ImagePool, ImagePool]:
    """Every picture under a user's folder; crops of half to all of each, mirrored, never rotated."""
    if not path.is_dir():
        raise ThemeError(f"--data {path}: no such folder; name a theme ({', '.join(THEMES)}) or a folder of pictures")
    paths = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ThemeError(f"no pictures (PNG, JPEG, WebP) in {path}; give a folder of pictures")
    return _pools(paths, [str(p.relative_to(path)) for p in paths], size=size, max_short_side=2 * size,
                  min_fraction=0.5, rotate=False, where=str(path), log=log)


def _flame_tools(cache: Path) -> tuple[Path, dict[str, str]]:
    root = fetch_packages(cache / "packages" / "flam3", FLAME_PACKAGES)
    env = dict(os.environ)
    libs = [str(p.parent) for p in root.glob("usr/lib/*/libflam3.so*")]
    env["LD_LIBRARY_PATH"] = ":".join(libs + [env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    env["flam3_palettes"] = str(root / "usr" / "share" / "flam3" / "flam3-palettes.xml")
    return root / "usr" / "bin", env


def _flame_genome(text: str, px: int) -> str:
    """A random genome from flam3-genome (drawn at 100 px) set to ``px`` square, sharp density estimation."""
    def scaled(match: re.Match) -> str:
        return f' scale="{float(match.group(1)) * px / 100:.6g}"'

    text = re.sub(r' size="[^"]*"', f' size="{px} {px}"', text, count=1)
    text = re.sub(r' scale="([0-9.eE+-]+)"', scaled, text, count=1)
    text = re.sub(r' estimator_radius="[^"]*"', ' estimator_radius="3"', text, count=1)
    return re.sub(r' supersample="[^"]*"', ' supersample="2"', text, count=1)


def render_flame(bin_dir: Path, env: dict[str, str], seed: int, px: int, out: Path, quality: float = 40) -> bool:
    """Render the random flame of ``seed`` to ``out`` (PNG, ``px`` square); False when it comes out near-empty."""
    genome_env = dict(env, seed=str(seed), isaac_seed=str(seed))
    genome = subprocess.run([str(bin_dir / "flam3-genome")], env=genome_env, capture_output=True, text=True,
                            check=True).stdout
    tmp = out.with_name(out.stem + ".flam3")
    tmp.write_text(_flame_genome(genome, px))
    prefix = out.with_name(out.stem + ".")
    render_env = dict(env, **{"in": str(tmp), "prefix": str(prefix), "format": "png", "qs": str(quality / 1),
                              "transparency": "0", "verbose": "0"})
    subprocess.run([str(bin_dir / "flam3-render")], env=render_env, capture_output=True, check=True)
    tmp.unlink()
    rendered = Path(str(prefix) + "00000.png")
    img = read_picture(rendered, px)
    if img is None or not flame_is_visible(img):
        rendered.unlink(missing_ok=True)
        return False
    rendered.replace(out)
    return True


def flame_is_visible(img: torch.Tensor) -> bool:
    """A flame worth learning from: at least 8 % of its pixels lit (luma > 24 of 255), and shapes rather
    than a flat fill (the luma of 8x8 blocks, which averages the render's grain away, varies by > 8)."""
    luma = img.float().mean(0)
    lit = (luma > 24).float().mean()
    blocks = F.avg_pool2d(luma[None, None], 8)
    return bool(lit > 0.08 and blocks.std() > 8)


def flames(cache: Path, size: int, count: int = 1600, log=print, workers: int | None = None
           ) -> tuple[ImagePool, ImagePool]:
    """``count`` random fractal flames (seeds 1..count; near-empty ones dropped), rendered once and kept."""
    try:
        bin_dir, env = _flame_tools(cache)
    except DatasetError as exc:
        raise ThemeError(str(exc)) from None
    px = int(round(size * FLAME_RENDER_SIZE_FACTOR))
    out_dir = cache / "flames" / f"{px}px"
    out_dir.mkdir(parents=True, exist_ok=True)
    empty_list = out_dir / "empty.txt"
    empty = set(empty_list.read_text().split()) if empty_list.exists() else set()
    todo = [s for s in range(1, count + 1) if str(s) not in empty and not (out_dir / f"{s:06d}.png").exists()]
    if todo:
        log(f"rendering {len(todo)} flames into {out_dir} (about a second each per core)")

        def one(seed: int) -> tuple[int, bool]:
            try:
                return seed, render_flame(bin_dir, env, seed, px, out_dir / f"{seed:06d}.png")
            except (OSError, subprocess.CalledProcessError) as exc:
                raise ThemeError(f"flam3 failed on seed {seed} ({exc}); check that libxml2, libpng and libjpeg "
                                 "are installed") from None

        with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
            for done, (seed, visible) in enumerate(pool.map(one, todo), start=1):
                if not visible:
                    empty.add(str(seed))
                if done % 200 == 0:
                    log(f"  {done}/{len(todo)} flames rendered")
                    empty_list.write_text("\n".join(sorted(empty, key=int)))
        empty_list.write_text("\n".join(sorted(empty, key=int)))
    paths = [out_dir / f"{s:06d}.png" for s in range(1, count + 1) if (out_dir / f"{s:06d}.png").exists()]
    log(f"{len(paths)} flames of {count} genomes ({len(empty)} near-empty dropped)")
    # Renders kept by an earlier, looser test are tested again.
    return _pools(paths, [p.name for p in paths], size=size, max_short_side=px, min_fraction=0.8, rotate=True,
                  where=str(out_dir), log=log, keep=flame_is_visible)


def build_theme(data: str, cache: Path, size: int, log=print) -> tuple[ImagePool, ImagePool]:
    """(train pool, held-out pool) of a theme name or a folder path."""
    builders = {"cosmos": cosmos, "flames": flames, "wallpapers": wallpapers}
    if data in builders:
        try:
            return builders[data](cache, size, log=log)
        except DatasetError as exc:
            raise ThemeError(str(exc)) from None
    return folder(Path(data).expanduser(), size, log=log)
