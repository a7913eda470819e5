"""The VideoWriter: H.264 video + AAC audio in an MP4, through FFmpeg (PyAV).

Audio that is already AAC or MP3 (which MP4 holds as it is) is copied packet for packet from the
input, bit-exact, rather than decoded and encoded again (``copyable_audio``).

Frames go to a temporary file beside the target, renamed into place by ``close``; an
interrupted render leaves no broken file under the requested name.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from visualizer.audio.sources import AudioClip, AudioFile, Resampler
from visualizer.errors import UserError
from visualizer.settings import RenderSettings

_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}
_AUDIO_CHUNK = 1024  # AAC frame size in samples


class OutputError(UserError):
    """The output file cannot be written."""


def check_output_path(path: str | Path) -> Path:
    """Fail early, before any rendering, if ``path`` cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".m4v", ".mov", ".mkv"):
        raise OutputError(f"output {path} must end in .mp4 (or .m4v, .mov, .mkv)")
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name such as {path / 'video.mp4'}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist; create it or choose another --output")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"cannot write to {path} (permission denied); choose another --output")
    # Creating a file is the only test that also catches read-only mounts and root-owned trees.
    probe = folder / f".{path.stem}.write-test"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else type(exc).__name__
        raise OutputError(f"cannot write to folder {folder} ({reason}); choose another --output") from None
    return path


