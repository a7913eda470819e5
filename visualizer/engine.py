"""Stage wiring. The offline clock: audio file -> features -> mapper -> generator -> shaders -> video.

Frame ``k`` of the video is on screen from ``k / fps`` to ``(k + 1) / fps`` and reacts to
the analysis rows whose windows end inside that span, so a hit is drawn in the frame
during which it is heard (the analyzer adds at most one hop of delay).
"""

from __future__ import annotations

import itertools
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from visualizer.audio.analyzer import Analyzer
from visualizer.audio.features import FeatureTrack
from visualizer.audio.sources import AudioClip, AudioFile, Resampler, open_audio
from visualizer.errors import UserError
from visualizer.listen.listener import MusicTrack
from visualizer.mapping.follow import PlaceFollower
from visualizer.mapping.mapper import Mapper
from visualizer.mapping.walk import Keyframes
from visualizer.models.base import Generator, shape_pictures
from visualizer.models.io import load_configured
from visualizer.render.compositor import Compositor
from visualizer.render.frame_plan import FramePlan, pack_uniforms, plan_array
from visualizer.render.inbetween import cross_fade, key_frames
from visualizer.render.video import VideoWriter, check_output_path, copyable_audio
from visualizer.settings import Settings


ENCODER_QUEUE = 8  # frames shaded but not yet encoded, at most


@dataclass(frozen=True)
class RenderResult:
    """What a render produced and how long it took."""

    path: Path
    frames: int
    audio_duration_s: float
    wall_s: float
    # Busy seconds per stage (analysis, mapping, generator, compositor, encoder) and the time the
    # main thread waited for the generator or the encoder; the generator and the encoder run
    # beside the compositor, so these add up to more than wall_s.
    stage_s: dict[str, float]
    generated: int  # frames the generator drew; the others are in-betweens

    @property
    def real_time_factor(self) -> float:
        """Render time over audio duration (below 1 is faster than real time)."""
        return self.wall_s / max(self.audio_duration_s, 1e-9)


def to_uint8_images(images: torch.Tensor) -> np.ndarray:
    """images [B, 3, H, W] in [-1, 1] -> uint8 [B, H, W, 3] on the CPU."""
    scaled = images.detach().float().add(1.0).mul_(127.5).round_().clamp_(0, 255)
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


def frame_count(duration_s: float, fps: float) -> int:
    """Frames of a video whose length matches ``duration_s`` to within half a frame."""
    return max(1, int(round(duration_s * fps)))


def place_follower(settings: Settings, generator: Generator, warn: Callable[[str], None] = lambda m: None
                   ) -> PlaceFollower | None:
    """What listen mode needs for ``generator``: its music map (``listen.map``, else the one beside the model)
    and the user's keyframe pictures placed in its latent space; None in loop mode, or when the model has
    no map (then ``warn`` says so once and the walk loops). A corrupt map or one made for another model
    is a MapError."""
    if settings.walk.mode != "listen":
        return None
    from visualizer.listen.keyframes import place_pictures
    from visualizer.listen.place import load_map, map_path_for

    path = Path(settings.listen.map) if settings.listen.map else map_path_for(settings.model.checkpoint or None)
    if not settings.listen.map and not path.is_file():
        warn(f"no music map for this model ({path.name} is not beside it), so the walk loops as in walk.mode = "
             "\"loop\"; make one with 'visualizer train-map --model MODEL'")
        return None
    music_map = load_map(path, generator)
    keyframes = place_pictures(settings.listen.keyframes, generator) if settings.listen.keyframes else None
    return PlaceFollower(music_map, settings, keyframes)


