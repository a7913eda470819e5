import numpy as np
import pytest

from visualizer.mapping.mapper import Uniforms
from visualizer.render.compositor import Compositor


def plain(**changes):
    base = Uniforms(time_s=0.0, flash=0.0, zoom=1.0, warp=0.0, hue=0.0, vignette=0.0, grain=0.0,
                    flash_color=(1.0, 1.0, 1.0))
    return Uniforms(**{**base.__dict__, **changes}).as_dict()


@pytest.fixture(scope="module")
def compositor():
    comp = Compositor((64, 48))
    yield comp
    comp.release()


def gradient(h=32, w=32):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 60)], axis=-1).astype(np.uint8)


def test_without_effects_the_frame_is_only_scaled(compositor):
    flat = np.full((32, 32, 3), (200, 40, 90), np.uint8)
    compositor.draw(flat, plain())
    out = compositor.read()
    assert out.shape == (48, 64, 3)
    assert np.abs(out.astype(int) - (200, 40, 90)).max() <= 1


def test_the_picture_is_upright(compositor):
    image = gradient()
    compositor.draw(image, plain())
    out = compositor.read().astype(int)
    assert out[0, :, 1].mean() < 30 and out[-1, :, 1].mean() > 225  # green grows downward
    assert out[:, 0, 0].mean() < 30 and out[:, -1, 0].mean() > 225  # red grows rightward


def test_flash_brightens_toward_its_colour(compositor):
    image = gradient()
    compositor.draw(image, plain())
    dark = compositor.read().astype(int).mean()
    compositor.draw(image, plain(flash=0.5, flash_color=(1.0, 0.0, 0.0)))
    lit = compositor.read().astype(int)
    assert lit[..., 0].mean() > dark + 60
    compositor.draw(image, plain())
    assert np.abs(compositor.read().astype(int).mean() - dark) < 1


def test_zoom_magnifies_the_centre(compositor):
    image = gradient()
    compositor.draw(image, plain(zoom=2.0))
    out = compositor.read().astype(int)
    assert 50 < out[:, 0, 0].mean() and out[:, -1, 0].mean() < 205


def test_hue_rotation_changes_colour_but_not_brightness(compositor):
    flat = np.full((32, 32, 3), (200, 60, 60), np.uint8)
    compositor.draw(flat, plain(hue=1 / 3))
    out = compositor.read()[10, 10].astype(float)
    luma = lambda c: 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
    assert abs(luma(out) - luma((200, 60, 60))) < 4
    assert out[0] < 150  # red moved away


def test_vignette_and_warp_change_the_picture(compositor):
    image = gradient()
    compositor.draw(image, plain())
    base = compositor.read().astype(int)
    compositor.draw(image, plain(vignette=1.0))
    assert compositor.read()[0, 0].astype(int).sum() < base[0, 0].sum() - 20 or base[0, 0].sum() < 30
    compositor.draw(image, plain(warp=1.0, time_s=1.0))
    assert np.abs(compositor.read().astype(int) - base).mean() > 2


def test_cross_fade_between_the_previous_and_the_newest_frame(compositor):
    black = np.zeros((32, 32, 3), np.uint8)
    white = np.full((32, 32, 3), 255, np.uint8)
    compositor.draw(white, plain(), previous=black, mix=0.25)
    assert abs(compositor.read().mean() - 64) < 3
    compositor.draw(white, plain(), previous=black, mix=1.0)
    assert compositor.read().mean() > 250
    grey = np.full((32, 32, 3), 128, np.uint8)
    compositor.draw(grey, plain(), previous=white, mix=0.5)  # a new frame arrives: white becomes previous
    assert abs(compositor.read().mean() - 191) < 3


def test_grain_adds_fine_noise_that_is_the_same_for_the_same_frame(compositor):
    flat = np.full((32, 32, 3), 128, np.uint8)
    compositor.draw(flat, plain(grain=0.2, time_s=1.0))
    a = compositor.read().astype(int)
    compositor.draw(flat, plain(grain=0.2, time_s=1.0))
    assert np.array_equal(a, compositor.read().astype(int))
    assert 5 < a.std() < 40 and abs(a.mean() - 128) < 4
    compositor.draw(flat, plain(grain=0.2, time_s=2.0))
    assert not np.array_equal(a, compositor.read().astype(int))
