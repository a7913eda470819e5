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
    comp = Compositor((64, 64))
    yield comp
    comp.release()


def gradient(h=32, w=32):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 60)], axis=-1).astype(np.uint8)


def test_without_effects_the_frame_is_only_scaled(compositor):
    flat = np.full((32, 32, 3), (200, 40, 90), np.uint8)
    compositor.draw(flat, plain())
    out = compositor.read()
    assert out.shape == (64, 64, 3)
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


@pytest.fixture(scope="module")
def wide():
    """A 2:1 output (as 1920x1080 is a wider one), for the fill modes."""
    comp = Compositor((128, 64))
    yield comp
    comp.release()


def test_cover_fills_a_wide_frame_with_the_centre_of_the_picture(wide):
    wide.fit = "cover"
    wide.draw(gradient(64, 64), plain())
    out = wide.read().astype(int)
    assert out.shape == (64, 128, 3)
    assert out[:, 0, 0].mean() < 10 and out[:, -1, 0].mean() > 245     # all of its width
    assert 50 < out[0, :, 1].mean() < 80 and 175 < out[-1, :, 1].mean() < 205  # the middle half of its height
    assert abs(out[32, 64, 0] - 128) < 8 and abs(out[32, 64, 1] - 128) < 8     # centred


def test_cover_fills_a_tall_frame_cropping_the_sides(wide):
    tall = Compositor((48, 96), ctx=wide.ctx)  # one OpenGL context per process: a second would not be current
    try:
        tall.draw(gradient(64, 64), plain())
        out = tall.read().astype(int)
    finally:
        tall.release()
    assert out.shape == (96, 48, 3)
    assert out[0, :, 1].mean() < 10 and out[-1, :, 1].mean() > 245
    assert 50 < out[:, 0, 0].mean() < 80 and 175 < out[:, -1, 0].mean() < 205


def test_mirror_shows_all_of_the_picture_with_seamless_mirrored_sides(wide):
    wide.fit = "mirror"
    wide.draw(gradient(64, 64), plain())
    out = wide.read().astype(int)
    middle = out[:, 32:96]
    assert middle[:, 0, 0].mean() < 10 and middle[:, -1, 0].mean() > 245   # the whole width in the middle
    assert middle[0, :, 1].mean() < 10 and middle[-1, :, 1].mean() > 245   # and the whole height
    # The sides are the picture mirrored at its edges: no jump at a seam.
    np.testing.assert_allclose(out[:, 31 - np.arange(16)], out[:, 32 + np.arange(16)], atol=6)
    np.testing.assert_allclose(out[:, 96 + np.arange(16)], out[:, 95 - np.arange(16)], atol=6)
    assert np.abs(np.diff(out[:, 24:40], axis=1)).max() < 12


def test_wide_shows_all_of_a_picture_drawn_in_the_outputs_shape(wide):
    wide.fit = "wide"
    wide.draw(gradient(32, 64), plain())  # a generator's 2:1 picture for a 2:1 video
    out = wide.read().astype(int)
    assert out[:, 0, 0].mean() < 10 and out[:, -1, 0].mean() > 245      # all of its width
    assert out[0, :, 1].mean() < 10 and out[-1, :, 1].mean() > 245      # and all of its height
    wide.draw(gradient(32, 96), plain())  # 3:1: as cover, the middle of its width
    out = wide.read().astype(int)
    assert out[0, :, 1].mean() < 10 and out[-1, :, 1].mean() > 245
    assert 30 < out[:, 0, 0].mean() < 55 and 200 < out[:, -1, 0].mean() < 225
    wide.fit = "cover"


def test_zoom_blur_shows_the_picture_sharp_over_a_blurred_dimmer_copy(wide):
    checks = ((np.indices((64, 64)).sum(0) // 4) % 2 * 255).astype(np.uint8)
    picture = np.stack([checks, checks, checks], axis=-1)
    wide.fit = "zoom-blur"
    wide.draw(picture, plain())
    out = wide.read().astype(int)
    middle, sides = out[:, 34:94], np.concatenate([out[:, :28], out[:, 100:]], axis=1)
    assert middle.std() > 100                                  # the checks, sharp
    assert sides.std() < 25 and sides.mean() < 0.8 * middle.mean()  # blurred to grey, and dimmer
    wide.fit = "cover"  # back, and the frame uploads again without its mip levels
    wide.draw(picture, plain())
    assert wide.read().astype(int).std() > 100