def build_mapper(settings: Settings, generator: Generator, keyframes: Keyframes,
                 follower: PlaceFollower | None) -> Mapper:
    """The Mapper for ``generator``, placing the picture with ``follower`` when there is one."""
    mean = generator.latent_mean.double().numpy()

    def to_offset(eps: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return generator.from_normal(torch.from_numpy(eps[None]).float())[0].double().cpu().numpy() - mean

    return Mapper(settings, keyframes, layer_groups=getattr(generator, "layer_groups", None), follower=follower,
                  to_offset=to_offset)


def stage_timer(stage_s: dict[str, float]) -> Callable[[str], None]:
    """``lap(stage)``: adds the seconds since the previous lap (or since this call) to ``stage_s[stage]``."""
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stage_s[stage] = stage_s.get(stage, 0.0) + now - clock
        clock = now

    return lap


def hear_clip(clip: AudioClip | AudioFile, settings: Settings) -> MusicTrack:
    """The listener over a whole clip, on the live schedule (``listen.update_s``), on one core."""
    return analyse_and_hear(clip, settings, analyse=False)[1]


def analyse_and_hear(audio: AudioClip | AudioFile, settings: Settings, *, analyse: bool = True, hear: bool = True,
                     stage_s: dict[str, float] | None = None, sink: Callable | None = None
                     ) -> tuple[FeatureTrack | None, MusicTrack | None]:
    """The analysis (``analyse``) and the listener's track (``hear``) of a song read once, a block at
    a time; seconds spent on each added to ``stage_s``. With ``sink``, nothing is kept: after every
    block ``sink(rows, music, heard_s, listened_s)`` gets the new rows and listener states and how
    far each has got (``FramePlanner.add``; its time counts as "mapping"), and (None, None) is returned."""
    from visualizer.listen.listener import SAMPLE_RATE, Listener

    lap = stage_timer({} if stage_s is None else stage_s)
    analyzer = Analyzer(settings.analysis) if analyse else None
    parts: list[FeatureTrack] = []
    to_analysis = Resampler(audio.sample_rate, settings.analysis.sample_rate)
    lap("analysis")
    # One thread: the listener's small convolutions gain nothing from a second core, which the
    # analysis and the generator use (docs/benchmarks.md).
    hearing = Listener.bundled(threads=1).stream(settings.listen.update_s) if hear else None
    to_listener = Resampler(audio.sample_rate, SAMPLE_RATE)
    lap("listening")
    heard = -np.inf  # the newest analysis row's time: every row up to it is in
    for block in itertools.chain(audio.blocks(), [None]):
        end = block is None
        mono = None if end else block.mean(axis=0, dtype=np.float32)
        if analyzer is not None:
            parts.append(analyzer.process(to_analysis.flush() if end else to_analysis(mono)))
            lap("analysis")
        if hearing is not None:
            hearing.feed(to_listener.flush() if end else to_listener(mono))
            if end:
                hearing.flush()
            lap("listening")
        if sink is not None:
            rows = parts.pop() if parts else FeatureTrack.empty()
            heard = float(rows.time_s[-1]) if len(rows) else heard
            music = hearing.take() if hearing is not None else None
            listened = hearing.heard_s if hearing is not None else np.inf
            sink(rows, music, np.inf if end else heard, np.inf if end else listened)
            lap("mapping")
    if sink is not None:
        return None, None
    track = FeatureTrack.concat(parts) if analyzer is not None else None
    return track, hearing.finish() if hearing is not None else None


class _ScaledPath:
    """The path in-betweens are judged on, read a few frames at a time: latents [frames, ...] times
    ``scale``, flattened, with the noise scales [frames, layers] (if any) beside them."""

    def __init__(self, latents: np.ndarray, scale: float, noise: np.ndarray | None) -> None:
        self.latents, self.scale, self.noise = latents, scale, noise

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, rows: slice) -> np.ndarray:
        part = np.asarray(self.latents[rows], np.float64)
        part = part.reshape(len(part), -1) * self.scale
        return part if self.noise is None else np.concatenate([part, self.noise[rows].reshape(len(part), -1)], axis=1)


