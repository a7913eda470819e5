"""End-to-end renders on the bundled model (slow: each renders a short real video)."""

import hashlib

import av
import numpy as np
import pytest

from visualizer.audio.demo import demo_loop, write_wav
from visualizer.audio.sources import load_audio
from visualizer.engine import OfflineRenderer, render_file
from visualizer.models.io import load_generator
from visualizer.settings import Settings, from_dict, to_dict
from tests.conftest import CLICK_TIMES, video_frames as frames

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generator():
    return load_generator(None, device="cpu")


def frame_brightness(path):
    with av.open(str(path)) as c:
        return np.array([f.to_ndarray(format="rgb24").mean() for f in c.decode(c.streams.video[0])])


@pytest.mark.parametrize("size", [(96, 96), (1920, 1080), (1080, 1920)], ids=["square", "16x9", "9x16"])
def test_every_click_flashes_in_its_own_frame(tmp_path, click_wav, generator, size):
    """Render with and without the flash mapping: the difference is the flash alone, whatever the picture."""
    fps = 30
    settings = Settings().with_overrides(render={"width": size[0], "height": size[1], "fps": fps})
    data = to_dict(settings)
    data["mappings"] = [m for m in data["mappings"] if m["target"] != "flash"]
    dark = from_dict(data)
    result = render_file(click_wav, tmp_path / "flash.mp4", settings, progress=False, generator=generator)
    render_file(click_wav, tmp_path / "plain.mp4", dark, progress=False, generator=generator)
    step = max(1, min(size) // 96)
    lit, plain = frames(tmp_path / "flash.mp4", step), frames(tmp_path / "plain.mp4", step)
    assert len(lit) == len(plain) == result.frames == 6 * fps
    with av.open(str(tmp_path / "flash.mp4")) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert (video.codec_context.width, video.codec_context.height) == size
        assert abs(float(audio.duration * audio.time_base) - load_audio(click_wav).duration_s) < 0.05
    # How much brighter each frame is with the flash; the 90th percentile ignores pixels already at white.
    gain = np.array([np.percentile(a.astype(int) - b.astype(int), 90) for a, b in zip(lit, plain)])
    peaks = [k for k in range(len(gain)) if gain[k] > 25 and gain[k] >= gain[max(0, k - 1)]
             and gain[k] >= gain[min(len(gain) - 1, k + 1)]]
    click_frames = np.floor(np.array(CLICK_TIMES) * fps).astype(int)
    for frame in click_frames:
        assert any(abs(p - frame) <= 1 for p in peaks), (frame, peaks)
    for peak in peaks:
        assert np.min(np.abs(click_frames - peak)) <= 1, (peak, click_frames)
    assert np.all(gain[:click_frames[0] - 1] < 3)  # nothing before the first click


def test_same_seed_same_video_bit_for_bit(tmp_path, generator):
    audio = write_wav(tmp_path / "loop.wav", demo_loop(bars=1), 44100)
    settings = Settings().with_overrides(render={"size": 64, "fps": 24, "seed": 11})
    digests = []
    for name in ("a.mp4", "b.mp4"):
        render_file(audio, tmp_path / name, settings, progress=False, generator=generator)
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    other = tmp_path / "c.mp4"
    render_file(audio, other, settings.with_overrides(render={"seed": 12}), progress=False, generator=generator)
    assert hashlib.sha256(other.read_bytes()).hexdigest() != digests[0]


def test_video_length_matches_the_audio_within_a_frame(tmp_path, generator):
    audio = write_wav(tmp_path / "odd.wav", demo_loop(bars=1)[:, : int(1.37 * 44100)], 44100)
    out = tmp_path / "odd.mp4"
    render_file(audio, out, Settings().with_overrides(render={"size": 32, "fps": 25}), progress=False,
                generator=generator)
    with av.open(str(out)) as c:
        video_s = c.streams.video[0].frames / 25
        audio_s = float(c.streams.audio[0].duration * c.streams.audio[0].time_base)
    assert abs(video_s - 1.37) <= 1 / 25
    assert abs(audio_s - 1.37) < 0.05


def test_silence_renders_finite_pictures(tmp_path, generator):
    audio = write_wav(tmp_path / "silence.wav", np.zeros(44100, np.float32), 44100)
    settings = Settings().with_overrides(render={"size": 32, "fps": 20})
    clip = load_audio(audio)
    from visualizer.audio.analyzer import analyse_signal

    plan = OfflineRenderer(settings, generator).plan(analyse_signal(clip.mono_at(22050), settings.analysis), 20)
    assert np.isfinite(plan.latents).all() and all(u.flash == 0 for u in plan.uniforms)
    render_file(audio, tmp_path / "silence.mp4", settings, progress=False, generator=generator)
    brightness = frame_brightness(tmp_path / "silence.mp4")
    assert len(brightness) == 20 and brightness.std() < 10 and brightness.mean() > 5


def test_inbetweens_look_like_the_frames_they_stand_in_for(click_wav, generator):
    """Where the render blends instead of generating, the blend is close to what the generator
    would have drawn, and the frames either side of every hit are drawn for real."""
    from visualizer.audio.analyzer import analyse_signal
    from visualizer.engine import to_uint8_images
    from visualizer.render.inbetween import cross_fade
    import torch

    settings = Settings().with_overrides(render={"fps": 30})
    clip = load_audio(click_wav)
    plan = OfflineRenderer(settings, generator).plan(analyse_signal(clip.mono_at(22050), settings.analysis), 180)
    keys = set(plan.keys.tolist())
    assert len(keys) < 0.7 * 180  # in-betweens are used
    steps = np.linalg.norm(np.diff(plan.latents, axis=0), axis=1)
    for k in np.flatnonzero(steps > 10 * np.median(steps)):  # the latent leaps: a pulse's attack
        assert k in keys and k + 1 in keys, k
    exact = to_uint8_images(generator(torch.from_numpy(plan.latents)))
    psnr = []
    for a, b in zip(plan.keys[:-1], plan.keys[1:]):
        for k in range(a + 1, b):
            blend = cross_fade(exact[a], exact[b], (k - a) / (b - a)).astype(float)
            psnr.append(10 * np.log10(255 ** 2 / max(np.mean((blend - exact[k]) ** 2), 1e-10)))
    # dB. A blend across a leap would score 15-20. The worst in-between depends on the picture's fine
    # detail: 32.4 with the step-2991 cosmos, 30.0 with the sharper step 10217 (dense star fields).
    assert min(psnr) > 29 and np.mean(psnr) > 40, (min(psnr), np.mean(psnr))


def test_a_section_is_frame_for_frame_the_same_part_of_the_whole_render(tmp_path, generator):
    audio = write_wav(tmp_path / "loop.wav", demo_loop(bars=2), 44100)
    settings = Settings().with_overrides(render={"size": 64, "fps": 20, "crf": 0})  # lossless: frames compare exactly
    whole = render_file(audio, tmp_path / "whole.mp4", settings, progress=False, generator=generator)
    part = render_file(audio, tmp_path / "part.mp4", settings, progress=False, generator=generator,
                       start_s=1.03, end_s=2.5)
    assert (whole.frames, part.frames) == (80, 29)  # frames 21..49: round(1.03 x 20) to round(2.5 x 20)
    assert part.generated < whole.generated
    all_frames, section = frames(tmp_path / "whole.mp4"), frames(tmp_path / "part.mp4")
    assert len(section) == 29
    for k, frame in enumerate(section):
        assert np.array_equal(frame, all_frames[21 + k]), k
    with av.open(str(tmp_path / "part.mp4")) as c:
        assert abs(float(c.streams.audio[0].duration * c.streams.audio[0].time_base) - 29 / 20) < 0.05


def test_the_plan_mapped_while_the_song_streams_is_the_plan_of_the_whole_song(tmp_path, generator):
    """A render maps each frame as soon as it has been heard, holding only the rows the next frames
    read; the plan must be the one made from the whole song's analysis and listener track."""
    from visualizer.audio.sources import open_audio
    from visualizer.engine import analyse_and_hear, frame_count, place_follower

    audio = write_wav(tmp_path / "loop.wav", demo_loop(bars=3), 44100)
    for mode in ("listen", "loop"):
        settings = Settings().with_overrides(walk={"mode": mode}, render={"fps": 24})
        follower = place_follower(settings, generator)
        renderer = OfflineRenderer(settings, generator, follower)
        streamed, stages = renderer.prepare(open_audio(audio))
        clip = load_audio(audio)
        track, music = analyse_and_hear(clip, settings, hear=follower is not None)
        whole = renderer.plan(track, frame_count(clip.duration_s, 24), music)  # the same follower, started afresh
        assert len(whole.latents) == 144 and set(stages) == {"analysis", "listening", "mapping"}
        np.testing.assert_array_equal(np.asarray(streamed.latents), np.asarray(whole.latents))
        np.testing.assert_array_equal(streamed.uniform_rows, whole.uniform_rows)
        np.testing.assert_array_equal(streamed.keys, whole.keys)
