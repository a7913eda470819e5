"""The music map: a music descriptor in, a place in a generator's latent space out.

A small network (two hidden layers) turns a descriptor (``visualizer.listen.descriptor``) into
standard-normal latent coordinates on the sphere of radius sqrt(D), where the prior's samples
live, so every output is a typical draw of the generator's prior (``Generator.from_normal``).

Training needs no pairs of music and pictures. Over batches of corpus windows it asks that
(1) the pictures' distances rise with the descriptors' distances (1 - Pearson correlation over
the batch's pairs between the logs of picture-descriptor and music-descriptor distances, through
the frozen generator; logs, so that near pairs count as much as far ones, and without the
quietest window, which would otherwise set the correlation alone), (2) the latents' own
angular distances do too (a cheap guide through the generator's bends), (3) the outputs
spread over the whole prior: a sliced Wasserstein distance between their projections and those
of true prior samples, so no part of the latent space is left unused and nothing collapses onto
one picture, and (4) every picture the music lands on is one worth showing: its mean brightness
stays within the middle of the generator's own range and its detail (busyness) above the
generator's lower range (``picture_ranges``). Without (4) the distance terms push the corpus's
outliers, silence above all, to the most different pictures a generator has, which for the cosmos
model is an empty black sky, or a murky, soft blob. The quietest corpus window is in every pictured
batch, so what a show displays before the music starts is always watched.
Attribute directions (picture qualities as directions in the same coordinates) are
measured on the generator's samples and stored with the map.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from visualizer.listen.corpus import Corpus
from visualizer.listen.descriptor import DescriptorBasis
from visualizer.listen.picture import MEASURES, descriptor, qualities
from visualizer.models.base import CheckpointError
from visualizer.models.io import read_safetensors, write_safetensors

MAP_FORMAT = "visualizer-music-map"
PROBE_SEED = 2024


class MapError(CheckpointError):
    """A music map that cannot be used: corrupt, or trained for another model."""


def sphere(x: Tensor) -> Tensor:
    """Rows of ``x`` [B, D] scaled to norm sqrt(D), the radius of standard-normal draws."""
    return x * (math.sqrt(x.shape[-1]) / x.norm(dim=-1, keepdim=True).clamp_min(1e-8))


class MusicMap(nn.Module):
    """descriptors [B, size] -> standard-normal latent coordinates [B, latent_dim] on the prior's sphere."""

    def __init__(self, basis: DescriptorBasis, latent_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.basis = basis
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(basis.size, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, latent_dim))
        self.attributes: dict[str, np.ndarray] = {}   # quality -> unit direction [latent_dim]
        self.attribute_slopes: dict[str, float] = {}  # quality change per unit step along it

    def forward(self, descriptors: Tensor) -> Tensor:
        return sphere(self.net(descriptors))

    @torch.no_grad()
    def place(self, embedding: np.ndarray, acoustic: np.ndarray) -> np.ndarray:
        """One place [latent_dim] (float64) for a listener embedding [400] and an acoustic summary [34] (a map
        fitted before the timbre reads its first 22)."""
        d = torch.from_numpy(self.basis.descriptors(embedding, acoustic))
        return self(d)[0].double().numpy()


def _pearson(a: Tensor, b: Tensor) -> Tensor:
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-8)


def _pair_distances(x: Tensor) -> Tensor:
    i, j = torch.triu_indices(len(x), len(x), 1)
    return (x[i] - x[j]).norm(dim=1)


def _log_distances(x: Tensor) -> Tensor:
    """Logs of the pair distances of the rows of ``x``, so near pairs count as much as far ones."""
    return torch.log(_pair_distances(x) + 1e-3)