class FramePlanner:
    """A song's frame plan, mapped while its analysis rows and listener states arrive (``add``):
    frame ``k`` is mapped once everything heard up to its end, ``(k + 1) / fps``, is in; only the
    rows the next frames still read are kept. ``finish`` maps the rest and picks the key frames."""

    def __init__(self, renderer: "OfflineRenderer", frames: int) -> None:
        s = self.settings = renderer.settings
        if renderer.follower is not None:
            renderer.follower.reset()  # every plan hears its song from the start, as a new show would
        self.keyframes = Keyframes.from_generator(renderer.generator, seed=s.render.seed, count=s.walk.keyframes)
        self.mapper = build_mapper(s, renderer.generator, self.keyframes, renderer.follower)
        self.frames, self.dt, self.done = frames, 1.0 / s.render.fps, 0
        self.latents = self.uniforms = self.noise = None
        self._rows = FeatureTrack.empty()
        self._music: MusicTrack | None = None

    def add(self, rows: FeatureTrack, music: MusicTrack | None, heard_s: float = np.inf,
            listened_s: float = np.inf) -> None:
        """The next analysis ``rows`` and listener states ``music``; the analysis has given every row
        up to ``heard_s`` and the listener every state up to ``listened_s`` (s of song time)."""
        self._rows = FeatureTrack.concat([self._rows, rows]) if len(rows) else self._rows
        if music is not None:
            self._music = music if self._music is None else self._music.joined(music)
        ready = min(heard_s, listened_s)
        while self.done < self.frames and (self.done + 1) * self.dt <= ready:
            self._step(self.done)
            self.done += 1
        t = self.done * self.dt  # rows before the newest one at or before t are read no more
        self._rows = self._rows.since(t)
        if self._music is not None:
            self._music = self._music.since(t)

    def _step(self, k: int) -> None:
        heard = self._music.at((k + 1) * self.dt) if self._music is not None else None
        z, u = self.mapper.step(self._rows.span(k * self.dt, (k + 1) * self.dt), self.dt, heard)
        if self.latents is None:
            self.latents = plan_array((self.frames, *np.shape(z)))
            self.uniforms = np.zeros((self.frames, len(pack_uniforms(u))))
            if self.mapper.noise_scale is not None:
                self.noise = np.zeros((self.frames, len(self.mapper.noise_scale)), np.float32)
        self.latents[k] = z
        self.uniforms[k] = pack_uniforms(u)
        if self.noise is not None:
            self.noise[k] = self.mapper.noise_scale

    def finish(self) -> FramePlan:
        s = self.settings
        self.add(FeatureTrack.empty(), None)
        # The bend allowed under an in-between is measured against the keyframes' spread (RMS over
        # the layers of a layered latent), so one tolerance suits every latent space; a noise
        # scale counts in its own units (1 = none).
        spread = float(np.sqrt(np.mean(np.sum(self.keyframes.walk ** 2, axis=-1))))
        layers = self.latents[0].size // self.latents.shape[-1]
        path = _ScaledPath(self.latents, 1.0 / max(spread * np.sqrt(layers), 1e-9), self.noise)
        keys = key_frames(path, max_inbetweens=s.render.inbetweens, tolerance=s.render.inbetween_tolerance)
        return FramePlan(latents=self.latents, uniform_rows=self.uniforms, noise=self.noise, keys=keys,
                         batch=s.render.batch)


