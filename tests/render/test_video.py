import os

import av
import numpy as np
import pytest

from visualizer.audio.sources import AudioClip
from visualizer.render.video import OutputError, VideoWriter, check_output_path, copyable_audio
from tests.conftest import tone


def probe(path):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(v)]
        return v.codec_context.name, a.codec_context.name, a.codec_context.sample_rate, a.codec_context.channels, frames


@pytest.mark.parametrize("rate, channels", [(44100, 2), (8000, 1), (48000, 6)])
def test_h264_and_aac_with_all_frames(tmp_path, rate, channels):
    clip = AudioClip(tone(1.0, rate, channels), rate)
    path = tmp_path / "out.mp4"
    with VideoWriter(path, (48, 32), 25, clip) as writer:
        for k in range(25):
            writer.write(np.full((32, 48, 3), k * 10, np.uint8))
    vcodec, acodec, arate, achannels, frames = probe(path)
    assert (vcodec, acodec, arate, achannels) == ("h264", "aac", rate, channels)
    assert len(frames) == 25 and frames[0].shape == (32, 48, 3)
    assert abs(int(frames[10].mean()) - 100) <= 3
    assert not list(tmp_path.glob(".*partial*"))


def test_an_interrupted_render_leaves_no_file_under_the_name(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(path, (32, 32), 25, None) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_unwritable_outputs_fail_before_rendering(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "no" / "such" / "dir" / "v.mp4")
    with pytest.raises(OutputError, match=r"\.mp4"):
        check_output_path(tmp_path / "v.txt")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        # As root a chmod does not stop writes, but sysfs does.
        target = locked / "v.mp4" if not os.access(locked, os.W_OK) else "/sys/v.mp4"
        with pytest.raises(OutputError, match="permission denied"):
            check_output_path(target)
    finally:
        os.chmod(locked, 0o700)


def encoded_song(path, codec: str, seconds: float = 1.0, rate: int = 44100):
    """A stereo tone encoded with ``codec`` (libmp3lame, aac) into ``path``, as a user's song file."""
    samples = tone(seconds, rate, 2)
    with av.open(str(path), "w") as c:
        stream = c.add_stream(codec, rate=rate, layout="stereo")
        stream.bit_rate = 128000
        for pos in range(0, samples.shape[1], 1152):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, pos:pos + 1152]), format="fltp",
                                               layout="stereo")
            frame.sample_rate, frame.pts = rate, pos
            for packet in stream.encode(frame):
                c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)
    return path


def audio_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.mark.parametrize("codec, name", [("libmp3lame", "song.mp3"), ("aac", "song.m4a")])
def test_mp3_and_aac_songs_are_muxed_bit_for_bit(tmp_path, codec, name):
    song = encoded_song(tmp_path / name, codec)
    out = tmp_path / "out.mp4"
    assert copyable_audio(song, out)
    with VideoWriter(out, (32, 32), 25, None, copy_audio_from=song) as writer:
        for k in range(25):
            writer.write(np.full((32, 32, 3), k * 10, np.uint8))
    assert audio_packets(out) == audio_packets(song)  # the very bytes, not a re-encoding
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 25 and c.streams.audio[0].duration * c.streams.audio[0].time_base > 0.9


def test_other_audio_is_encoded_as_aac(tmp_path):
    wav = tmp_path / "song.wav"
    import soundfile as sf

    sf.write(wav, tone(0.5, 22050, 1).T, 22050)
    assert not copyable_audio(wav, tmp_path / "out.mp4")
    assert not copyable_audio(tmp_path / "missing.mp3", tmp_path / "out.mp4")