def _sliced_to_normal(eps: Tensor, gen: torch.Generator, projections: int = 64) -> Tensor:
    """Sliced Wasserstein distance (squared, mean over random directions) between the rows of ``eps``
    and as many standard-normal draws (both on the sphere)."""
    d = eps.shape[1]
    dirs = torch.randn((d, projections), generator=gen)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    ref = sphere(torch.randn(eps.shape, generator=gen))
    a, _ = torch.sort(eps @ dirs, dim=0)
    b, _ = torch.sort(ref @ dirs, dim=0)
    return (a - b).pow(2).mean()


@dataclass
class MapTrainConfig:
    steps: int = 400
    batch: int = 24               # windows whose pictures are drawn each step
    prior_batch: int = 256        # windows for the (cheap) latent-space terms
    learning_rate: float = 2e-3
    latent_weight: float = 0.5
    prior_weight: float = 4.0
    exposure_weight: float = 2.0
    exposure_percentiles: tuple[float, float] = (20.0, 97.0)  # of the prior's picture brightness
    detail_weight: float = 2.0
    detail_percentile: float = 20.0  # of the prior's picture busyness: the floor
    seed: int = 0


def probe(generator) -> Tensor:
    """Picture descriptors of two fixed prior draws: a fingerprint of the generator a map was trained for."""
    eps = torch.randn((2, generator.latent_dim), generator=torch.Generator().manual_seed(PROBE_SEED))
    with torch.no_grad():
        return descriptor(generator(generator.from_normal(eps)).float().cpu())


@dataclass(frozen=True)
class PictureRanges:
    """What a picture worth showing measures, from the generator's own samples: mean brightness
    (luma 0..1) within [lo, hi], busyness (``qualities``) at least ``detail``."""

    lo: float
    hi: float
    detail: float

    def inside(self, q: dict[str, Tensor], slack: float = 1.0) -> Tensor:
        """[B] bool: brightness within the range and detail above the floor (each widened by ``slack``)."""
        return (q["brightness"] >= self.lo / slack) & (q["brightness"] <= self.hi * slack) & \
            (q["busyness"] >= self.detail / slack)


@torch.no_grad()
def picture_ranges(generator, cfg: "MapTrainConfig", samples: int = 128, seed: int = 7) -> PictureRanges:
    """The brightness at ``cfg.exposure_percentiles`` and the busyness at ``cfg.detail_percentile`` of
    ``samples`` pictures from the prior."""
    eps = torch.randn((samples, generator.latent_dim), generator=torch.Generator().manual_seed(seed))
    q = [qualities(generator(generator.from_normal(eps[i:i + 16])).float().cpu()) for i in range(0, samples, 16)]
    lo, hi = np.percentile(torch.cat([x["brightness"] for x in q]).numpy(), cfg.exposure_percentiles)
    detail = np.percentile(torch.cat([x["busyness"] for x in q]).numpy(), cfg.detail_percentile)
    return PictureRanges(float(lo), float(hi), float(detail))


def _shortfall(value: Tensor, floor: float) -> Tensor:
    """Mean squared shortfall of ``value`` below ``floor``, in units of ``floor`` (0 above it)."""
    return (((floor - value).clamp_min(0) / max(floor, 1e-3)) ** 2).mean()


def _exposure_loss(brightness: Tensor, ranges: PictureRanges) -> Tensor:
    """Squared shortfall below ``lo`` and excess above ``hi``, in units of ``lo`` (0 inside the range)."""
    return _shortfall(brightness, ranges.lo) + (((brightness - ranges.hi).clamp_min(0) / max(ranges.lo, 1e-3)) ** 2).mean()


