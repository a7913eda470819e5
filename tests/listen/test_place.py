"""The music map: trained for a model without paired data, it keeps distances, covers the prior, stays
on it, refuses other models and damaged files, and its attribute directions do what they say."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from visualizer.listen.corpus import Corpus
from visualizer.listen.picture import descriptor, qualities
from visualizer.listen.place import MapError, MapTrainConfig, load_map, save_map, train_map
from visualizer.models import load_generator


def synthetic_corpus(n: int = 300, seed: int = 0) -> Corpus:
    """Windows of five kinds of 'music': clusters in the listener's embedding and the acoustic summary."""
    rng = np.random.default_rng(seed)
    centres_e = rng.normal(0, 1, (5, 400))
    centres_a = rng.normal(0, 1, (5, 34))
    kind = rng.integers(0, 5, n)
    return Corpus((centres_e[kind] + 0.3 * rng.normal(0, 1, (n, 400))).astype(np.float32),
                  (centres_a[kind] + 0.3 * rng.normal(0, 1, (n, 34))).astype(np.float32), [f"k{k}" for k in kind])


@pytest.fixture(scope="module")
def trained(tiny_checkpoint, tmp_path_factory):
    generator = load_generator(tiny_checkpoint, device="cpu")
    corpus = synthetic_corpus()
    music_map, figures = train_map(generator, corpus, MapTrainConfig(steps=240, batch=16, prior_batch=128),
                                   log=lambda m: None)
    path = tmp_path_factory.mktemp("maps") / "tiny.map.safetensors"
    save_map(path, music_map, generator, {"test": True})
    return generator, corpus, music_map, path


def test_music_that_sounds_alike_lands_close_and_pictures_follow(trained):
    generator, corpus, music_map, _ = trained
    test = synthetic_corpus(120, seed=1)  # new windows of the same kinds
    d = music_map.basis.descriptors(test.embeddings, test.acoustic)
    eps = music_map(torch.from_numpy(d))
    with torch.no_grad():
        pictures = descriptor(generator(generator.from_normal(eps))).numpy()
    iu = np.triu_indices(len(d), 1)
    music = np.linalg.norm(d[:, None] - d[None], axis=-1)[iu]
    picture = np.linalg.norm(pictures[:, None] - pictures[None], axis=-1)[iu]
    assert spearmanr(music, picture)[0] > 0.4
    kinds = np.array(test.sources)
    same = (kinds[:, None] == kinds[None])[iu]
    assert picture[same].mean() < 0.6 * picture[~same].mean()


def test_the_map_stays_on_the_prior_and_uses_all_of_it(trained):
    generator, corpus, music_map, _ = trained
    d = music_map.basis.descriptors(corpus.embeddings, corpus.acoustic)
    eps = music_map(torch.from_numpy(d)).double()
    dim = generator.latent_dim
    np.testing.assert_allclose(eps.norm(dim=1).numpy(), math.sqrt(dim), rtol=1e-5)  # the prior's typical radius
    # Coverage: no direction is left empty; the outputs' mean is near the centre, unlike a collapse
    # onto one picture (whose mean would sit on the sphere).
    assert eps.mean(0).norm() < 0.5 * math.sqrt(dim)
    assert torch.linalg.matrix_rank(eps - eps.mean(0), tol=1e-3) >= 4


