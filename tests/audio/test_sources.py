import numpy as np
import pytest

from visualizer.audio.demo import write_wav
from visualizer.audio.sources import AudioError, Resampler, load_audio, open_audio
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


def test_a_song_read_in_blocks_is_the_song_decoded_whole(tmp_path):
    samples = tone(3.0, 44100, channels=2) * np.linspace(0.2, 1.0, 3 * 44100, dtype=np.float32)
    path = tmp_path / "a.flac"
    _encode(path, samples, 44100, "FLAC", "PCM_16")
    whole = load_audio(path)
    song = open_audio(path)
    assert (song.sample_rate, song.channels, song.frames) == (whole.sample_rate, whole.channels, whole.frames)
    for size in (1000, 65536):
        blocks = list(song.blocks(size))
        assert all(b.shape[1] == size for b in blocks[:-1])
        np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole.samples)
    part = song.trimmed(0.75, 2.1)
    np.testing.assert_array_equal(np.concatenate(list(part.blocks()), axis=1), whole.trimmed(0.75, 2.1).samples)
    assert part.duration_s == pytest.approx(1.35, abs=1e-4)


def test_a_corrupt_song_is_one_line_before_anything_is_read(tmp_path):
    good = write_wav(tmp_path / "good.wav", tone(1.0, 44100), 44100)
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"ID3" + bytes(range(256)) * 40)
    with pytest.raises(AudioError, match="not an audio file|no audio stream|corrupt|no audio samples"):
        open_audio(bad)
    song = open_audio(good)
    good.write_bytes(good.read_bytes()[:30000])  # cut short after it was checked
    with pytest.raises(AudioError, match="changed while it was being rendered"):
        list(song.blocks())


@pytest.mark.parametrize("rate, target, channels", [(44100, 22050, 1), (44100, 48000, 2), (22050, 22050, 1)])
def test_resampling_in_blocks_gives_the_samples_of_resampling_at_once(rate, target, channels):
    import soxr

    x = np.random.default_rng(0).standard_normal((channels, rate * 2 + 77)).astype(np.float32) * 0.3
    whole = soxr.resample(x.T, rate, target, quality="HQ").T if rate != target else x
    resampler = Resampler(rate, target, channels)
    parts = [resampler(x[:, i:i + 3001] if channels > 1 else x[0, i:i + 3001]) for i in range(0, x.shape[1], 3001)]
    parts.append(resampler.flush())
    joined = np.concatenate(parts, axis=-1)
    np.testing.assert_array_equal(joined.reshape(whole.shape), whole.astype(np.float32))