def train_map(generator, corpus: Corpus, cfg: MapTrainConfig = MapTrainConfig(), log=print) -> tuple[MusicMap, dict]:
    """A music map for ``generator`` trained on ``corpus``; returns it and its training figures."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    basis = DescriptorBasis.fit(corpus.embeddings, corpus.acoustic)
    data = torch.from_numpy(basis.descriptors(corpus.embeddings, corpus.acoustic))
    quietest = data[int(np.argmin(corpus.acoustic[:, 1]))]  # column 1: level in dB / 20
    ranges = picture_ranges(generator, cfg)
    music_map = MusicMap(basis, generator.latent_dim)
    opt = torch.optim.Adam(music_map.net.parameters(), lr=cfg.learning_rate)
    start, last = time.perf_counter(), 0.0

    def draw(n: int) -> Tensor:
        idx = torch.randint(len(data), (n,), generator=gen)
        other = torch.randint(len(data), (n,), generator=gen)
        lam = torch.rand((n, 1), generator=gen) * (torch.rand((n, 1), generator=gen) < 0.5)
        return (1 - lam) * data[idx] + lam * data[other]  # half are blends of two windows: a smooth map

    figures = {}
    for step in range(1, cfg.steps + 1):
        lr = cfg.learning_rate * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        many = draw(cfg.prior_batch)
        many[0] = quietest
        eps_many = music_map(many)
        d_music_many = _pair_distances(many)
        angles = _pair_distances(eps_many / math.sqrt(generator.latent_dim))
        loss_latent = 1 - _pearson(angles, d_music_many)
        loss_prior = _sliced_to_normal(eps_many, gen)
        few = many[:cfg.batch]
        images = generator.differentiable(generator.from_normal(eps_many[:cfg.batch])).float()
        pictures = descriptor(images)
        q = qualities(images)
        # Row 0 (the quietest window) is left out: as the outlier of every batch it alone would set the correlation.
        loss_picture = 1 - _pearson(_log_distances(pictures[1:]), _log_distances(few[1:]))
        loss_exposure = _exposure_loss(q["brightness"], ranges)
        loss_detail = _shortfall(q["busyness"], ranges.detail)
        loss = loss_picture + cfg.latent_weight * loss_latent + cfg.prior_weight * loss_prior + \
            cfg.exposure_weight * loss_exposure + cfg.detail_weight * loss_detail
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        figures = {"picture_corr": round(1 - loss_picture.item(), 3), "latent_corr": round(1 - loss_latent.item(), 3),
                   "prior_swd": round(loss_prior.item(), 4),
                   "shown": round(float(ranges.inside(q).float().mean()), 2)}
        now = time.perf_counter()
        if now - last > 30 or step == cfg.steps:
            log(f"map step {step}/{cfg.steps} ({now - start:.0f} s): " + ", ".join(f"{k} {v}" for k, v in figures.items()))
            last = now
    music_map.eval().requires_grad_(False)
    figures.update(exposure_figures(music_map, generator, data, quietest, ranges))
    log("map pictures: " + ", ".join(f"{k} {v}" for k, v in figures.items() if k.startswith(("exposure", "detail", "silence"))))
    measure_attributes(music_map, generator)
    return music_map, figures


@torch.no_grad()
def exposure_figures(music_map: MusicMap, generator, data: Tensor, quietest: Tensor, ranges: PictureRanges,
                     windows: int = 96) -> dict:
    """How the trained map's pictures are exposed: the share of ``windows`` evenly spaced corpus windows
    whose picture is within ``ranges`` (widened by 10 %), and the brightness (luma 0..255) and detail
    of the quietest window's picture."""
    rows = torch.cat([quietest[None], data[torch.linspace(0, len(data) - 1, windows).long()]])
    q = [qualities(generator(generator.from_normal(music_map(rows[i:i + 16]))).float().cpu())
         for i in range(0, len(rows), 16)]
    q = {k: torch.cat([x[k] for x in q]) for k in ("brightness", "busyness")}
    inside = ranges.inside({k: v[1:] for k, v in q.items()}, slack=1.1).float().mean()
    return {"exposure_range": [round(ranges.lo * 255, 1), round(ranges.hi * 255, 1)], "detail_floor": round(ranges.detail, 4),
            "exposure_share": round(float(inside), 3), "silence_brightness": round(float(q["brightness"][0]) * 255, 1),
            "silence_detail": round(float(q["busyness"][0]), 4)}