def test_a_map_keeps_its_descriptor_weights_and_an_older_one_reads_as_it_was_trained(trained, tmp_path):
    from visualizer.listen.descriptor import CHROMA_WEIGHT, OLD_CHROMA_WEIGHT, OLD_SUMMARY_SIZE, TIMBRE_WEIGHT
    from visualizer.models.io import read_safetensors, write_safetensors

    generator, corpus, music_map, path = trained
    basis = load_map(path, generator).basis
    assert (basis.chroma_weight, basis.timbre_weight) == (CHROMA_WEIGHT, TIMBRE_WEIGHT)
    # As the maps written before the weights were stored, and before the analyzer heard the timbre:
    tensors, meta = read_safetensors(path)
    del tensors["basis.weights"]
    for name in ("basis.acoustic_mean", "basis.acoustic_std"):
        tensors[name] = tensors[name][:OLD_SUMMARY_SIZE].contiguous()
    axes = music_map.basis.axes.shape[0]
    tensors["net.0.weight"] = tensors["net.0.weight"][:, :axes + OLD_SUMMARY_SIZE].contiguous()
    old = tmp_path / "old.map.safetensors"
    write_safetensors(old, tensors, meta)
    old_map = load_map(old, generator)
    basis = old_map.basis
    assert (basis.acoustic_weight, basis.chroma_weight, basis.size) == (1.0, OLD_CHROMA_WEIGHT, axes + 22)
    d_old = basis.descriptors(corpus.embeddings[:3], corpus.acoustic[:3])   # today's summary: 34 columns
    np.testing.assert_array_equal(d_old, basis.descriptors(corpus.embeddings[:3], corpus.acoustic[:3, :22]))
    d_new = music_map.basis.descriptors(corpus.embeddings[:3], corpus.acoustic[:3])
    np.testing.assert_allclose(d_old[:, -12:] * CHROMA_WEIGHT, d_new[:, -24:-12] * OLD_CHROMA_WEIGHT, rtol=1e-5)
    assert old_map.place(corpus.embeddings[0], corpus.acoustic[0]).shape == (generator.latent_dim,)


def test_a_map_loads_back_and_refuses_other_models_and_damage(trained, tmp_path):
    generator, corpus, music_map, path = trained
    again = load_map(path, generator)
    d = torch.from_numpy(music_map.basis.descriptors(corpus.embeddings[:4], corpus.acoustic[:4]))
    torch.testing.assert_close(again(d), music_map(d))
    other = load_generator(None, device="cpu")  # the bundled model: another latent space
    with pytest.raises(MapError, match="another model"):
        load_map(path, other)
    broken = tmp_path / "broken.map.safetensors"
    broken.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(MapError, match="corrupt") as err:
        load_map(broken, generator)
    assert "\n" not in str(err.value)
    with pytest.raises(MapError, match="not found"):
        load_map(tmp_path / "none.map.safetensors", generator)


def test_attribute_directions_move_the_measured_quality_their_way(trained):
    generator, _, music_map, _ = trained
    eps = torch.randn((32, generator.latent_dim), generator=torch.Generator().manual_seed(5))
    for name in ("brightness", "colourfulness"):
        direction = torch.from_numpy(music_map.attributes[name]).float()
        with torch.no_grad():
            up = qualities(generator(generator.from_normal(eps + 2 * direction)))[name]
            down = qualities(generator(generator.from_normal(eps - 2 * direction)))[name]
        assert (up > down).float().mean() > 0.8, name



def test_every_picture_the_music_lands_on_is_exposed_and_detailed():
    """With the bundled model: the corpus's odd one out, its silence, is pushed by the distance terms
    to the most different pictures; the exposure and detail terms keep its picture within the
    model's own brightness range and above its lower detail."""
    from visualizer.listen.place import picture_ranges

    generator = load_generator(None, device="cpu")
    corpus = synthetic_corpus(120)
    corpus.acoustic[0] = corpus.acoustic.min(0) - 6.0    # silence: far below everything else
    corpus.embeddings[0] = -3.0 * np.abs(corpus.embeddings).max(0)
    seen = {}
    for weight in (0.0, 20.0):
        cfg = MapTrainConfig(steps=24, batch=6, prior_batch=48, exposure_weight=weight, detail_weight=weight,
                             learning_rate=4e-3)
        _, figures = train_map(generator, corpus, cfg, log=lambda m: None)
        seen[weight] = figures
    ranges = picture_ranges(generator, cfg)
    watched, free = seen[20.0], seen[0.0]
    assert watched["silence_detail"] >= ranges.detail * 0.95, watched
    assert ranges.lo * 0.95 <= watched["silence_brightness"] / 255 <= ranges.hi * 1.05, watched
    outside = lambda f: f["silence_detail"] < ranges.detail or not ranges.lo <= f["silence_brightness"] / 255 <= ranges.hi
    assert outside(free), free   # the terms are what keeps it in (this test could fail without them)
