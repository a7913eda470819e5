import numpy as np
from PIL import Image

from visualizer.render.contact_sheet import contact_sheet, read_frames
from visualizer.render.video import VideoWriter


def test_sheet_shows_evenly_spaced_frames(tmp_path):
    video = tmp_path / "ramp.mp4"
    with VideoWriter(video, (32, 32), 10, None, crf=0) as writer:
        for k in range(50):
            writer.write(np.full((32, 32, 3), k * 5, np.uint8))
    first, last = read_frames(video, [0, 49])
    assert first.mean() < 3 and abs(last.mean() - 245) < 3
    sheet = Image.open(contact_sheet(video, tmp_path / "sheet.png", count=4, columns=2, thumb=40))
    assert sheet.size == (80, 80)
    pixels = np.asarray(sheet).astype(int)
    # Bottom-right thumbnail (the last frame) is brighter than the top-left (the first).
    assert pixels[60:, 60:].mean() > pixels[30:40, 30:40].mean() + 150
