import os

import av
import numpy as np
import pytest

from visualizer.audio.sources import AudioClip
from visualizer.render.video import OutputError, VideoWriter, check_output_path
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
