"""The listener: the torch port's spectrogram, the bundled networks' tags, and the live schedule."""

import librosa
import numpy as np
import pytest

from visualizer.listen.listener import Listener, to_listener_rate
from visualizer.listen.musicnn import SAMPLE_RATE, WINDOW_SAMPLES, log_mel
from visualizer.listen.tags import TAGS


@pytest.fixture(scope="module")
def listener() -> Listener:
    return Listener.bundled()


@pytest.fixture(scope="module")
def teachers() -> Listener:
    return Listener.teachers()


def test_the_spectrogram_is_musicnns():
    y = (0.1 * np.random.default_rng(0).standard_normal(WINDOW_SAMPLES)).astype(np.float32)
    ref = librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_fft=512, hop_length=256, n_mels=96, center=False).T
    ref = np.log10(1 + 10000 * ref.astype(np.float16).astype(np.float32))
    ours = log_mel(y)
    assert ours.shape == ref.shape == (187, 96)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_the_tag_names_are_the_bundled_networks(listener, teachers):
    assert listener.tags == teachers.tags == TAGS
    assert listener.embedding_dim == teachers.embedding_dim == 400


def drum_loop(seconds: float) -> np.ndarray:
    """Kick and snare at 120 BPM with a hi-hat between: noise bursts and a decaying low sine."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rng = np.random.default_rng(1)
    y = np.zeros_like(t)
    for beat in np.arange(0, seconds, 0.25):
        n = (t >= beat) & (t < beat + 0.15)
        tt = t[n] - beat
        if round(beat / 0.25) % 4 == 0:
            y[n] += 0.8 * np.sin(2 * np.pi * 60 * tt) * np.exp(-tt * 20)
        y[n] += 0.3 * rng.standard_normal(n.sum()) * np.exp(-tt * 60)
    return y.astype(np.float32)


def pad_chords(seconds: float) -> np.ndarray:
    """Slow sustained chords of soft sines, no attacks."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    y = sum(0.1 * np.sin(2 * np.pi * f * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.2 * t)) for f in (220, 277, 330, 440))
    return y.astype(np.float32)


@pytest.mark.parametrize("which", ["listener", "teachers"])
def test_drums_and_soft_chords_are_heard_as_different_music(which, request):
    listener = request.getfixturevalue(which)
    drums = listener.track(drum_loop(6.0), 1.0)
    pads = listener.track(pad_chords(6.0), 1.0)
    d, p = drums.tags[-1], pads.tags[-1]
    beat = [TAGS.index(t) for t in ("drums", "beat", "techno", "electronic", "fast")]
    calm = [TAGS.index(t) for t in ("slow", "ambient", "quiet", "soft", "new age")]
    assert d[beat].sum() > p[beat].sum()
    assert p[calm].sum() > d[calm].sum()
    assert np.linalg.norm(drums.embedding[-1] - pads.embedding[-1]) > 0.5 * np.linalg.norm(pads.embedding[-1])


def test_the_teachers_take_turns_on_windows_that_end_at_each_update(teachers):
    audio = np.concatenate([pad_chords(4.0), drum_loop(4.0)])
    track = teachers.track(audio, 0.5)
    np.testing.assert_allclose(track.time_s, np.arange(1, 17) * 0.5)
    changed = np.abs(np.diff(track.embedding, axis=0)) > 0
    mtt, msd = changed[:, :200].any(1), changed[:, 200:].any(1)
    # Update k is network k mod 2's: the MagnaTagATune part changes into rows 2, 4, ..., the other into 1, 3, ...
    assert mtt[1::2].all() and not mtt[::2].any() and msd[::2].all() and not msd[1::2].any()


def test_the_listener_hears_windows_that_end_at_each_update(listener):
    audio = np.concatenate([pad_chords(4.0), drum_loop(4.0)])
    track = listener.track(audio, 0.5)
    np.testing.assert_allclose(track.time_s, np.arange(1, 17) * 0.5)
    # One network hears every window: the whole embedding changes at every update.
    assert (np.abs(np.diff(track.embedding, axis=0)) > 0).any(1).all()
    again = listener.track(audio, 0.5)
    np.testing.assert_array_equal(track.embedding, again.embedding)  # the same audio, the same states
    # Causal: what is heard at 3.5 s does not depend on the audio after it.
    cut = listener.track(audio[: int(3.5 * SAMPLE_RATE)], 0.5)
    np.testing.assert_allclose(cut.embedding[-1], track.embedding[6], atol=1e-5)
    assert track.at(0.2) is None and track.at(3.7).time_s == 3.5


def test_a_stream_heard_block_by_block_is_heard_as_when_whole(listener):
    audio = np.concatenate([pad_chords(3.0), drum_loop(3.3)])
    whole = listener.track(audio, 0.5)
    hearing = listener.stream(0.5)
    for i in range(0, len(audio), 7001):  # blocks shorter and longer than an update
        hearing.feed(audio[i:i + 7001])
    streamed = hearing.finish()
    np.testing.assert_array_equal(streamed.time_s, whole.time_s)
    np.testing.assert_array_equal(streamed.embedding, whole.embedding)
    np.testing.assert_array_equal(streamed.tags, whole.tags)


def test_audio_at_any_rate_is_heard_at_16_khz():
    y = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100).astype(np.float32)
    out = to_listener_rate(y, 44100)
    assert abs(len(out) - 16000) <= 1 and out.dtype == np.float32
