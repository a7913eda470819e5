"""VisVAE: a small convolutional variational autoencoder for pictures.

After the SynVAE idea (a visual VAE whose latent space music is mapped into): the
encoder turns an image into a Gaussian posterior over a ``latent_dim`` vector, the
decoder turns a latent vector back into an image. Only the decoder runs while
visualising, so it is shaped to be fast on a CPU: most channels sit at low
resolution, and the last doubling is a pixel shuffle instead of a full-size conv.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class VisVAEConfig:
    """Architecture of a VisVAE; stored next to the weights in every checkpoint."""

    latent_dim: int = 128
    resolution: int = 256
    # Channels per decoder stage, from 4x4 up to resolution/2; the last doubling is a pixel shuffle.
    channels: tuple[int, ...] = (256, 256, 192, 96, 48, 24)

    def __post_init__(self) -> None:
        expected = 4 * 2 ** len(self.channels)
        if expected != self.resolution:
            raise ValueError(
                f"resolution {self.resolution} does not match {len(self.channels)} decoder stages "
                f"(which give {expected})"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "VisVAEConfig":
        return cls(
            latent_dim=int(data["latent_dim"]),
            resolution=int(data["resolution"]),
            channels=tuple(int(c) for c in data["channels"]),
        )


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class Decoder(nn.Module):
    """latents [B, latent_dim] -> images [B, 3, resolution, resolution] in [-1, 1]."""

    def __init__(self, cfg: VisVAEConfig) -> None:
        super().__init__()
        first = cfg.channels[0]
        self.fc = nn.Linear(cfg.latent_dim, first * 16)
        self.first = first
        stages: list[nn.Module] = []
        c_in = first
        for c_out in cfg.channels[1:]:
            stages += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1), _act()]
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        # 12 channels at half size become 3 channels at full size.
        self.to_rgb = nn.Sequential(nn.Conv2d(c_in, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, latents: Tensor) -> Tensor:
        x = self.fc(latents).view(-1, self.first, 4, 4)
        x = nn.functional.leaky_relu(x, 0.2)
        return torch.tanh(self.to_rgb(self.stages(x)))


class Encoder(nn.Module):
    """images [B, 3, R, R] in [-1, 1] -> (mean, log-variance), each [B, latent_dim]."""

    def __init__(self, cfg: VisVAEConfig) -> None:
        super().__init__()
        chans = list(reversed(cfg.channels))  # high resolution first
        layers: list[nn.Module] = [nn.PixelUnshuffle(2), nn.Conv2d(12, chans[0], 3, padding=1), _act()]
        c_in = chans[0]
        for c_out in chans[1:]:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), _act()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * 16, 2 * cfg.latent_dim)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        h = self.features(images).flatten(1)
        mean, logvar = self.head(h).chunk(2, dim=1)
        return mean, logvar.clamp(-12.0, 8.0)


class VisVAE(nn.Module):
    """Encoder + decoder pair; ``forward`` returns (reconstruction, mean, logvar)."""

    def __init__(self, cfg: VisVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mean, logvar = self.encoder(images)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return self.decoder(z), mean, logvar


class VisVAEGenerator:
    """A VisVAE decoder as a Generator, with the Gaussian latent prior fitted at training time."""

    def __init__(self, decoder: Decoder, cfg: VisVAEConfig, prior_mean: Tensor, prior_chol: Tensor,
                 *, device: torch.device, source: str = "") -> None:
        self.cfg = cfg
        self.latent_dim = cfg.latent_dim
        self.resolution = cfg.resolution
        self.device = device
        self.source = source
        self._decoder = decoder.to(device).eval().requires_grad_(False)
        self._prior_mean = prior_mean.float().cpu()
        self._prior_chol = prior_chol.float().cpu()

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], metadata: dict[str, str], *,
                     device: torch.device, source: object = "") -> "VisVAEGenerator":
        """Build from a checkpoint's tensors and metadata (see ``visualizer.models.io``)."""
        import json

        from visualizer.errors import first_line
        from visualizer.models.base import CheckpointError

        try:
            cfg = VisVAEConfig.from_dict(json.loads(metadata["config"]))
            decoder = Decoder(cfg)
            state = {k[len("decoder."):]: v.float() for k, v in tensors.items() if k.startswith("decoder.")}
            decoder.load_state_dict(state, strict=True)
            mean, chol = tensors["prior.mean"], tensors["prior.chol"]
            if mean.shape != (cfg.latent_dim,) or chol.shape != (cfg.latent_dim, cfg.latent_dim):
                raise ValueError("prior tensors have the wrong shape")
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {source} is damaged: {first_line(exc)[:200]}") from None
        return cls(decoder, cfg, mean, chol, device=device, source=str(source))

    @property
    def latent_mean(self) -> Tensor:
        return self._prior_mean

    def sample_latents(self, count: int, *, seed: int) -> Tensor:
        gen = torch.Generator().manual_seed(int(seed))
        eps = torch.randn((count, self.latent_dim), generator=gen)
        return self._prior_mean + eps @ self._prior_chol.T

    @torch.inference_mode()
    def __call__(self, latents: Tensor, noise_scale: Tensor | None = None) -> Tensor:
        """``noise_scale`` is for layered generators; a VisVAE has no noise inputs and ignores it."""
        return self._decoder(latents.to(self.device, torch.float32))
