"""Training a FastGAN on a theme, resumable at any moment.

One step: a batch of real crops and a batch of generated pictures go through the same
differentiable augmentation; the discriminator learns with the hinge loss plus the
reconstruction loss of its decoders (on real pictures only), then the generator learns to
raise the discriminator's logits of its own pictures; an exponential moving average (EMA) of
the generator's weights is the model we ship. Everything random comes from two generators whose
state is saved, so a run resumed from its state file takes exactly the steps it would have
taken had it not stopped.

The state file (generator, discriminator, EMA generator, both optimisers, step, random state,
history) is written every ``checkpoint_minutes`` and when the run ends or is interrupted,
always to a temporary file first and then renamed over the old one, so an interruption at any
moment leaves the previous state whole.
"""

from __future__ import annotations

import copy
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from visualizer.errors import UserError
from visualizer.models.fastgan import FastGAN, FastGANConfig
from visualizer.train.augment import diff_augment
from visualizer.train.discriminator import Discriminator, DiscriminatorConfig, quadrant, reconstruction_loss
from visualizer.train.themes import ImagePool, as_float

STATE_KIND = "visualizer-train-state"
FAMILY = "fastgan"


class ResumeError(UserError):
    """A state file that cannot be resumed: missing, corrupt, or of another family or size."""


@dataclass
class GANTrainConfig:
    """Knobs of ``visualizer train --family fastgan``; stored in the state and the checkpoint."""

    minutes: float = 60.0             # wall-clock budget of this run (resumed runs get a new budget)
    steps: int = 0                    # stop after this many steps in all (0 = only the time budget)
    batch_size: int = 8
    learning_rate: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    ema_decay: float = 0.999
    augment: tuple[str, ...] = ("color", "translation", "cutout")
    recon_weight: float = 1.0
    checkpoint_minutes: float = 5.0   # how often the state (and the shipped model) are written
    seed: int = 0
    threads: int = 0                  # torch CPU threads; 0 keeps torch's default

    @classmethod
    def from_dict(cls, data: dict) -> "GANTrainConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("betas", "augment"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


@dataclass
class Run:
    """Everything a training run is: networks, optimisers, position and random state."""

    g: FastGAN
    d: Discriminator
    g_ema: FastGAN
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    data: str
    step: int = 0
    minutes: float = 0.0              # wall-clock minutes of training, over all resumed runs
    cpu_hours: float = 0.0            # CPU time of the process while training, over all runs
    torch_rng: torch.Generator = field(default_factory=torch.Generator)
    np_rng: np.random.Generator = field(default_factory=np.random.default_rng)
    history: list = field(default_factory=list)


