"""A render split into chunks: the frame plan made once, the frames drawn chunk by chunk (anywhere),
and the chunks joined into one video without encoding them again.

Every chunk is its own H.264 encode of the plan's frames first..end-1 (``OfflineRenderer.draw``
with a section), which starts with an IDR frame and keeps its GOPs closed, so joining is muxing
their packets one after the other with the song's audio. The pixels are those of the whole
render, frame for frame: the plan is the same, the generator gets the same batches, and the
in-betweens at a chunk's edges fade between the same generated frames (checked losslessly,
``render.crf = 0``, by tests/render/test_cluster.py).
"""

from __future__ import annotations

import math
from pathlib import Path

from visualizer.audio.sources import AudioClip, AudioFile
from visualizer.render.video import VideoWriter
from visualizer.settings import Settings


def chunk_spans(first: int, end: int, chunks: int) -> list[tuple[int, int]]:
    """Frames first..end-1 in ``chunks`` consecutive spans (first, end) as equal as can be; fewer
    when there are fewer frames than chunks."""
    n = max(1, min(chunks, end - first))
    cuts = [first + round(i * (end - first) / n) for i in range(n + 1)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def chunk_count(chunk_s: float, duration_s: float) -> int:
    """How many chunks of ``chunk_s`` seconds (``render.chunk_s``) a song of ``duration_s`` is split into."""
    return max(1, math.ceil(duration_s / chunk_s))


def join_chunks(parts: list[Path], output: Path, settings: Settings, audio: AudioClip | AudioFile | None,
                copy_audio_from: Path | None = None) -> tuple[Path, int]:
    """The chunk files ``parts`` (in order) and the audio muxed into ``output`` (written under a
    temporary name and renamed at the end); returns the path and the number of frames."""
    s = settings.render
    with VideoWriter(output, s.frame_size(), s.fps, audio, audio_bitrate_kbps=s.audio_bitrate_kbps,
                     copy_audio_from=copy_audio_from, video_from=parts[0]) as writer:
        for part in parts:
            writer.append(part)
        frames = writer.frames_written
    return Path(output), frames
