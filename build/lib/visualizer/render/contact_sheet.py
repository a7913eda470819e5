"""Contact sheets: a grid of evenly spaced frames of a video, to judge a render at a glance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visualizer.render.video import OutputError


def read_frames(path: str | Path, indices: list[int]) -> list[np.ndarray]:
    """Decode the frames at ``indices`` (0-based) as uint8 [H, W, 3] arrays."""
    import av

    wanted = set(indices)
    found: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for k, frame in enumerate(container.decode(container.streams.video[0])):
            if k in wanted:
                found[k] = frame.to_ndarray(format="rgb24")
            if len(found) == len(wanted):
                break
    return [found[i] for i in indices if i in found]


def contact_sheet(video: str | Path, out: str | Path, *, count: int = 12, columns: int = 4,
                  thumb: int = 192) -> Path:
    """Save ``count`` evenly spaced frames of ``video`` as a PNG grid; returns the PNG's path."""
    import av
    from PIL import Image, ImageDraw

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        total, rate = stream.frames, float(stream.average_rate or 30)
    indices = [round(i * (total - 1) / max(1, count - 1)) for i in range(count)]
    frames = read_frames(video, indices)
    rows = -(-len(frames) // columns)
    sheet = Image.new("RGB", (columns * thumb, rows * thumb), "black")
    draw = ImageDraw.Draw(sheet)
    for n, (index, frame) in enumerate(zip(indices, frames)):
        x, y = (n % columns) * thumb, (n // columns) * thumb
        sheet.paste(Image.fromarray(frame).resize((thumb, thumb), Image.BILINEAR), (x, y))
        draw.text((x + 4, y + 4), f"{index / rate:.2f}s", fill="white")
    out = Path(out)
    try:
        sheet.save(out)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
