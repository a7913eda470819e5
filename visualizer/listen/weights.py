"""Saving and loading the listener's networks: safetensors with the network's config as JSON in the
metadata and a format name that says which kind of network it is; nothing in the file is executed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from visualizer.models.base import CheckpointError
from visualizer.models.io import read_safetensors, write_safetensors


def save_net(path: Path, net: nn.Module, fmt: str, metadata: dict[str, str], *, dtype: torch.dtype = torch.float16,
             exact: tuple[str, ...] = ("running_",)) -> None:
    """Write ``net``'s weights in ``dtype``, the tensors whose names hold one of ``exact`` in float32,
    with ``net.cfg`` and ``metadata`` beside them."""
    tensors = {k: (v.to(dtype) if v.is_floating_point() and not any(s in k for s in exact) else v).contiguous()
               for k, v in net.state_dict().items()}
    write_safetensors(path, tensors, {"format": fmt, "config": json.dumps(net.cfg.to_dict()), **metadata})


def load_net(path: Path, fmt: str, kind: str, build: Callable[[dict], nn.Module]) -> nn.Module:
    """The network of ``fmt`` at ``path`` (``build`` makes it from its config dict), float32, eval mode; a
    CheckpointError naming what is wrong (``kind``: what the file should be, for the message)."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != fmt:
        raise CheckpointError(f"{path} is not {kind}")
    try:
        net = build(json.loads(metadata["config"]))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"listener weights {path} are damaged: {str(exc).splitlines()[0][:160]}") from None
    return net.eval().requires_grad_(False)
