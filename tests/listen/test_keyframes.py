"""A user's pictures as keyframes: found in the latent space, and one clear line for bad files."""

import pytest
import torch
from PIL import Image

from tests.models.test_fastgan import trained_looking
from visualizer.engine import to_uint8_images
from visualizer.listen.keyframes import KeyframeError, place_pictures, project
from visualizer.listen.picture import descriptor
from visualizer.models import load_generator
from visualizer.models.fastgan import FastGANConfig, FastGANGenerator


def test_bad_keyframes_are_one_clear_line(tmp_path, tiny_checkpoint):
    gen = load_generator(tiny_checkpoint, device="cpu")
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "fake.png").write_bytes(b"\x89PNG but not really" * 10)
    (tmp_path / "empty").mkdir()
    for paths, words in (([str(tmp_path / "missing.png")], "no such file"), ([str(tmp_path / "fake.png")], "not a picture"),
                         ([str(tmp_path / "notes.txt")], "not a picture"), ([str(tmp_path / "empty")], "no pictures")):
        with pytest.raises(KeyframeError, match=words) as err:
            place_pictures(paths, gen)
        assert "\n" not in str(err.value)


def test_a_gan_picture_is_found_again_by_projection(tmp_path):
    gen = FastGANGenerator(trained_looking(FastGANConfig.for_resolution(32, z_dim=16)), device=torch.device("cpu"))
    truth = torch.randn((1, 16), generator=torch.Generator().manual_seed(3))
    truth = truth * 4 / truth.norm()
    target = gen(truth)
    found = project(gen, target)
    with torch.no_grad():
        got = descriptor(gen(found[None]))
        others = descriptor(gen(torch.randn((16, 16), generator=torch.Generator().manual_seed(9))))
    want = descriptor(target)
    # A random network's pictures differ little, so the test compares with other draws, not an absolute bound.
    assert (got - want).norm() < 0.2 * (others - want).norm(dim=1).min()
    assert (found - truth[0]).norm() < 0.25 * truth.norm()
    # From a file, as --keyframes takes it (a folder of pictures).
    Image.fromarray(to_uint8_images(target)[0]).save(tmp_path / "target.png")
    assert place_pictures([str(tmp_path)], gen).shape == (1, 16)


def test_a_visvae_picture_is_placed_by_its_encoder(tiny_checkpoint):
    gen = load_generator(tiny_checkpoint, device="cpu")
    eps = torch.randn((1, gen.latent_dim), generator=torch.Generator().manual_seed(1))
    picture = gen(gen.from_normal(eps))
    placed = project(gen, picture)
    assert placed.shape == (gen.latent_dim,) and torch.isfinite(placed).all()
