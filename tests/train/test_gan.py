"""Training a FastGAN: a tiny network trains, saves, resumes bit for bit, and ships a loadable model."""

from pathlib import Path

import numpy as np
import pytest
import torch

from visualizer.models import load_generator
from visualizer.models.fastgan import FastGANConfig
from visualizer.models.io import save_fastgan
from visualizer.train.gan import (GANTrainConfig, ResumeError, load_state, new_run, save_state, shipped_generator,
                                  train_step)
from visualizer.train.themes import ImagePool

TINY = FastGANConfig(z_dim=16, resolution=32, channels=(32, 16, 16, 8))
CFG = GANTrainConfig(batch_size=4)


@pytest.fixture(scope="module")
def pool() -> ImagePool:
    """Five real-looking sources: smooth colour fields with a few sharp edges, 48 px."""
    rng = np.random.default_rng(0)
    images = []
    for _ in range(5):
        y, x = np.mgrid[0:48, 0:48] / 48
        img = np.stack([np.sin(6 * x + rng.uniform(0, 6)), y, (x + y > rng.uniform(0.5, 1.5)).astype(float)])
        images.append(torch.from_numpy(((img + 1) * 100).clip(0, 255).astype(np.uint8)))
    return ImagePool(images, [f"src{i}" for i in range(5)])


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_few_steps_change_the_generator_and_the_losses_stay_finite(pool):
    run = new_run(TINY, CFG, "test")
    before = {k: v.clone() for k, v in run.g.state_dict().items()}
    for _ in range(3):
        losses = train_step(run, pool, CFG)
        assert all(np.isfinite(v) for v in losses.values())
    assert run.step == 3
    assert any(not torch.equal(before[k], v) for k, v in run.g.state_dict().items())
    assert not states_equal(run.g, run.g_ema)  # the EMA trails the trained weights


def test_a_resumed_run_takes_exactly_the_steps_of_an_unbroken_one(pool, tmp_path):
    unbroken = new_run(TINY, CFG, "test")
    for _ in range(4):
        train_step(unbroken, pool, CFG)
    broken = new_run(TINY, CFG, "test")
    for _ in range(2):
        train_step(broken, pool, CFG)
    save_state(broken, tmp_path / "state.pt", CFG)
    resumed = load_state(tmp_path / "state.pt", CFG)
    assert resumed.step == 2
    for _ in range(2):
        train_step(resumed, pool, CFG)
    for name in ("g", "d", "g_ema"):
        assert states_equal(getattr(unbroken, name), getattr(resumed, name)), name
    assert unbroken.opt_g.state_dict()["state"][0]["exp_avg"].equal(resumed.opt_g.state_dict()["state"][0]["exp_avg"])


def test_the_shipped_model_loads_as_a_generator_and_draws_what_the_ema_draws(pool, tmp_path):
    run = new_run(TINY, CFG, "test")
    for _ in range(2):
        train_step(run, pool, CFG)
    net = shipped_generator(run)
    path = tmp_path / "tiny.safetensors"
    save_fastgan(path, net, {"steps": run.step})
    gen = load_generator(path, device="cpu")
    assert (gen.latent_dim, gen.resolution) == (16, 32)
    z = gen.sample_latents(3, seed=4)
    images = gen(z)
    assert images.shape == (3, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
    with torch.no_grad():
        expected = net(z)
    torch.testing.assert_close(images, expected, atol=5e-3, rtol=0)  # float16 weights in the file
    assert not path.with_name(path.name + ".tmp").exists()


def test_resume_refuses_other_files_with_a_reason(pool, tmp_path, tiny_checkpoint):
    with pytest.raises(ResumeError, match="not found"):
        load_state(tmp_path / "missing.pt", CFG)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a state" * 50)
    with pytest.raises(ResumeError, match="corrupt"):
        load_state(garbage, CFG)
    with pytest.raises(ResumeError, match="is a model, not a training state"):
        load_state(Path(tiny_checkpoint), CFG)
    other = tmp_path / "other.pt"
    torch.save({"kind": "visualizer-train-state", "family": "stylegan2"}, other)
    with pytest.raises(ResumeError, match="stylegan2"):
        load_state(other, CFG)
