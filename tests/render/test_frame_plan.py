"""The frame plan: on disk when it is big (and gone when dropped), and a chunk's part of it draws
exactly the frames the whole plan draws there."""

import tempfile
from pathlib import Path

import numpy as np
import pytest

from visualizer.audio.analyzer import analyse_signal
from visualizer.audio.demo import demo_loop
from visualizer.engine import OfflineRenderer
from visualizer.models import load_generator
from visualizer.render.frame_plan import pack_uniforms, plan_array, unpack_uniforms
from visualizer.settings import Settings
from tests.conftest import video_frames as decoded


def test_a_big_plan_lives_in_an_unlinked_file_and_a_small_one_in_memory():
    small = plan_array((10, 4))
    assert type(small) is np.ndarray and small.dtype == np.float32 and not small.any()
    before = set(Path(tempfile.gettempdir()).glob("visualizer-plan-*"))
    big = plan_array((1000, 18, 512), in_memory_bytes=0)
    assert isinstance(big, np.memmap) and big.shape == (1000, 18, 512)
    big[999, 17] = 1.5
    assert big[999, 17, 0] == 1.5 and big[0].sum() == 0
    assert set(Path(tempfile.gettempdir()).glob("visualizer-plan-*")) == before  # nothing to clean up, ever


def test_uniforms_survive_packing():
    from visualizer.mapping.mapper import Uniforms

    u = Uniforms(time_s=1.25, flash=0.5, zoom=1.1, warp=0.2, hue=0.3, vignette=0.4, grain=0.05,
                 flash_color=(1.0, 0.5, 0.25))
    assert unpack_uniforms(pack_uniforms(u)) == u


@pytest.fixture(scope="module")
def planned():
    generator = load_generator(None, device="cpu")
    settings = Settings().with_overrides(render={"size": 48, "fps": 20, "crf": 0, "batch": 4})
    audio = demo_loop(bars=2).mean(0)
    track = analyse_signal(audio[::2].copy(), settings.analysis)  # 22050 Hz
    return settings, generator, OfflineRenderer(settings, generator).plan(track, 80)


@pytest.mark.parametrize("span", [(0, 27), (27, 53), (53, 80)])
def test_a_part_of_the_plan_draws_what_the_whole_plan_draws_there(planned, tmp_path, span):
    settings, generator, plan = planned
    part = plan.part(*span)
    assert len(part.latents) < len(plan.latents) and part.offset <= span[0] and part.end >= span[1]
    assert len(part.keys) % settings.render.batch == 0 or part.keys[-1] == plan.keys[-1]  # whole calls
    renderer = OfflineRenderer(settings, generator)
    renderer.draw(part, tmp_path / "part.mp4", audio=None, section=span)
    renderer.draw(plan, tmp_path / "whole.mp4", audio=None, section=span)
    a, b = decoded(tmp_path / "part.mp4"), decoded(tmp_path / "whole.mp4")
    assert len(a) == span[1] - span[0]
    np.testing.assert_array_equal(a, b)
