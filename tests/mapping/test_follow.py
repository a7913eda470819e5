"""Listen mode end to end on the bundled model and its music map: the place is a function of what is
heard (the same audio, the same place; other music, another place), on the model's prior."""

import numpy as np
import pytest
import torch

from tests.listen.test_listener import drum_loop, pad_chords
from visualizer.audio.analyzer import analyse_signal
from visualizer.audio.sources import AudioClip
from visualizer.engine import OfflineRenderer, hear_clip, place_follower
from visualizer.listen.musicnn import SAMPLE_RATE
from visualizer.listen.picture import descriptor
from visualizer.models import load_generator
from visualizer.settings import Settings

FPS = 10


@pytest.fixture(scope="module")
def generator():
    return load_generator(None, device="cpu")


def plan(audio: np.ndarray, generator, settings: Settings):
    clip = AudioClip(audio[None, :], SAMPLE_RATE)
    track = analyse_signal(clip.mono_at(settings.analysis.sample_rate), settings.analysis)
    follower = place_follower(settings, generator)
    assert follower is not None, "the bundled model has no music map"
    renderer = OfflineRenderer(settings, generator, follower)
    return renderer.plan(track, int(clip.duration_s * FPS), hear_clip(clip, settings))


def pictures(generator, latents: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return descriptor(generator(torch.from_numpy(latents))).numpy()


def test_the_same_music_lands_in_the_same_place_and_other_music_elsewhere(generator):
    settings = Settings().with_overrides(render={"fps": FPS}, listen={"wander": 0.0, "sway": 0.0})
    drums = np.concatenate([drum_loop(10.0), pad_chords(10.0)])
    a = plan(drums, generator, settings)
    b = plan(drums, generator, settings)
    np.testing.assert_array_equal(a.latents, b.latents)
    # After the place has settled (5 s in): the drums' pictures against the chords' pictures.
    drum_pics = pictures(generator, a.latents[6 * FPS:10 * FPS:FPS])
    pad_pics = pictures(generator, a.latents[16 * FPS:20 * FPS:FPS])
    within = np.mean([np.linalg.norm(p - q) for p in drum_pics for q in drum_pics] +
                     [np.linalg.norm(p - q) for p in pad_pics for q in pad_pics]) * 4 / 3  # without the zero diagonal
    between = np.mean([np.linalg.norm(p - q) for p in drum_pics for q in pad_pics])
    assert between > 2 * within


def test_the_place_stays_on_the_prior(generator):
    from visualizer.settings import from_dict, to_dict

    data = to_dict(Settings().with_overrides(render={"fps": FPS}))
    data["mappings"] = []  # no pulses: the place and the walk around it only
    settings = from_dict(data)
    p = plan(np.concatenate([drum_loop(5.0), pad_chords(5.0)]), generator, settings)
    z = torch.from_numpy(p.latents).double() - generator.latent_mean.double()
    # In the prior's own (standard-normal) coordinates the latents sit at its typical radius (a draw's
    # norm / sqrt(D) is 1 +- 3 / sqrt(2 D) in all but rare cases), times walk.truncation.
    eps = generator.from_normal(torch.eye(generator.latent_dim)).double() - generator.latent_mean.double()
    white = torch.linalg.solve(eps.T, z.T).T
    radius = white.norm(dim=1) / np.sqrt(generator.latent_dim) / settings.walk.truncation
    spread = 3 / np.sqrt(2 * generator.latent_dim)
    assert ((radius > 1 - spread) & (radius < 1 + spread)).all(), radius


def test_the_sway_moves_the_picture_and_comes_back_to_its_place(generator):
    from visualizer.settings import from_dict, to_dict

    data = to_dict(Settings().with_overrides(render={"fps": FPS}, listen={"wander": 0.0, "sway": 0.0}))
    data["mappings"] = []
    still = from_dict(data)
    data["listen"]["sway"] = 0.5
    swaying = from_dict(data)
    audio = np.zeros(int(8 * SAMPLE_RATE), np.float32)  # silence: no tempo, so the sway's own 120 BPM
    a, b = plan(audio, generator, still).latents, plan(audio, generator, swaying).latents
    sway = (b - a).astype(np.float64)
    # One cycle a beat at 120 BPM: 0.5 s = 5 frames; over whole cycles it cancels out.
    cycles = sway[: len(sway) // 5 * 5]
    size = np.linalg.norm(cycles, axis=1).mean()
    assert size > 0.1 * np.linalg.norm(a, axis=1).mean()
    assert np.linalg.norm(cycles.mean(0)) < 0.01 * size
