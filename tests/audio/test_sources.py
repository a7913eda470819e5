import numpy as np
import pytest

from visualizer.audio.demo import write_wav
from visualizer.audio.sources import AudioError, load_audio
from tests.conftest import tone


def _encode(path, samples, rate, fmt, subtype):
    import soundfile

    soundfile.write(str(path), samples.T, rate, format=fmt, subtype=subtype)


@pytest.mark.parametrize("suffix, fmt, subtype", [
    (".flac", "FLAC", "PCM_16"), (".ogg", "OGG", "VORBIS"), (".mp3", "MP3", "MPEG_LAYER_III"),
])
def test_compressed_formats_decode_to_the_right_length(tmp_path, suffix, fmt, subtype):
    samples = tone(2.0, 44100, channels=2)
    path = tmp_path / f"a{suffix}"
    _encode(path, samples, 44100, fmt, subtype)
    clip = load_audio(path)
    assert clip.channels == 2 and clip.sample_rate == 44100
    assert abs(clip.duration_s - 2.0) < 0.08
    assert 0.1 < np.abs(clip.samples).max() <= 1.01


@pytest.mark.parametrize("rate, channels", [(8000, 1), (96000, 2), (48000, 6)])
def test_wav_at_any_rate_and_channel_count(tmp_path, rate, channels):
    samples = tone(1.0, rate, channels=channels)
    clip = load_audio(write_wav(tmp_path / "a.wav", samples, rate))
    assert (clip.sample_rate, clip.channels, clip.frames) == (rate, channels, rate)
    np.testing.assert_allclose(clip.samples, samples, atol=1e-4)
    assert clip.mono_at(22050).shape == (22050,)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_non_audio_file(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio at all\n" * 50)
    with pytest.raises(AudioError, match="not an audio file|no audio stream|corrupt"):
        load_audio(path)


def test_empty_wav(tmp_path):
    path = write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), 44100)
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(path)