def discriminator_config(cfg: FastGANConfig) -> DiscriminatorConfig:
    """A discriminator sized for the generator: 16 channels at half size, doubling per halving (max 256)."""
    halvings = int(math.log2(cfg.resolution // 8))
    channels = tuple(min(16 * 2 ** i, 256) for i in range(halvings))
    decoder = tuple(max(64 // 2 ** i, 8) for i in range(halvings - 1))
    return DiscriminatorConfig(resolution=cfg.resolution, channels=channels, decoder_channels=decoder)


def new_run(model_cfg: FastGANConfig, cfg: GANTrainConfig, data: str) -> Run:
    torch.manual_seed(cfg.seed)  # initial weights
    g = FastGAN(model_cfg)
    d = Discriminator(discriminator_config(model_cfg))
    g_ema = copy.deepcopy(g).requires_grad_(False)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.learning_rate, betas=cfg.betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.learning_rate, betas=cfg.betas)
    return Run(g, d, g_ema, opt_g, opt_d, data, torch_rng=torch.Generator().manual_seed(cfg.seed),
               np_rng=np.random.default_rng(cfg.seed))


def train_step(run: Run, pool: ImagePool, cfg: GANTrainConfig) -> dict[str, float]:
    """One discriminator and one generator update; returns the losses."""
    g, d, gen = run.g, run.d, run.torch_rng
    res = g.cfg.resolution
    real = as_float(pool.crops(cfg.batch_size, res, run.np_rng))
    z = torch.randn((cfg.batch_size, g.cfg.z_dim), generator=gen)
    part = int(torch.randint(4, (1,), generator=gen))
    g.train()
    d.train()
    fake, fake_half = g(z, with_half=True)
    fake_aug = diff_augment(fake, cfg.augment, gen)
    fake_half_aug = diff_augment(fake_half, cfg.augment, gen)

    real_aug = diff_augment(real, cfg.augment, gen)
    real_half = F.avg_pool2d(real_aug, 2)
    d.requires_grad_(True)
    logits_real, (big, piece, small) = d(real_aug, real_half, decode=True, part=part)
    recon = (reconstruction_loss(big, real_half) + reconstruction_loss(piece, quadrant(real_aug, part))
             + reconstruction_loss(small, real_half))
    loss_real = F.relu(1.0 - logits_real).mean()
    loss_fake = F.relu(1.0 + d(fake_aug.detach(), fake_half_aug.detach())).mean()
    run.opt_d.zero_grad(set_to_none=True)
    (loss_real + loss_fake + cfg.recon_weight * recon).backward()
    run.opt_d.step()

    d.requires_grad_(False)
    loss_g = -d(fake_aug, fake_half_aug).mean()
    run.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    run.opt_g.step()

    # The average warms up (decay (1 + step) / (10 + step) until that reaches ema_decay), so the first
    # checkpoints already show what the generator learnt rather than its random start.
    decay = min(cfg.ema_decay, (1 + run.step) / (10 + run.step))
    with torch.no_grad():
        for p_ema, p in zip(run.g_ema.parameters(), g.parameters()):
            p_ema.lerp_(p, 1.0 - decay)
        for b_ema, b in zip(run.g_ema.buffers(), g.buffers()):
            b_ema.copy_(b)
    run.step += 1
    return {"d_real": loss_real.item(), "d_fake": loss_fake.item(), "recon": recon.item(), "g": loss_g.item()}


@torch.no_grad()
def shipped_generator(run: Run, batches: int = 16, batch_size: int = 8) -> FastGAN:
    """The EMA generator with its batch-norm statistics measured afresh on its own pictures (the
    training generator's running statistics belong to other weights), in eval mode."""
    net = copy.deepcopy(run.g_ema)
    gen = torch.Generator().manual_seed(12345)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batches
    net.train()
    for _ in range(batches):
        net(torch.randn((batch_size, net.cfg.z_dim), generator=gen))
    return net.eval()


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror or exc}); free some space or choose another "
                        "--state path") from None
    finally:
        tmp.unlink(missing_ok=True)


def _half(weights: dict) -> dict:
    """float16 copies of a state dict's weights (batch-norm statistics and counters stay as they are)."""
    return {k: v.half() if v.is_floating_point() and "running_" not in k else v for k, v in weights.items()}


def save_state(run: Run, path: Path, cfg: GANTrainConfig, *, compact: bool = False) -> None:
    """Write the whole run to ``path`` (atomically; read back with ``load_state``). ``compact``: float16
    weights and no optimiser moments, about a sixth of the size, for keeping a resume point in a
    repository (a run resumed from it starts its Adam moments afresh)."""
    nets = {"g": run.g.state_dict(), "d": run.d.state_dict(), "g_ema": run.g_ema.state_dict()}
    optimisers = {} if compact else {"opt_g": run.opt_g.state_dict(), "opt_d": run.opt_d.state_dict()}
    _atomic_save({
        "kind": STATE_KIND, "family": FAMILY, "data": run.data, "compact": compact,
        "model_config": run.g.cfg.to_dict(), "disc_config": run.d.cfg.to_dict(), "train_config": asdict(cfg),
        **({k: _half(v) for k, v in nets.items()} if compact else nets), **optimisers,
        "step": run.step, "minutes": run.minutes, "cpu_hours": run.cpu_hours, "history": run.history,
        "torch_rng": run.torch_rng.get_state(), "np_rng": run.np_rng.bit_generator.state,
    }, path)