@torch.no_grad()
def measure_attributes(music_map: MusicMap, generator, samples: int = 384, seed: int = 11) -> None:
    """Directions of the picture qualities in the map's coordinates: the regression of each quality
    (measured on ``samples`` prior draws) on the latent, as a unit vector, and the quality's change
    per unit step along it."""
    eps = sphere(torch.randn((samples, generator.latent_dim), generator=torch.Generator().manual_seed(seed)))
    measured = {k: [] for k in MEASURES}
    for i in range(0, samples, 16):
        images = generator(generator.from_normal(eps[i:i + 16])).float().cpu()
        for k, v in qualities(images).items():
            measured[k].append(v)
    x = eps.double() - eps.double().mean(0)
    for name in MEASURES:
        q = torch.cat(measured[name]).double()
        # Ridge regression: with fewer samples than dimensions a plain least squares would overfit.
        w = torch.linalg.solve(x.T @ x + samples * torch.eye(x.shape[1], dtype=x.dtype), x.T @ (q - q.mean()))
        direction = w / w.norm()
        music_map.attributes[name] = direction.numpy()
        music_map.attribute_slopes[name] = float((x @ direction).dot(q - q.mean()) / (x @ direction).pow(2).sum())


def save_map(path: Path, music_map: MusicMap, generator, record: dict) -> None:
    tensors = {f"net.{k}": v.detach().float().contiguous() for k, v in music_map.net.state_dict().items()}
    tensors.update(music_map.basis.to_tensors())
    tensors.update({f"attribute.{k}": torch.from_numpy(v).float() for k, v in music_map.attributes.items()})
    tensors["probe"] = probe(generator)
    meta = {"format": MAP_FORMAT, "latent_dim": str(music_map.latent_dim),
            "hidden": str(music_map.net[0].out_features), "model": str(getattr(generator, "source", "")),
            "slopes": json.dumps(music_map.attribute_slopes), "training": json.dumps(record)}
    write_safetensors(path, tensors, meta)


def map_path_for(model: str | Path | None) -> Path:
    """Where the music map of a model lives by default: beside it, MODEL.map.safetensors (the bundled
    models' maps are bundled so)."""
    from visualizer.models.io import resolve_checkpoint

    path = resolve_checkpoint(model)
    return path.with_name(path.name.removesuffix(".safetensors") + ".map.safetensors")


def load_map(path: Path, generator=None) -> MusicMap:
    """A music map; with ``generator``, a MapError unless it was trained for that generator."""
    path = Path(path)
    if not path.is_file():
        raise MapError(f"music map not found: {path}; train one with 'visualizer train-map --model MODEL'")
    try:
        tensors, meta = read_safetensors(path)
    except CheckpointError as exc:
        raise MapError(f"music map {path} is corrupt ({exc}); train it again with 'visualizer train-map'") from None
    if meta.get("format") != MAP_FORMAT:
        raise MapError(f"{path} is not a music map (it is {meta.get('format', 'something else')!r})")
    try:
        basis = DescriptorBasis.from_tensors(tensors)
        music_map = MusicMap(basis, int(meta["latent_dim"]), hidden=int(meta["hidden"]))
        music_map.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        music_map.attributes = {k[10:]: v.double().numpy() for k, v in tensors.items() if k.startswith("attribute.")}
        music_map.attribute_slopes = json.loads(meta.get("slopes", "{}"))
    except (KeyError, ValueError, RuntimeError) as exc:
        raise MapError(f"music map {path} is damaged ({str(exc).splitlines()[0][:120]}); train it again") from None
    if generator is not None:
        if music_map.latent_dim != generator.latent_dim or "probe" not in tensors or \
                (probe(generator) - tensors["probe"]).abs().max() > 0.02:
            raise MapError(f"music map {path} was trained for another model ({meta.get('model') or 'unknown'}); "
                           "train one for this model with 'visualizer train-map --model MODEL'")
    return music_map.eval().requires_grad_(False)
