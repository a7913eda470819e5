"""FastGAN as a Generator: the fast inference copy draws what the trained network draws, checkpoints
load safely by file or by bundled name, and the bundled models draw sharp, varied pictures."""

import json

import pytest
import torch
from torch.nn import functional as F

from visualizer.models import CheckpointError, Generator, load_generator
from visualizer.models.fastgan import FastGAN, FastGANConfig, FastGANGenerator
from visualizer.models.io import BUNDLED, bundled_path, read_safetensors, save_fastgan
from visualizer.train.metrics import high_frequency_energy


def trained_looking(cfg: FastGANConfig) -> FastGAN:
    """A random network whose batch-norm statistics were gathered on a few batches, as after training."""
    torch.manual_seed(0)
    net = FastGAN(cfg).train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, cfg.z_dim))
    return net.eval()


@pytest.mark.parametrize("resolution", [32, 256])
def test_the_inference_copy_draws_what_the_network_draws(resolution):
    net = trained_looking(FastGANConfig.for_resolution(resolution, z_dim=32))
    gen = FastGANGenerator(net, device=torch.device("cpu"))
    assert isinstance(gen, Generator)
    z = gen.sample_latents(3, seed=2)
    with torch.no_grad():
        expected = net(z)
    torch.testing.assert_close(gen(z), expected, atol=2e-5, rtol=0)


def test_a_saved_fastgan_loads_by_file_and_refuses_damage(tmp_path):
    net = trained_looking(FastGANConfig.for_resolution(32, z_dim=16))
    path = tmp_path / "g.safetensors"
    save_fastgan(path, net, {"data": "test"})
    gen = load_generator(path, device="cpu")
    assert (gen.latent_dim, gen.resolution) == (16, 32)
    tensors, meta = read_safetensors(path)
    from safetensors.torch import save_file

    del tensors["to_rgb.weight"]
    save_file(tensors, str(tmp_path / "broken.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="damaged"):
        load_generator(tmp_path / "broken.safetensors", device="cpu")


def test_an_unknown_model_name_lists_the_bundled_ones():
    with pytest.raises(CheckpointError) as err:
        load_generator("no-such-model", device="cpu")
    assert all(name in str(err.value) for name in BUNDLED)


def blurred(images: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(images, (2, 2, 2, 2), mode="reflect"), 5, stride=1)


@pytest.mark.parametrize("name", [n for n in BUNDLED if n != "visvae"])
def test_a_bundled_gan_draws_sharp_varied_pictures(name):
    """Sharpness is measured against the held-out pictures of the model's theme, whose detail the
    training run recorded; a constant or blurred output fails (the test checks it would)."""
    from visualizer.train.metrics import generated

    gen = load_generator(name, device="cpu")
    # 64 samples: the fine detail of 16 swings with how many of them happen to be star fields
    # (0.36 to 0.92 of the real pictures' over four seeds with the step-10217 cosmos).
    images = generated(gen, 64, seed=0)
    _, meta = read_safetensors(bundled_path(name))
    real_hf = json.loads(meta["training"])["metrics"]["real_high_frequency_energy"]
    assert high_frequency_energy(images) > 0.5 * real_hf
    assert high_frequency_energy(blurred(images)) < 0.5 * real_hf  # what a blurry model would give
    assert images.std(dim=(1, 2, 3)).median() > 0.1                 # not flat
    distance = (images[:32] - images[32:]).abs().mean(dim=(1, 2, 3))
    assert distance.min() > 0.05                                     # different latents, different pictures
