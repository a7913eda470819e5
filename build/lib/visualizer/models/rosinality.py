"""rosinality/stylegan2-pytorch checkpoints (``.pt``: a ``g_ema`` state dict) in our StyleGAN2 layout.

Their generator is the same network under other names: ``style.N`` (the mapping),
``input.input`` (the 4x4 constant), ``conv1`` / ``to_rgb1`` at 4 px, then ``convs`` (pairs:
upsampling, plain) and ``to_rgbs`` per resolution, and ``noises.noise_i`` for the constant
noise. Their modulated convolutions scale the weight by 1/sqrt(fan_in) before
demodulation, which demodulation cancels, so the weights carry over as they are. The
checkpoint is read with ``torch.load(weights_only=True)``: tensors and plain data only.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import torch

from visualizer.errors import first_line
from visualizer.models.base import CheckpointError
from visualizer.models.stylegan2 import StyleGAN2, StyleGAN2Config

TORCH_ZIP_MAGIC = b"PK\x03\x04"
W_AVG_SAMPLES = 4096


def is_torch_zip(path: str | Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == TORCH_ZIP_MAGIC


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's top-level dict (tensors, plain data, and the training run's argparse settings)."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for refused or damaged files
        raise CheckpointError(f"checkpoint {path} cannot be read safely: {first_line(exc)[:200]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("g_ema"), dict):
        raise CheckpointError(f"checkpoint {path} has no 'g_ema' generator; expected a rosinality/stylegan2-pytorch "
                              "checkpoint (or use one of the other formats, see the README)")
    return data


def config_from_state(state: dict[str, torch.Tensor]) -> StyleGAN2Config:
    """Sizes read off the tensors: resolution, latent size, mapping depth, channel multiplier."""
    style_dim = state["style.1.weight"].shape[1]
    n_mlp = sum(1 for k in state if re.fullmatch(r"style\.\d+\.weight", k))
    log_size = 2 + sum(1 for k in state if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
    resolution = 2 ** log_size
    # Channels: 512 up to 32 px, then 256 * multiplier at 64 px, halving per doubling.
    channels = {4: state["input.input"].shape[1]}
    for j in range(log_size - 2):
        channels[2 ** (j + 3)] = state[f"convs.{2 * j}.conv.weight"].shape[1]
    multiplier = channels[64] // 256 if 64 in channels else 2
    cfg = StyleGAN2Config(img_resolution=resolution, z_dim=style_dim, w_dim=style_dim, mapping_layers=n_mlp,
                          mapping_lr=0.01, channel_base=16384 * multiplier, channel_max=channels[4])
    if any(cfg.channels(r) != c for r, c in channels.items()):
        raise ValueError(f"channel counts {channels} do not follow the usual channel multiplier")
    return cfg


def our_state(state: dict[str, torch.Tensor], cfg: StyleGAN2Config) -> dict[str, torch.Tensor]:
    """Their names and shapes -> ours (without w_avg, which they keep outside g_ema if at all)."""
    out: dict[str, torch.Tensor] = {}
    for i in range(cfg.mapping_layers):
        out[f"mapping.fc{i}.weight"] = state[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = state[f"style.{i + 1}.bias"]

    def styled(ours: str, theirs: str, noise: str) -> None:
        out[f"{ours}.weight"] = state[f"{theirs}.conv.weight"][0]
        out[f"{ours}.affine.weight"] = state[f"{theirs}.conv.modulation.weight"]
        out[f"{ours}.affine.bias"] = state[f"{theirs}.conv.modulation.bias"]
        out[f"{ours}.noise_strength"] = state[f"{theirs}.noise.weight"].reshape([])
        out[f"{ours}.bias"] = state[f"{theirs}.activate.bias"]
        out[f"{ours}.noise_const"] = state[f"noises.{noise}"][0, 0]

    def to_rgb(ours: str, theirs: str) -> None:
        out[f"{ours}.weight"] = state[f"{theirs}.conv.weight"][0]
        out[f"{ours}.affine.weight"] = state[f"{theirs}.conv.modulation.weight"]
        out[f"{ours}.affine.bias"] = state[f"{theirs}.conv.modulation.bias"]
        out[f"{ours}.bias"] = state[f"{theirs}.bias"].reshape(-1)

    out["synthesis.b4.const"] = state["input.input"][0]
    styled("synthesis.b4.conv1", "conv1", "noise_0")
    to_rgb("synthesis.b4.torgb", "to_rgb1")
    for j, res in enumerate(cfg.block_resolutions[1:]):
        styled(f"synthesis.b{res}.conv0", f"convs.{2 * j}", f"noise_{2 * j + 1}")
        styled(f"synthesis.b{res}.conv1", f"convs.{2 * j + 1}", f"noise_{2 * j + 2}")
        to_rgb(f"synthesis.b{res}.torgb", f"to_rgbs.{j}")
    return out


def stylegan2_from_rosinality(path: Path) -> StyleGAN2:
    """Our StyleGAN2 with a rosinality checkpoint's g_ema weights and its average w.

    The average w is the checkpoint's ``latent_avg`` when it has one; otherwise the mean of
    the mapping over a fixed set of 4096 latents (what their generate.py computes at run time).
    """
    data = read_checkpoint(path)
    state = data["g_ema"]
    try:
        cfg = config_from_state(state)
        net = StyleGAN2(cfg)
        mine = our_state(state, cfg)
        for name, buffer in net.state_dict().items():  # filters and w_avg are ours to keep
            if name.endswith("resample_filter") or name == "mapping.w_avg":
                mine[name] = buffer
        net.load_state_dict({k: v.float() for k, v in mine.items()}, strict=True)
    except (KeyError, ValueError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"{path} is not a StyleGAN2 generator we can read: {first_line(exc)[:200]}") from None
    with torch.no_grad():
        avg = data.get("latent_avg")
        if isinstance(avg, torch.Tensor) and avg.numel() == cfg.w_dim:
            net.mapping.w_avg.copy_(avg.reshape(-1).float())
        else:
            z = torch.randn(W_AVG_SAMPLES, cfg.z_dim, generator=torch.Generator().manual_seed(0))
            net.mapping.w_avg.copy_(net.mapping(z)[:, 0].mean(0))
    assert math.isfinite(float(net.mapping.w_avg.abs().sum()))
    return net