class OfflineRenderer:
    """Steps the pipeline on a virtual clock at the video frame rate; the generator draws the plan's
    key frames, ``render.batch`` per call, and the frames between them are cross-fades."""

    def __init__(self, settings: Settings, generator: Generator, follower: PlaceFollower | None = None) -> None:
        self.settings = settings
        self.generator = generator
        self.follower = follower

    def plan(self, track: FeatureTrack, frames: int, music: MusicTrack | None = None) -> FramePlan:
        """Everything but the pixels, for every frame: the mapping, and which frames to generate."""
        planner = FramePlanner(self, frames)
        planner.add(track, music)
        return planner.finish()

    def prepare(self, clip: AudioClip | AudioFile) -> tuple[FramePlan, dict[str, float]]:
        """The whole song's frame plan, and the seconds its analysis, listening and mapping took: in
        one pass over the song, each frame mapped as soon as what it reacts to has been heard, so
        only the plan itself (on disk when large) grows with the song's length."""
        s = self.settings
        stages: dict[str, float] = {}
        planner = FramePlanner(self, frame_count(clip.duration_s, s.render.fps))
        analyse_and_hear(clip, s, hear=self.follower is not None, stage_s=stages, sink=planner.add)
        lap = stage_timer(stages)
        plan = planner.finish()
        lap("mapping")
        return plan, stages

    def render(self, clip: AudioClip | AudioFile, output: Path, on_frames: Callable[[int], None] = lambda n: None,
               section: tuple[int, int] | None = None, copy_audio_from: Path | None = None) -> RenderResult:
        """Render ``clip`` to ``output``; ``on_frames(n)`` is called after every ``n`` frames written.

        ``section`` (first, end) renders only video frames first..end-1 of the whole song's render,
        with the audio of that span: the song is still analysed, heard and mapped from its start,
        and the generator gets the same batches, so the frames are those of the full render.
        ``copy_audio_from``: the input file, when its audio can be muxed unchanged (not with a section).
        """
        start = time.perf_counter()
        plan, stages = self.prepare(clip)
        fps = self.settings.render.fps
        audio = clip if section is None else clip.trimmed(section[0] / fps, section[1] / fps)
        result = self.draw(plan, output, audio=audio, section=section, on_frames=on_frames,
                           copy_audio_from=copy_audio_from if section is None else None)
        result.stage_s.update(stages)
        return RenderResult(path=result.path, frames=result.frames, audio_duration_s=result.audio_duration_s,
                            wall_s=time.perf_counter() - start, stage_s=result.stage_s, generated=result.generated)

    def draw(self, plan: FramePlan, output: Path, *, audio: AudioClip | AudioFile | None, section: tuple[int, int] | None = None,
             on_frames: Callable[[int], None] = lambda n: None, copy_audio_from: Path | None = None) -> RenderResult:
        """The pixels of ``plan``'s frames first..end-1 (``section``; all of them for None) into ``output``,
        with ``audio`` (already cut to the section) or none (a chunk of a render split over machines)."""
        s = self.settings
        stages = dict.fromkeys(("generator", "compositor", "encoder", "waiting"), 0.0)
        start = time.perf_counter()
        lap = stage_timer(stages)

        size = s.render.frame_size()
        batches = plan.batches()
        first, end = section or (plan.offset, plan.end)
        # The generated frames either side of the section (its in-betweens fade between them), in
        # the full render's batches; frames outside it are left out of the video.
        lo, hi = plan.keys[plan.keys <= first].max(), plan.keys[plan.keys >= end - 1].min()
        batches = [b for b in batches if b[-1] >= lo and b[0] <= hi]

        def generate(keys: np.ndarray) -> np.ndarray:
            t0 = time.perf_counter()
            rows = keys - plan.offset
            scale = torch.from_numpy(plan.noise[rows]) if plan.noise is not None else None
            images = to_uint8_images(self.generator(torch.from_numpy(np.asarray(plan.latents[rows])), noise_scale=scale))
            stages["generator"] += time.perf_counter() - t0
            return images

        shape_pictures(self.generator, s.effects.fit, size)
        compositor = Compositor(size, fit=s.effects.fit)
        # Three stages overlap: the generator works one batch ahead in its own thread, the main
        # thread (which owns the OpenGL context) blends in-betweens and shades, and the encoder
        # takes finished frames in a third; torch and FFmpeg release the GIL while they work.
        # The encoder's queue is bounded, so memory stays flat when it is the slowest stage.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generator")
        encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        pending: deque[Future] = deque()

        def encode(writer: VideoWriter, pixels: np.ndarray) -> None:
            t0 = time.perf_counter()
            writer.write(pixels)
            stages["encoder"] += time.perf_counter() - t0

        def show(writer: VideoWriter, image: np.ndarray, k: int) -> None:
            if not first <= k < end:
                return
            compositor.draw(image, plan.uniform(k).as_dict())
            pending.append(encoder.submit(encode, writer, compositor.read()))
            lap("compositor")
            while len(pending) > ENCODER_QUEUE or (pending and pending[0].done()):
                pending.popleft().result()  # raises what the encoder raised
            lap("waiting")

        try:
            with VideoWriter(output, size, s.render.fps, audio, crf=s.render.crf, preset=s.render.preset,
                             threads=s.render.encoder_threads,
                             audio_bitrate_kbps=s.render.audio_bitrate_kbps,
                             copy_audio_from=copy_audio_from) as writer:
                try:
                    ahead = pool.submit(generate, batches[0])
                    last_key, last_image = int(batches[0][0]) - 1, None
                    for i, keys in enumerate(batches):
                        images = ahead.result()
                        lap("waiting")
                        if i + 1 < len(batches):
                            ahead = pool.submit(generate, batches[i + 1])
                        shown = 0
                        for key, image in zip(keys.tolist(), images):
                            for k in range(max(last_key + 1, first), min(key, end)):
                                show(writer, cross_fade(last_image, image, (k - last_key) / (key - last_key)), k)
                            show(writer, image, key)
                            shown += max(0, min(key + 1, end) - max(last_key + 1, first))
                            last_key, last_image = key, image
                        on_frames(shown)
                    while pending:
                        pending.popleft().result()
                    lap("waiting")
                finally:
                    # The encoder thread must be done with the writer before it is closed or, after an
                    # error (a full disk), aborted: FFmpeg frees what a running write still uses.
                    for jobs in (pool, encoder):
                        jobs.shutdown(wait=True, cancel_futures=True)
        finally:
            for jobs in (pool, encoder):
                jobs.shutdown(wait=True, cancel_futures=True)
            compositor.release()
        lap("encoder")  # flushing the encoders on close
        generated = int(sum(len(b) for b in batches))
        duration = audio.duration_s if audio is not None else (end - first) / s.render.fps
        return RenderResult(path=Path(output), frames=end - first, audio_duration_s=duration,
                            wall_s=time.perf_counter() - start, stage_s=stages, generated=generated)


