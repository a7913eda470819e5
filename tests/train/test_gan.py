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


def test_a_compact_state_resumes_with_half_precision_weights_and_fresh_moments(pool, tmp_path):
    run = new_run(TINY, CFG, "test")
    for _ in range(2):
        train_step(run, pool, CFG)
    save_state(run, tmp_path / "full.pt", CFG)
    save_state(run, tmp_path / "compact.pt", CFG, compact=True)
    assert (tmp_path / "compact.pt").stat().st_size < 0.4 * (tmp_path / "full.pt").stat().st_size
    resumed = load_state(tmp_path / "compact.pt", CFG)
    assert resumed.step == 2 and resumed.opt_g.state_dict()["state"] == {}
    for name in ("g", "d", "g_ema"):
        for (key, a), b in zip(getattr(run, name).state_dict().items(), getattr(resumed, name).state_dict().values()):
            assert b.dtype == a.dtype, key  # float32 again in memory
            torch.testing.assert_close(b, a, atol=2e-3, rtol=1e-3)
    losses = train_step(resumed, pool, CFG)
    assert resumed.step == 3 and all(np.isfinite(v) for v in losses.values())


def test_a_warm_start_takes_a_models_generator_and_its_step_count(pool, tmp_path):
    from visualizer.train.session import warm_start

    run = new_run(TINY, CFG, "test")
    for _ in range(2):
        train_step(run, pool, CFG)
    path = tmp_path / "tiny.safetensors"
    save_fastgan(path, shipped_generator(run), {"data": "test", "steps": 2, "minutes": 1.5, "cpu_hours": 0.05})
    warm = warm_start(path, CFG, None)
    assert (warm.data, warm.step, warm.cpu_hours) == ("test", 2, 0.05)
    z = torch.randn(2, TINY.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(warm.g_ema.eval()(z), shipped_generator(run)(z), atol=5e-3, rtol=0)
    assert not states_equal(warm.d, run.d)  # the discriminator starts afresh
    train_step(warm, pool, CFG)
    with pytest.raises(ResumeError, match="not 'other'|not other"):
        warm_start(path, CFG, "other")
    with pytest.raises(ResumeError, match="not a FastGAN model"):
        warm_start(tmp_path / "missing.pt", CFG, None)
