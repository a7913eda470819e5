import json

import numpy as np
import pytest
import torch

from visualizer.models import CheckpointError, Generator, load_generator
from visualizer.models.io import bundled_path, read_safetensors


def test_a_saved_model_loads_back_and_generates_the_same_images(tiny_checkpoint):
    a = load_generator(tiny_checkpoint, device="cpu")
    b = load_generator(tiny_checkpoint, device="cpu")
    assert isinstance(a, Generator)
    z = a.sample_latents(4, seed=5)
    assert z.shape == (4, 16)
    images = a(z)
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    torch.testing.assert_close(images, b(z), rtol=0, atol=0)
    torch.testing.assert_close(a.sample_latents(4, seed=5), z, rtol=0, atol=0)
    assert not torch.equal(a.sample_latents(4, seed=6), z)


def test_the_prior_is_the_one_stored(tiny_checkpoint):
    g = load_generator(tiny_checkpoint, device="cpu")
    tensors, _ = read_safetensors(tiny_checkpoint)
    z = g.sample_latents(20000, seed=0)
    np.testing.assert_allclose(z.mean(0), tensors["prior.mean"], atol=0.03)
    cov = torch.cov(z.T)
    chol = tensors["prior.chol"]
    np.testing.assert_allclose(cov, chol @ chol.T, atol=0.03)


def test_corrupt_checkpoints_are_refused_with_one_line(tmp_path, tiny_checkpoint):
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x80\x04\x95 this is a pickle, not safetensors" * 10)
    for path in (truncated, garbage, tmp_path / "missing.safetensors"):
        with pytest.raises(CheckpointError) as err:
            load_generator(path, device="cpu")
        assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_checkpoint_with_wrong_tensors_is_refused(tmp_path, tiny_checkpoint):
    from safetensors.torch import save_file

    tensors, meta = read_safetensors(tiny_checkpoint)
    del tensors["decoder.fc.weight"]
    broken = tmp_path / "broken.safetensors"
    save_file(tensors, str(broken), metadata=meta)
    with pytest.raises(CheckpointError, match="damaged"):
        load_generator(broken, device="cpu")
    meta = dict(meta, format="something-else")
    other = tmp_path / "other.safetensors"
    save_file(read_safetensors(tiny_checkpoint)[0], str(other), metadata=meta)
    with pytest.raises(CheckpointError, match="unknown format"):
        load_generator(other, device="cpu")


def test_cuda_on_a_machine_without_it_is_a_clear_error(tiny_checkpoint):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(CheckpointError, match="no CUDA GPU"):
        load_generator(tiny_checkpoint, device="cuda")


def test_the_bundled_visvae_makes_varied_pictures_not_grey_blur():
    g = load_generator("visvae", device="cpu")
    assert (g.resolution, g.latent_dim) == (256, 128)
    images = g(g.sample_latents(8, seed=0))
    per_image_std = images.std(dim=(1, 2, 3))
    assert per_image_std.median() > 0.12  # most are not flat (a night sky may be)
    assert (images[0] - images[1]).abs().mean() > 0.1  # different seeds, different pictures
    _, meta = read_safetensors(bundled_path("visvae"))
    metrics = json.loads(meta["training"])["metrics"]
    # Guards against shipping a worse model than the one measured in checkpoints/README.md.
    assert metrics["heldout_psnr_db"] > 20 and metrics["sharpness_ratio_samples"] > 0.05
