"""``visualizer train --family fastgan``: a theme, a run (new or resumed), and what each checkpoint ships."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import torch

from visualizer.errors import UserError
from visualizer.models.fastgan import FastGANConfig, FastGANGenerator
from visualizer.models.io import FASTGAN_FORMAT, save_fastgan
from visualizer.train.gan import (GANTrainConfig, Run, ResumeError, load_state, new_run, save_state,
                                  shipped_generator, train_gan)
from visualizer.train.metrics import quick_gan_metrics
from visualizer.train.themes import as_float, build_theme

HELDOUT_SEED = 1000  # the held-out crops every checkpoint is measured against


def _slug(data: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", Path(data).name if "/" in data else data).strip("-").lower() or "data"


def default_paths(data: str, cache: Path, resolution: int) -> tuple[Path, Path]:
    """(model file, state file) of a run on ``data`` when the user names neither."""
    name = f"fastgan-{_slug(data)}-{resolution}"
    return Path(f"{name}.safetensors"), cache / "runs" / f"{name}.pt"


def training_record(run: Run, cfg: GANTrainConfig, metrics: dict) -> dict:
    """What a shipped checkpoint says of how it was made (kept as JSON in its metadata)."""
    return {"family": "fastgan", "data": run.data, "steps": run.step, "minutes": round(run.minutes, 1),
            "cpu_hours": round(run.cpu_hours, 2), "train": {k: v for k, v in vars(cfg).items() if k != "minutes"},
            "metrics": metrics, "saved": time.strftime("%Y-%m-%d %H:%M")}


def warm_start(model: Path, cfg: GANTrainConfig, data: str | None) -> Run:
    """A new run whose generator and EMA generator are a trained FastGAN model's (its discriminator and
    optimisers start afresh), counting on from the model's own training record."""
    from visualizer.models.io import fastgan_from_safetensors, read_safetensors

    if model.suffix != ".safetensors" or not model.is_file():
        raise ResumeError(f"--init {model}: not a FastGAN model file (.safetensors, as 'visualizer train' writes)")
    tensors, metadata = read_safetensors(model)
    if metadata.get("format") != FASTGAN_FORMAT:
        raise ResumeError(f"--init {model} is not a FastGAN model; --init takes a model 'visualizer train' wrote")
    net = fastgan_from_safetensors(model, tensors, metadata)
    record = json.loads(metadata.get("training") or "{}")
    if data is not None and record.get("data") not in (None, data):
        raise ResumeError(f"--init {model} was trained on --data {record['data']}, not {data}; drop --data")
    run = new_run(net.cfg, cfg, data or record.get("data") or "flames")
    run.g.load_state_dict(net.state_dict())
    run.g_ema.load_state_dict(net.state_dict())
    run.step, run.minutes = int(record.get("steps", 0)), float(record.get("minutes", 0.0))
    run.cpu_hours = float(record.get("cpu_hours", 0.0))
    run.history = [{"step": run.step, "warm_start": model.name}]
    return run


def train_fastgan(data: str | None, cfg: GANTrainConfig, *, out: Path | None, cache: Path, state: Path | None,
                  resume: Path | None, log=print, model_cfg: FastGANConfig | None = None,
                  init: Path | None = None, compact_state: Path | None = None) -> Path:
    """Train (or go on training) a FastGAN on ``data`` and write its EMA generator to ``out`` at every
    checkpoint; returns the model file. ``init``: start from a trained model's generator instead of
    afresh; ``compact_state``: at the end, also write a compact copy of the state there."""
    if init is not None and resume is not None:
        raise UserError("--init starts a new run from a model and --resume goes on with a state; give one")
    if init is not None:
        run = warm_start(init, cfg, data)
        data, model_cfg = run.data, run.g.cfg
        log(f"starting from {init}: step {run.step}, {run.cpu_hours:.1f} CPU-hours so far; the discriminator "
            "starts afresh")
    if resume is not None:
        run = load_state(resume, cfg)
        if data is not None and data != run.data:
            raise ResumeError(f"{resume} was trained on --data {run.data}, not {data}; drop --data or start afresh")
        model_cfg = run.g.cfg
        log(f"resuming {resume}: step {run.step}, {run.minutes:.0f} min and {run.cpu_hours:.1f} CPU-hours so far")
    model_cfg = model_cfg or FastGANConfig()
    data = run.data if resume is not None or init is not None else (data or "flames")
    default_out, default_state = default_paths(data, cache, model_cfg.resolution)
    out = out or default_out
    state = state or resume or default_state
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out} should end in .safetensors")
    if resume is None and state.exists():
        raise UserError(f"a training state already exists at {state}; continue it with --resume {state}, or "
                        "start another run with --state NEW.pt")
    train, heldout = build_theme(data, cache, model_cfg.resolution, log=log)
    log(f"{data}: {len(train)} training sources, {len(heldout)} held out")
    if resume is None and init is None:
        run = new_run(model_cfg, cfg, data)
    real = as_float(heldout.fixed_crops(64, model_cfg.resolution, HELDOUT_SEED))

    def on_checkpoint(run: Run) -> None:
        net = shipped_generator(run)
        metrics = quick_gan_metrics(FastGANGenerator(net, device=torch.device("cpu")), real)
        run.history.append({"step": run.step, "minutes": round(run.minutes, 1), **metrics})
        save_fastgan(out, net, training_record(run, cfg, metrics))
        log(f"checkpoint at step {run.step}: {out} | sharpness {metrics['sharpness_ratio']:.2f} diversity "
            f"{metrics['diversity_ratio']:.2f} swd {metrics['swd_x1e3']}")

    train_gan(run, train, cfg, state_path=state, on_checkpoint=on_checkpoint, log=log)
    if compact_state is not None:
        save_state(run, compact_state, cfg, compact=True)
        log(f"compact state: {compact_state} ({compact_state.stat().st_size / 1e6:.1f} MB)")
    return out