class _AacFeed:
    """The samples of a clip or song, read a block at a time, as the AAC encoder takes them: in a
    channel layout it has (unusual ones, 3, 4, 5, 7 or 9+ channels, folded down to stereo) and at
    the nearest sample rate it accepts."""

    def __init__(self, audio: AudioClip | AudioFile) -> None:
        self.layout = _LAYOUTS.get(audio.channels, "stereo")
        self._fold = audio.channels not in _LAYOUTS
        rate = audio.sample_rate
        self.rate = rate if rate in _AAC_RATES else min(_AAC_RATES, key=lambda r: abs(r - rate))
        channels = 2 if self._fold else audio.channels
        self._resampler = Resampler(rate, self.rate, channels)
        self._blocks = audio.blocks()
        self._held = np.zeros((channels, 0), np.float32)
        self._ended = False

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` sample frames, float32 [channels, n] (fewer at the end, none after it)."""
        while self._held.shape[1] < n and not self._ended:
            block = next(self._blocks, None)
            if block is None:
                self._ended, more = True, self._resampler.flush()
            else:
                if self._fold:
                    block = np.stack([block[0::2].mean(0), block[1::2].mean(0)])
                more = self._resampler(block)
            self._held = np.concatenate([self._held, more], axis=1)
        taken, self._held = self._held[:, :n], self._held[:, n:]
        return np.ascontiguousarray(taken, dtype=np.float32)


_COPYABLE = ("aac", "mp3")  # codecs every container check_output_path allows holds as they are


def copyable_audio(source: str | Path, output: str | Path) -> bool:
    """Whether the first audio stream of ``source`` can go into ``output``'s container unchanged."""
    import av

    try:
        with av.open(str(source)) as c:
            stream = c.streams.audio[0]
            return stream.codec_context.codec.canonical_name in _COPYABLE
    except (av.error.FFmpegError, IndexError, OSError):
        return False


class VideoWriter:
    """Writes RGB frames (uint8 [H, W, 3]) at ``fps``, with ``audio`` muxed in alongside."""

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float, audio: AudioClip | AudioFile | None, *,
                 crf: int = RenderSettings.crf, preset: str = RenderSettings.preset,
                 threads: int = RenderSettings.encoder_threads,
                 audio_bitrate_kbps: int = RenderSettings.audio_bitrate_kbps,
                 copy_audio_from: str | Path | None = None, video_from: str | Path | None = None) -> None:
        """``threads``: x264's threads, 0 for a quarter of the CPU cores (at least 1). x264's own
        default (1.5 per core) pays for its frame threads in CPU time, which a render whose
        generator and shaders keep every core busy does not have to spare. ``copy_audio_from``: a
        file whose audio (``copyable_audio``) is muxed as it is, instead of encoding ``audio``.
        ``video_from``: a chunk (a video-only file this class wrote with the same settings) whose
        stream the video takes as it is; the chunks are then added with ``append``, not ``write``."""
        import av

        self.path = check_output_path(path)
        self.tmp_path = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.frames_written = 0
        try:
            self._container = av.open(str(self.tmp_path), mode="w")
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot write {self.path}: {exc}") from None
        w, h = size
        self._template = None
        if video_from is not None:
            self._template = av.open(str(video_from))
            self._video = self._container.add_stream_from_template(self._template.streams.video[0])
        else:
            self._video = self._container.add_stream("libx264", rate=self.fps)
            self._video.width, self._video.height = w + (w % 2), h + (h % 2)  # yuv420p needs even sizes
            self._video.pix_fmt = "yuv420p"
            threads = threads or max(1, (os.cpu_count() or 1) // 4)
            # x264 starts every encode with an IDR frame and keeps its GOPs closed (its default), so the
            # chunks of a split render, each encoded apart with these options, join without re-encoding.
            self._video.options = {"crf": str(crf), "preset": preset, "threads": str(threads)}
        self._audio = None
        self._source = None
        if copy_audio_from is not None:
            self._source = av.open(str(copy_audio_from))
            stream = self._source.streams.audio[0]
            self._audio = self._container.add_stream_from_template(stream)
            self._packets = self._source.demux(stream)
            self._pending = None  # a demuxed packet that belongs after the frames written so far
        elif audio is not None:
            self._feed = _AacFeed(audio)
            rate = self._feed.rate
            self._audio = self._container.add_stream("aac", rate=rate, layout=self._feed.layout)
            self._audio.bit_rate = audio_bitrate_kbps * 1000
            # FFmpeg's 'fast' AAC coder is the better one from 64 kbit/s up, and about 5x cheaper than
            # its default 'twoloop' (which took 3 ms of CPU per video frame at 30 fps).
            self._audio.options = {"aac_coder": "fast" if audio_bitrate_kbps >= 64 else "twoloop"}
            self._audio_rate = rate
            self._audio_pos = 0

    def _copy_audio_until(self, time_s: float | None) -> None:
        """Mux the source's audio packets that start before ``time_s`` (all of them for None)."""
        while True:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            if time_s is not None and packet.pts is not None and packet.pts * packet.time_base >= time_s:
                self._pending = packet
                return
            packet.stream = self._audio
            self._mux(packet)

    def _write_audio_until(self, time_s: float | None) -> None:
        import av

        if self._source is not None:
            self._copy_audio_until(time_s)
            return
        end = None if time_s is None else int(time_s * self._audio_rate)
        while end is None or self._audio_pos < end:
            chunk = self._feed.take(_AUDIO_CHUNK)
            if chunk.shape[1] == 0:
                return
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._audio.layout)
            frame.sample_rate = self._audio_rate
            frame.pts = self._audio_pos
            frame.time_base = Fraction(1, self._audio_rate)
            self._mux(self._audio.encode(frame))
            self._audio_pos += chunk.shape[1]

    def _mux(self, packets) -> None:
        """Mux packets; a full disk or another write error is an OutputError naming the file."""
        import av

        try:
            self._container.mux(packets)
        except (av.error.FFmpegError, OSError) as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: Exception) -> OutputError:
        reason = getattr(exc, "strerror", None) or str(exc)
        return OutputError(f"cannot write {self.path} ({reason}); free some space or choose another output; "
                           "nothing was left under that name")

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame; audio is interleaved up to the frame's end time."""
        import av

        h, w = rgb.shape[:2]
        if (w, h) != (self._video.width, self._video.height):
            rgb = np.pad(rgb, ((0, self._video.height - h), (0, self._video.width - w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        self._mux(self._video.encode(frame))
        self.frames_written += 1
        if self._audio is not None:
            self._write_audio_until(self.frames_written / self.fps)

    def append(self, chunk: str | Path) -> int:
        """Mux the frames of ``chunk`` (a video-only file written by this class with the same size,
        frame rate and encoder settings) after the frames so far, packet for packet; returns how
        many frames it held."""
        import av

        with av.open(str(chunk)) as c:
            stream = c.streams.video[0]
            if (stream.codec_context.width, stream.codec_context.height) != (self._video.width, self._video.height):
                raise OutputError(f"chunk {chunk} is {stream.codec_context.width}x{stream.codec_context.height}, "
                                  f"not {self._video.width}x{self._video.height}; render the chunks again")
            offset = Fraction(self.frames_written) / self.fps / stream.time_base
            shift = int(round(offset))
            frames = 0
            for packet in c.demux(stream):
                if packet.dts is None:  # the demuxer's empty flush packet
                    continue
                packet.pts += shift
                packet.dts += shift
                packet.stream = self._video
                self._mux(packet)
                frames += 1
        self.frames_written += frames
        if self._audio is not None:
            self._write_audio_until(self.frames_written / self.fps)
        return frames

    def close(self) -> Path:
        """Flush the encoders, finish the file and move it to its final name."""
        import av

        if self._audio is not None:
            self._write_audio_until(None)
            if self._source is None:
                self._mux(self._audio.encode(None))
        if self._template is None:
            self._mux(self._video.encode(None))
        try:
            self._container.close()
        except (av.error.FFmpegError, OSError) as exc:
            raise self._write_error(exc) from None
        self._close_source()
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        """Give up: close and delete the temporary file, leave the target untouched."""
        try:
            self._container.close()
        except Exception:  # the container may be half-written; it is deleted next anyway
            pass
        self._close_source()
        self.tmp_path.unlink(missing_ok=True)

    def _close_source(self) -> None:
        for name in ("_source", "_template"):
            if getattr(self, name, None) is not None:
                getattr(self, name).close()
                setattr(self, name, None)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