def clock_time(seconds: float) -> str:
    """Seconds as m:ss.s (or h:mm:ss.s), as users write them."""
    m, sec = divmod(max(0.0, seconds), 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{sec:04.1f}" if h else f"{m}:{sec:04.1f}"


def section_frames(duration_s: float, fps: float, start_s: float | None, end_s: float | None) -> tuple[int, int] | None:
    """Video frames (first, end) of ``--start``/``--end`` in a song of ``duration_s``; None for all of it;
    a UserError for a start after the end of the song or an end before the start."""
    if start_s is None and end_s is None:
        return None
    frames = frame_count(duration_s, fps)
    start_s = start_s or 0.0
    if start_s >= duration_s:
        raise UserError(f"--start {clock_time(start_s)} is after the end of the song ({clock_time(duration_s)}); "
                        "give an earlier start")
    if end_s is not None and end_s <= start_s:
        raise UserError(f"--end {clock_time(end_s)} is not after --start {clock_time(start_s)}; give a later end")
    first = min(frames - 1, int(round(start_s * fps)))
    end = frames if end_s is None else max(first + 1, min(frames, int(round(end_s * fps))))
    return first, end


def open_song(input_path: str | Path, output_path: str | Path, settings: Settings, start_s: float | None,
              end_s: float | None, generator: Generator | None = None
              ) -> tuple[Path, AudioFile, tuple[int, int] | None, OfflineRenderer]:
    """What a render of one song starts with, in the order that tells a mistake before any work: the
    checked output path, the song (checked to decode, read again a block at a time when used), its
    section's frames (None: all of it) and a renderer with the generator (``generator``, else the
    one the settings name) and its music map."""
    output = check_output_path(output_path)
    settings.render.frame_size()  # a bad size is told before the song is loaded
    clip = open_audio(input_path)
    section = section_frames(clip.duration_s, settings.render.fps, start_s, end_s)
    generator = generator or load_configured(settings)

    def note(message: str) -> None:
        print(f"visualizer: note: {message}", file=sys.stderr)

    follower = place_follower(settings, generator, warn=note)
    if (wide := shape_pictures(generator, settings.effects.fit, settings.render.frame_size())) is not None:
        note(wide)
    return output, clip, section, OfflineRenderer(settings, generator, follower)


def render_file(input_path: str | Path, output_path: str | Path, settings: Settings, *,
                progress: bool | None = None, generator: Generator | None = None,
                start_s: float | None = None, end_s: float | None = None,
                on_frames: Callable[[int], None] | None = None) -> RenderResult:
    """Render an audio file to a video: checks the output first, then loads, renders and muxes.

    ``progress`` shows a progress bar with ETA on stderr (default: when stderr is a terminal);
    ``start_s``/``end_s`` render only that part of the song, frame for frame as in the whole render;
    ``on_frames(n)`` is told of every ``n`` frames written.
    """
    output, clip, section, renderer = open_song(input_path, output_path, settings, start_s, end_s, generator)
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm import tqdm

    first, end = section or (0, frame_count(clip.duration_s, settings.render.fps))
    with tqdm(total=end - first, unit="frame", disable=not show, desc=Path(output).name, file=sys.stderr) as bar:
        def written(n: int) -> None:
            bar.update(n)
            if on_frames is not None:
                on_frames(n)

        return renderer.render(clip, output, on_frames=written, section=section,
                               copy_audio_from=Path(input_path) if copyable_audio(input_path, output) else None)