def load_state(path: Path, cfg: GANTrainConfig) -> Run:
    """The run saved in ``path``, with optimisers set to ``cfg``'s learning rate; a ResumeError saying
    what is wrong for a missing or corrupt file or one of another family."""
    if not path.is_file():
        raise ResumeError(f"resume state not found: {path}")
    if path.suffix == ".safetensors":
        raise ResumeError(f"{path} is a model, not a training state; --resume takes the .pt state file a run "
                          "writes (--state)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for a damaged zip or pickle
        raise ResumeError(f"resume state {path} is corrupt or not a training state ({type(exc).__name__}); "
                          "start afresh without --resume") from None
    if not isinstance(state, dict) or state.get("kind") != STATE_KIND:
        raise ResumeError(f"{path} is not a training state written by 'visualizer train'")
    if state.get("family") != FAMILY:
        raise ResumeError(f"{path} is a training state of the {state.get('family')!r} family, not {FAMILY!r}; "
                          f"resume it with --family {state.get('family')}")
    try:
        run = new_run(FastGANConfig.from_dict(state["model_config"]), cfg, state["data"])
        run.g.load_state_dict(state["g"])
        run.d.load_state_dict(state["d"])
        run.g_ema.load_state_dict(state["g_ema"])
        if not state.get("compact"):
            run.opt_g.load_state_dict(state["opt_g"])
            run.opt_d.load_state_dict(state["opt_d"])
        run.torch_rng.set_state(state["torch_rng"])
        run.np_rng.bit_generator.state = state["np_rng"]
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise ResumeError(f"resume state {path} is damaged ({str(exc).splitlines()[0][:160]})") from None
    for opt in (run.opt_g, run.opt_d):
        for group in opt.param_groups:
            group["lr"] = cfg.learning_rate
    run.step, run.minutes, run.history = int(state["step"]), float(state["minutes"]), list(state["history"])
    run.cpu_hours = float(state.get("cpu_hours", 0.0))
    return run


class StopRequest:
    """SIGINT / SIGTERM set a flag that the loop reads between steps, so a stop always saves first;
    a second signal stops at once (the state on disk is still the last whole one)."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopRequest":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no signals here
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _eta(seconds: float) -> str:
    return time.strftime("%H:%M", time.localtime(time.time() + seconds))


def train_gan(run: Run, pool: ImagePool, cfg: GANTrainConfig, *, state_path: Path, on_checkpoint=None,
              log=print) -> Run:
    """Train ``run`` for ``cfg.minutes`` (and at most ``cfg.steps`` steps in all), writing the state every
    ``cfg.checkpoint_minutes`` and at the end; ``on_checkpoint(run)`` runs before each write (it exports
    the shipped model and measures it). Stops early, saving first, on SIGINT or SIGTERM."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    budget = cfg.minutes * 60.0
    start = last_save = last_log = time.perf_counter()
    cpu_start = time.process_time()
    minutes_before, steps_before, cpu_before = run.minutes, run.step, run.cpu_hours
    parts: dict[str, float] = {}

    def checkpoint() -> None:
        run.minutes = minutes_before + (time.perf_counter() - start) / 60.0
        run.cpu_hours = cpu_before + (time.process_time() - cpu_start) / 3600.0
        try:
            if on_checkpoint is not None:
                on_checkpoint(run)
        finally:  # the state is written even when exporting the model failed (a full disk, say)
            save_state(run, state_path, cfg)

    with StopRequest() as stop:
        log(f"training from step {run.step} for {cfg.minutes:g} min; Ctrl-C saves the state and stops")
        while True:
            now = time.perf_counter()
            done = now - start >= budget or (cfg.steps and run.step >= cfg.steps) or stop.requested
            if done:
                break
            parts = train_step(run, pool, cfg)
            now = time.perf_counter()
            if now - last_log >= 30.0:
                rate = (now - start) / max(1, run.step - steps_before)
                left = budget - (now - start)
                if cfg.steps:
                    left = min(left, (cfg.steps - run.step) * rate)
                log(f"step {run.step} | {(now - start) / 60:.1f} of {cfg.minutes:g} min, {rate:.2f} s/step, "
                    f"ends ~{_eta(left)} | " + " ".join(f"{k} {v:.3f}" for k, v in parts.items()))
                last_log = now
            if now - last_save >= cfg.checkpoint_minutes * 60.0:
                checkpoint()
                last_save = time.perf_counter()
        if stop.requested:
            log("stopping: saving the state first")
        checkpoint()
    log(f"state saved to {state_path} after {run.step} steps ({run.minutes:.1f} min of training in all)")
    return run
