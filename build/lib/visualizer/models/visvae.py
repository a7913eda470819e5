"""VisVAE: a small convolutional variational autoencoder for pictures.

After the SynVAE idea (a visual VAE whose latent space music is mapped into): the
encoder turns an image into a Gaussian posterior over a ``latent_dim`` vector, the
decoder turns a latent vector back into an image. Only the decoder runs while
visualising, so it is shaped to be fast on a CPU: most channels sit at low
resolution, and the last doubling is a pixel shuffle instead of a full-size conv.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from visualizer.models.base import ModelConfig
from visualizer.models.upconv import fold_upsampling


@dataclass(frozen=True)
class VisVAEConfig(ModelConfig):
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


class InferenceDecoder(nn.Module):
    """A frozen copy of a ``Decoder`` for generating: the same pictures with about half the work.

    Every upsample + convolution runs at the low resolution (``visualizer.models.upconv``),
    activations stay channels-last, and the last pixel shuffle and tanh are one pass that
    writes the picture channels-last, so ``images.permute(0, 2, 3, 1)`` (what a texture
    upload wants) is free.
    """

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.first = decoder.first
        self.fc = copy.deepcopy(decoder.fc)
        self.stages = fold_upsampling(copy.deepcopy(decoder.stages))
        self.to_rgb = copy.deepcopy(decoder.to_rgb[0])  # the 12-channel conv; the shuffle is in forward
        self.eval().requires_grad_(False)
        self.to(memory_format=torch.channels_last)

    def forward(self, latents: Tensor) -> Tensor:
        x = nn.functional.leaky_relu(self.fc(latents), 0.2).view(-1, self.first, 4, 4)
        x = self.to_rgb(self.stages(x.contiguous(memory_format=torch.channels_last)))
        x = x.contiguous(memory_format=torch.channels_last)  # [B, 12, R/2, R/2]
        b, _, h, w = x.shape
        out = x.new_empty((b, 2 * h, 2 * w, 3))
        # Pixel shuffle: channel 4c + 2a + d of pixel (i, j) is channel c of pixel (2i + a, 2j + d).
        shuffled = x.permute(0, 2, 3, 1).view(b, h, w, 3, 2, 2).permute(0, 1, 4, 2, 5, 3)
        out.view(b, h, 2, w, 2, 3).copy_(shuffled)
        return out.tanh_().permute(0, 3, 1, 2)


class VisVAEGenerator:
    """A VisVAE decoder as a Generator, with the Gaussian latent prior fitted at training time."""

    def __init__(self, decoder: Decoder, cfg: VisVAEConfig, prior_mean: Tensor, prior_chol: Tensor,
                 *, device: torch.device, source: str = "") -> None:
        self.cfg = cfg
        self.latent_dim = cfg.latent_dim
        self.resolution = cfg.resolution
        self.device = device
        self.source = source
        self._decoder = InferenceDecoder(decoder).to(device)
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

    def from_normal(self, eps: Tensor) -> Tensor:
        return self._prior_mean.to(eps) + eps @ self._prior_chol.to(eps).T

    def differentiable(self, latents: Tensor) -> Tensor:
        return self._decoder(latents.to(self.device, torch.float32))

    @torch.inference_mode()
    def __call__(self, latents: Tensor, noise_scale: Tensor | None = None) -> Tensor:
        """``noise_scale`` is for layered generators; a VisVAE has no noise inputs and ignores it.
        The images come back in channels-last memory order (same shape and values)."""
        return self.differentiable(latents)
