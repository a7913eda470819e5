"""The Generator protocol every model family implements."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol, runtime_checkable

import torch

from visualizer.errors import UserError


class CheckpointError(UserError):
    """A checkpoint is missing, corrupt, untrusted or of an unknown format."""


class ModelConfig:
    """For a model family's config dataclass: to and from the plain dict stored (as JSON) beside the weights."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """The config in ``data``; keys the dataclass does not have are ignored."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@runtime_checkable
class Generator(Protocol):
    """Latents in, images out; knows nothing of audio or OpenGL.

    ``__call__(latents)`` takes latents [B, latent_dim] (float32, any device) and returns
    images [B, 3, resolution, resolution] float32 in [-1, 1] on ``device``. A layered generator
    (one with ``layer_groups``, e.g. StyleGAN) also takes one latent per layer [B, layers,
    latent_dim] and ``noise_scale`` [B, layers]. One that can draw wider or taller pictures than
    its square (StyleGAN2, StyleGAN3) has ``draw_aspect(aspect) -> (width, height)``, after which
    ``__call__`` draws pictures of that size (``shape_pictures``).
    """

    latent_dim: int
    resolution: int
    device: torch.device

    def __call__(self, latents: torch.Tensor, noise_scale: torch.Tensor | None = None) -> torch.Tensor: ...

    def sample_latents(self, count: int, *, seed: int) -> torch.Tensor:
        """``count`` latents [count, latent_dim] drawn from the model's prior (CPU, float32)."""
        ...

    @property
    def latent_mean(self) -> torch.Tensor:
        """Centre of the prior [latent_dim]; truncation pulls latents toward it."""
        ...

    def from_normal(self, eps: torch.Tensor) -> torch.Tensor:
        """Latents [B, latent_dim] for standard-normal coordinates ``eps`` [B, latent_dim]: the prior's own
        draw for that noise (what a music map outputs is in these coordinates). Differentiable."""
        ...

    def differentiable(self, latents: torch.Tensor) -> torch.Tensor:
        """What ``__call__`` draws, with gradients flowing back to ``latents`` (for training maps and
        projecting pictures); the network's own weights stay frozen."""
        ...


def shape_pictures(generator: Generator, fit: str, size: tuple[int, int]) -> str | None:
    """Have ``generator`` draw pictures of the output's shape ``size`` (w, h) when ``fit`` is "wide"
    and it can, square ones otherwise; returns a note when "wide" is asked of one that cannot."""
    aspect = size[0] / size[1] if fit == "wide" else 1.0
    draw = getattr(generator, "draw_aspect", None)
    if draw is not None:
        draw(aspect)
        return None
    if fit == "wide" and abs(aspect - 1.0) > 1e-3:
        return (f'{type(generator).__name__} draws square pictures only, so effects.fit = "wide" works as '
                '"cover" with it; StyleGAN2 and StyleGAN3 models draw wider ones')
    return None
