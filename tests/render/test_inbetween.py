"""Which frames a render generates, and how in-betweens are blended."""

import numpy as np

from visualizer.render.inbetween import cross_fade, key_frames


def test_a_straight_path_is_generated_every_few_frames_only():
    path = np.linspace(0.0, 1.0, 21)[:, None] * np.ones((1, 8))
    assert key_frames(path, max_inbetweens=3, tolerance=1e-9).tolist() == [0, 4, 8, 12, 16, 20]


def test_no_inbetweens_generates_every_frame():
    path = np.linspace(0.0, 1.0, 9)[:, None]
    assert key_frames(path, max_inbetweens=0, tolerance=1.0).tolist() == list(range(9))


def test_both_sides_of_a_jump_are_generated():
    path = np.zeros((30, 4))
    path[12:] = 5.0  # a hit: the latent leaps between frames 11 and 12
    keys = key_frames(path, max_inbetweens=5, tolerance=0.01).tolist()
    assert 11 in keys and 12 in keys
    assert keys[0] == 0 and keys[-1] == 29
    assert len(keys) < 12  # the flat stretches still skip frames


def test_a_bend_within_tolerance_is_blended_and_beyond_it_is_not():
    path = np.zeros((5, 1))
    path[2] = 0.05
    assert key_frames(path, max_inbetweens=3, tolerance=0.1).tolist() == [0, 4]
    assert 2 in key_frames(path, max_inbetweens=3, tolerance=0.01).tolist()


def test_single_frame_render():
    assert key_frames(np.zeros((1, 3)), max_inbetweens=3, tolerance=0.1).tolist() == [0]


def test_cross_fade_ends_are_exact_and_the_middle_is_the_mean():
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.full((2, 2, 3), 200, np.uint8)
    assert np.array_equal(cross_fade(a, b, 0.0), a)
    assert np.array_equal(cross_fade(a, b, 1.0), b)
    assert np.all(cross_fade(a, b, 0.5) == 100)
    assert cross_fade(a, b, 0.25).dtype == np.uint8
