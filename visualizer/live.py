"""The live clock: audio device -> analysis thread -> display thread (mapper, shaders) <-> generator thread.

- The audio callback fills a SampleRing (see ``visualizer.audio.live``).
- ``FeatureFeed`` (a thread) resamples and analyses whatever arrived and keeps only the
  newest features, holding the strongest onset until the display takes it.
- ``GeneratorWorker`` (a thread) turns the newest latent request into a picture; when it
  falls behind it skips straight to the newest request.
- ``LiveSession.tick`` runs on the display thread once per display frame: it steps the
  Mapper with the newest features, so shader uniforms react every display frame, posts
  the latent to the generator, and says which pictures to show and how to blend them.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from visualizer.audio.analyzer import Analyzer
from visualizer.audio.features import EVENT_NAMES, Features, FeatureTrack, silent_features
from visualizer.audio.resample import LiveResampler
from visualizer.control.clock import BEATS_PER_BAR, BeatClock, ClockFollower
from visualizer.control.commands import Command, CommandQueue
from visualizer.control.scenes import SceneBook, SceneError
from visualizer.engine import to_uint8_images
from visualizer.errors import UserError
from visualizer.handoff import LatestSlot, SampleRing
from visualizer.mapping.follow import PlaceFollower
from visualizer.mapping.mapper import Mapper, Uniforms
from visualizer.mapping.walk import Keyframes
from visualizer.models.base import Generator
from visualizer.models.io import apply_model_settings
from visualizer.settings import Settings


class _Worker:
    """A named daemon thread running ``_run`` until ``stop``; subclasses poll ``self._stop``."""

    join_timeout_s = 5.0

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(timeout=self.join_timeout_s)

    def _wake(self) -> None:
        """Interrupt a blocking wait so the thread sees the stop at once."""


class FeatureFeed(_Worker):
    """Analysis thread: the source's ring -> resampler -> Analyzer -> newest Features.

    ``source`` is a MicInput or FilePlayback (anything with ``ring``, ``sample_rate`` and
    ``clock``). Onsets carry the time they were heard, so the HUD and the latency benchmark
    measure from the sound itself, not from the end of the analysis frame that caught it.
    """

    def __init__(self, source, settings: Settings, poll_s: float = 0.02) -> None:
        """``poll_s``: how long to wait for samples before looking again (the source's ``arrived``
        event, when it has one, wakes the thread as soon as a block lands)."""
        self.source = source
        self.analysis_rate = settings.analysis.sample_rate
        self._resampler = LiveResampler(source.sample_rate, self.analysis_rate)
        self._fed = 0  # source-rate samples given to the analyzer: its timeline
        analysis = settings.analysis
        if settings.live.hop_length:
            analysis = dataclasses.replace(analysis, hop_length=min(settings.live.hop_length, analysis.n_fft))
        self._analyzer = Analyzer(analysis)
        # The last seconds at the analysis rate, for the listener (it reads them without consuming them).
        self.recent = SampleRing(int(self.analysis_rate * 4))
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._newest: Features = silent_features()
        self._held = dict.fromkeys(EVENT_NAMES, 0.0)  # strongest onset / beat / bar since the last take
        self._onset_capture: float | None = None  # monotonic time the held onset was heard
        self._onset_found: float | None = None    # ... and when the analysis reported it
        self.level_db = -120.0
        self.osc_out = None  # an OscOut: told each analysis step's rows as soon as they are known
        super().__init__("analysis")

    def take(self) -> tuple[Features, float | None, float | None]:
        """The newest features, with the strongest onset, beat and bar since the last take (events last
        one row, and several rows may pass between two display frames); when that onset was heard,
        and when the analysis reported it (monotonic seconds, None without an onset)."""
        with self._lock:
            features = Features(**{**self._newest.__dict__, **self._held})
            capture, found = self._onset_capture, self._onset_found
            self._held = dict.fromkeys(EVENT_NAMES, 0.0)
            self._onset_capture = self._onset_found = None
        return features, capture, found

    def _run(self) -> None:
        ring, rate = self.source.ring, float(self.source.sample_rate)
        arrived = getattr(self.source, "arrived", None)
        watch = getattr(self.source, "watch", None)
        while not self._stop.is_set():
            if arrived is not None:
                arrived.clear()  # cleared before the read: a block landing after it sets it again
            samples = ring.read()
            if len(samples) == 0:
                if watch is not None:
                    watch(time.monotonic())
                    if self.source.lost:
                        with self._lock:  # the picture goes on, on silence, until the device is back
                            self._newest, self.level_db = silent_features(self._newest.time_s), -120.0
                if arrived is not None:
                    arrived.wait(self._poll_s)
                else:
                    self._stop.wait(self._poll_s)
                continue
            end = ring.read_position  # ring index just after the newest sample read
            # Any published pair will do, even one a block older than the read: it times one
            # ring index, and the sample rate times the others.
            written, heard_at = self.source.clock
            self._fed += len(samples)
            resampled = self._resampler.process(samples)
            self.recent.write(resampled)
            track: FeatureTrack = self._analyzer.process(resampled)
            if len(track) == 0:
                continue
            newest = track.span(-np.inf, np.inf)
            # Events travel in the hold below, so that none is lost between two takes.
            newest = Features(**{**newest.__dict__, **dict.fromkeys(EVENT_NAMES, 0.0)})
            onset_times = track.onset_times()
            # When each onset was heard: its place in the analyzer's timeline, as a ring index, against
            # the (index, time) pair the audio callback published.
            captures = [heard_at - (written - (end - (self._fed - t * rate))) / rate for t in onset_times]
            if self.osc_out is not None:
                self.osc_out.heard(track, captures, time.monotonic())
            with self._lock:
                self._newest = newest
                for name in EVENT_NAMES:
                    self._held[name] = max(self._held[name], float(getattr(track, name).max()))
                self.level_db = float(track.loudness_db[-1])
                if captures and self._onset_capture is None:
                    self._onset_capture = captures[0]
                    self._onset_found = time.monotonic()


def lower_thread_priority(nice: int) -> None:
    """Lower the calling thread's priority by ``nice`` (Linux niceness, added to the process's)."""
    # On Linux a thread id names just this thread to setpriority (elsewhere it would name the process).
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:  # a sandbox that forbids it: the show runs as before
        pass


class ListenerWorker(_Worker):
    """Listener thread: every ``listen.update_s`` the listener (its next network, if it has several) hears
    the last 3 s the analysis thread resampled; the newest MusicState waits in ``states``. Runs at the CPU
    generator's lowered priority, so the display and the audio analysis keep the cores they need."""

    def __init__(self, listener, feed: FeatureFeed, update_s: float, nice: int = 0) -> None:
        from visualizer.listen.listener import WINDOW_S

        self.listener, self.feed, self.update_s, self.nice = listener, feed, update_s, nice
        self.window = int(round(WINDOW_S * feed.analysis_rate))
        self.states: LatestSlot = LatestSlot()
        self.seconds_busy = 0.0   # CPU seconds spent hearing (for the HUD and the latency benchmark)
        self.updates = 0
        self.started_at: float | None = None  # monotonic s when the thread began
        self.osc_out = None  # an OscOut, sent the tags (at most once per show.osc_tags_s)
        super().__init__("listener")

    def load(self) -> tuple[float, float]:
        """(updates per second, share of one core spent hearing), over the wall time since the thread began."""
        if self.started_at is None:
            return 0.0, 0.0
        uptime = max(1e-9, time.monotonic() - self.started_at)
        return self.updates / uptime, self.seconds_busy / uptime

    def _run(self) -> None:
        from visualizer.listen.listener import MusicState, to_listener_rate

        lower_thread_priority(self.nice)
        self.started_at = time.monotonic()
        probs, embedding = self.listener.empty_state()
        nets = len(self.listener.nets)
        next_at = time.monotonic() + self.update_s
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.update_s
            started = time.thread_time()
            audio = to_listener_rate(self.feed.recent.latest(self.window), self.feed.analysis_rate)
            self.listener.update(probs, embedding, self.updates % nets, audio)
            self.updates += 1
            state = MusicState(self.updates * self.update_s, self.listener.tags_of(probs), embedding.copy())
            self.states.put(state)
            if self.osc_out is not None:
                from visualizer.listen.tags import TAGS

                self.osc_out.tags(TAGS, state.tags, time.monotonic())
            self.seconds_busy += time.thread_time() - started


@dataclass
class GeneratedFrame:
    """A picture from the generator: uint8 [H, W, 3], and when it was finished (monotonic s)."""

    image: np.ndarray
    done_at: float


class GeneratorWorker(_Worker):
    """Generator thread: newest latent request -> picture; never queues more than one of each."""

    def __init__(self, generator: Generator, max_fps: float = 0.0, nice: int = 0) -> None:
        """``max_fps``: most frames a second (0 = no limit); ``nice``: how much to lower the thread's
        priority (Linux niceness, added to the process's; 0 = unchanged)."""
        self.generator = generator
        self.min_interval_s = 1.0 / max_fps if max_fps > 0 else 0.0
        self.nice = nice
        self.requests: LatestSlot[tuple[np.ndarray, np.ndarray | None]] = LatestSlot()  # (latent, noise scales)
        self.frames: LatestSlot[GeneratedFrame] = LatestSlot()
        self.frame_times: deque[float] = deque(maxlen=30)
        self.error: str | None = None
        super().__init__("generator")

    def _wake(self) -> None:
        self.requests.put(None)

    @property
    def fps(self) -> float:
        if len(self.frame_times) < 2:
            return 0.0
        return (len(self.frame_times) - 1) / max(1e-9, self.frame_times[-1] - self.frame_times[0])

    def _run(self) -> None:
        # With one torch thread (the default on two cores) the model runs right here, at this priority.
        lower_thread_priority(self.nice)
        seen = 0
        started = -1e9
        while not self._stop.is_set():
            # A CPU generator is held to max_fps, so that the display and the audio keep their share.
            rest = started + self.min_interval_s - time.monotonic()
            if rest > 0 and self._stop.wait(rest):
                break
            seq, request = self.requests.wait_newer(seen, timeout_s=0.1)
            if seq == seen or request is None:
                continue
            latent, noise = request
            seen = seq
            started = time.monotonic()
            try:
                scale = torch.from_numpy(noise[None]).float() if noise is not None else None
                image = to_uint8_images(self.generator(torch.from_numpy(latent[None]), noise_scale=scale))[0]
            except Exception as exc:  # e.g. CUDA out of memory: keep the show going on the last frame
                error = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
                if error != self.error:  # logged once, not once a frame
                    print(f"visualizer: generator: {error}; showing the last picture", file=sys.stderr)
                self.error = error
                continue
            now = time.monotonic()
            self.frame_times.append(now)
            self.frames.put(GeneratedFrame(image, now))


@dataclass
class Shown:
    """What the display draws this frame."""

    frame: np.ndarray | None
    previous: np.ndarray | None
    mix: float
    uniforms: Uniforms
    features: Features
    onset_capture: float | None  # when the onset this frame reacts to was heard, if any
    onset_found: float | None    # when the analysis reported it
    ticked: float                # when this frame's features were taken
    beat_at: float | None = None  # with an outside clock: when the beat this frame shows fell (monotonic s)


@dataclass
class LiveSession:
    """Owns the live threads and the Mapper; the window calls ``tick`` once per display frame.

    Show control: ``commands`` (OSC and MIDI put them there) are carried out at the start of a tick;
    ``clock`` (MIDI clock, taps) takes over the beat while it runs; ``scenes`` switch the settings
    with a cross-fade of the picture and the mappings over ``show.scene_fade_s``.
    """

    settings: Settings
    generator: Generator
    source: object
    seed: int = 7
    frozen: bool = False
    follower: PlaceFollower | None = None
    scenes: SceneBook | None = None
    notify: Callable[[str], None] = field(default=lambda message: print(f"visualizer: {message}", file=sys.stderr))
    commands: CommandQueue | None = None  # made here unless given (OSC and MIDI inputs opened first share it)
    clock: BeatClock | None = None
    feed: FeatureFeed = field(init=False)
    worker: GeneratorWorker = field(init=False)
    listener: ListenerWorker | None = field(init=False)
    mapper: Mapper = field(init=False)

    def __post_init__(self) -> None:
        from visualizer.engine import build_mapper

        self.seed = self.settings.render.seed
        self.feed = FeatureFeed(self.source, self.settings)
        on_cpu = getattr(self.generator, "device", None) is not None and self.generator.device.type == "cpu"
        live = self.settings.live
        self.worker = GeneratorWorker(self.generator, max_fps=live.cpu_generator_fps if on_cpu else 0.0,
                                      nice=live.cpu_generator_nice if on_cpu else 0)
        self.listener = None
        if self.follower is not None:
            from visualizer.listen.listener import Listener

            self.listener = ListenerWorker(Listener.bundled(), self.feed, self.settings.listen.update_s,
                                           nice=live.cpu_generator_nice)
        self._music_seq = 0
        self.mapper = build_mapper(self.settings, self.generator, self._keyframes(), self.follower)
        self._last_tick: float | None = None
        self._frame_seq = 0
        self._current: GeneratedFrame | None = None
        self._previous: GeneratedFrame | None = None
        self.commands = self.commands or CommandQueue()
        show = self.settings.show
        self.clock = self.clock or BeatClock(clock_timeout_s=show.clock_timeout_s, tap_hold_s=show.tap_hold_s)
        self._clock = ClockFollower(self.clock)
        self.scene: str | None = None          # the scene in force (None: the --settings file)
        self._pending_scene: tuple[str, float] | None = None  # (name, asked at) waiting for the bar
        self._fade: tuple[Mapper, float] | None = None  # (outgoing mapper, monotonic s the fade began)
        self.osc_in = self.osc_out = self.midi = None  # the show-control transports run_live opened

    def _keyframes(self) -> Keyframes:
        return Keyframes.from_generator(self.generator, seed=self.seed, count=self.settings.walk.keyframes)

    def start(self) -> None:
        self.source.start()
        self.feed.start()
        self.worker.start()
        if self.listener is not None:
            self.listener.start()

    def stop(self) -> None:
        """Stop every thread and the audio stream; safe to call twice."""
        self.worker.stop()
        if self.listener is not None:
            self.listener.stop()
        self.feed.stop()
        self.source.stop()

    def new_keyframes(self) -> None:
        """Draw a fresh set of keyframes (the N key)."""
        self.seed += 1
        self.mapper.keyframes = self._keyframes()

    def apply_settings(self, settings: Settings) -> None:
        """Switch to new settings without restarting: envelopes of unchanged mappings carry on."""
        if settings.walk.keyframes != self.settings.walk.keyframes:
            self.settings = settings
            self.mapper.keyframes = self._keyframes()
        self.settings = settings
        self.mapper.update_settings(settings)
        apply_model_settings(self.generator, settings)

    # Show control (the display thread)

    def set_key(self, key: str, value) -> str:
        """Set one setting by its key ("effects.zoom", "mappings.2.gain"); a SettingsError when it is refused."""
        self.apply_settings(self.settings.with_key(key, value))
        return f"{key} = {value:.6g}" if isinstance(value, float) else f"{key} = {value}"

    def execute(self, command: Command, now: float) -> str:
        """Carry out one command; returns what happened, or raises a UserError saying why it could not."""
        name, args = command.name, command.args
        if name == "set":
            return self.set_key(str(args[0]), args[1])
        if name == "freeze":
            self.frozen = bool(args[0]) if args else not self.frozen
            return "frozen" if self.frozen else "running"
        if name == "keyframes-next":
            self.new_keyframes()
            return f"new keyframes (seed {self.seed})"
        if name == "tap":
            bpm = self.clock.tap(now)
            return f"tap: {bpm:.1f} BPM" if bpm else "tap: tap again on the beat"
        if name in ("scene", "scene-next", "scene-previous"):
            if self.scenes is None:
                raise SceneError("no scenes: start the show with --scenes DIR (a folder of settings files)")
            if name == "scene":
                scene = self.scenes.find(args[0])
            else:
                scene = self.scenes.neighbour(self._pending_scene[0] if self._pending_scene else self.scene,
                                              1 if name == "scene-next" else -1)
            return self.request_scene(scene.name, now)
        raise UserError(f"unknown command {name!r}")

    def request_scene(self, name: str, now: float) -> str:
        """Switch to scene ``name``: on the next bar (show.scene_on_bar, while a tempo is known), else now."""
        self._pending_scene = (name, now)
        return f"scene {name}" + (" on the next bar" if self.settings.show.scene_on_bar else "")

    def _run_commands(self, now: float) -> None:
        for command in self.commands.drain():
            try:
                text, ok = self.execute(command, now), True
                if command.name != "set":  # a fader's stream of values would flood the HUD
                    self.notify(text)
            except UserError as exc:
                text, ok = str(exc), False
                self.notify(f"{command.origin or 'command'}: {text}")
            if command.reply is not None:
                command.reply(ok, text)
        if self.scenes is not None:
            messages, changed = self.scenes.poll(now)
            for message in messages:
                self.notify(message)
            for scene in changed:
                if scene.name == self.scene:
                    self.apply_settings(scene.settings)
                    self.notify(f"scene {scene.name} reloaded")

    def _switch_scene_when_due(self, features: Features, now: float) -> None:
        if self._pending_scene is None:
            return
        name, asked = self._pending_scene
        show = self.settings.show
        tempo_known = features.tempo_bpm > 0
        on_time = (not show.scene_on_bar or not tempo_known
                   or (features.bar > 0 if features.bar_index >= 0 else features.beat > 0)
                   or now - asked > 4 * BEATS_PER_BAR * 60.0 / max(features.tempo_bpm, 30.0))
        if not on_time:
            return
        self._pending_scene = None
        scene = self.scenes.find(name)
        if self.settings.show.scene_fade_s > 0:
            self._fade = (self.mapper, now)
            self.mapper = _forked(self.mapper)
        self.scene = name
        self.apply_settings(dataclasses.replace(scene.settings, model=self.settings.model, live=self.settings.live,
                                                show=self.settings.show))
        self.notify(f"scene {name}")

    def _step_mappers(self, features: Features, dt: float, music, now: float):
        latent, uniforms = self.mapper.step(features, dt, music)
        if self._fade is None:
            return latent, uniforms
        outgoing, started = self._fade
        fade_s = self.settings.show.scene_fade_s
        w = 1.0 if fade_s <= 0 else min(1.0, (now - started) / fade_s)
        if w >= 1.0:
            self._fade = None
            return latent, uniforms
        old_latent, old_uniforms = outgoing.step(features, dt, music)
        w = w * w * (3.0 - 2.0 * w)  # smoothstep: no jolt at either end
        return _blend_latents(old_latent, latent, w, self.mapper.keyframes.mean), _blend_uniforms(old_uniforms, uniforms, w)

    @property
    def clock_reading(self):
        """The outside clock (MIDI clock or taps) as this frame read it, or None while the tracker keeps the beat."""
        return self._clock.reading

    @property
    def fading(self) -> bool:
        return self._fade is not None

    def tick(self, now: float) -> Shown:
        dt = 0.0 if self._last_tick is None else min(0.25, now - self._last_tick)
        self._last_tick = now
        self._run_commands(now)
        features, capture, found = self.feed.take()
        features = self._clock.overlay(features, now)
        self._switch_scene_when_due(features, now)
        music = None
        if self.listener is not None:
            seq, state = self.listener.states.newest()
            if seq != self._music_seq:
                self._music_seq, music = seq, state
        latent, uniforms = self._step_mappers(features, dt, music, now)
        if not self.frozen:
            self.worker.requests.put((latent, self.mapper.noise_scale))
            seq, frame = self.worker.frames.newest()
            if seq != self._frame_seq and frame is not None:
                self._frame_seq = seq
                self._previous, self._current = self._current, frame
        mix = 1.0
        if self._previous is not None and self._current is not None:
            interval = max(1e-3, self._current.done_at - self._previous.done_at)
            mix = min(1.0, (now - self._current.done_at) / interval)
        return Shown(
            frame=self._current.image if self._current else None,
            previous=self._previous.image if self._previous else None,
            mix=mix, uniforms=uniforms, features=features, onset_capture=capture, onset_found=found, ticked=now,
            beat_at=self._clock.reading.beat_at if self._clock.reading is not None and features.beat > 0 else None,
        )


def _forked(mapper: Mapper) -> Mapper:
    """An independent copy of ``mapper`` (envelopes, walk, place) sharing its music map, for a scene fade."""
    memo = {}
    if mapper.follower is not None:
        memo[id(mapper.follower.map)] = mapper.follower.map
    return copy.deepcopy(mapper, memo)


def _blend_latents(a: np.ndarray, b: np.ndarray, w: float, mean: np.ndarray) -> np.ndarray:
    """From latent ``a`` (w = 0) to ``b`` (w = 1) along the sphere around the prior's ``mean``; [D] or [layers, D]."""
    from visualizer.mapping.walk import slerp

    if a.shape != b.shape:
        a, b = np.broadcast_arrays(a, b)
    if a.ndim == 1:
        return (mean + slerp(a - mean, b - mean, w)).astype(np.float32)
    return np.stack([mean + slerp(x - mean, y - mean, w) for x, y in zip(a, b)]).astype(np.float32)


def _blend_uniforms(a: Uniforms, b: Uniforms, w: float) -> Uniforms:
    """Shader values from ``a`` to ``b``; the hue the short way round its circle."""
    def mix(x: float, y: float) -> float:
        return (1.0 - w) * x + w * y

    turn = (b.hue - a.hue + 0.5) % 1.0 - 0.5
    return Uniforms(time_s=b.time_s, flash=mix(a.flash, b.flash), zoom=mix(a.zoom, b.zoom), warp=mix(a.warp, b.warp),
                    hue=(a.hue + w * turn) % 1.0, vignette=mix(a.vignette, b.vignette), grain=mix(a.grain, b.grain),
                    flash_color=tuple(mix(x, y) for x, y in zip(a.flash_color, b.flash_color)))


class SettingsWatcher:
    """Reloads the settings file when it changes (or on demand); a bad file never stops the show.

    ``on_change(settings)`` gets each new good Settings; ``on_error(message)`` gets a one-line
    message and the previous settings stay in force.
    """

    def __init__(self, path, on_change, on_error, poll_s: float = 0.5) -> None:
        from pathlib import Path

        self.path = Path(path) if path else None
        self.on_change, self.on_error = on_change, on_error
        self.poll_s = poll_s
        self._mtime = self._stat()
        self._next = 0.0

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime if self.path else None
        except OSError:
            return None

    def poll(self) -> None:
        now = time.monotonic()
        if self.path is None or now < self._next:
            return
        self._next = now + self.poll_s
        mtime = self._stat()
        if mtime != self._mtime:
            self._mtime = mtime
            self.reload()

    def reload(self) -> None:
        from visualizer.settings import load_settings

        if self.path is None:
            self.on_error("no --settings file to reload")
            return
        try:
            settings = load_settings(self.path)
        except UserError as exc:
            self.on_error(f"{exc}; keeping the previous settings")
            return
        self.on_change(settings)


def run_live(input_spec: str, settings: Settings, *, settings_path=None, device=None,
             size: tuple[int, int] = (1280, 720), fullscreen: bool = False, screen: int | None = None,
             duration_s: float | None = None, frame_log=None, hud: bool = False, scenes_dir=None) -> str:
    """Run the live show until Esc, SIGINT/SIGTERM, the end of a played file, or ``duration_s``.

    ``input_spec`` is "mic" (the input ``device``), "system" (what the machine plays: the default
    output's monitor) or an audio file to play on the output ``device``. ``settings.show`` says which
    OSC port to listen on, where to send OSC, and which MIDI input to open; ``scenes_dir`` is a folder
    of scene files. Returns the closing summary line.
    """
    import signal

    from visualizer.audio.live import FilePlayback, MicInput
    from visualizer.audio.sources import load_audio
    from visualizer.models.io import load_configured
    from visualizer.render.window import LiveWindow, check_display

    # Installed first, so that a signal during start-up also ends the show cleanly.
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    torch_threads = torch.get_num_threads()
    controls = _ShowControls()
    try:
        check_display()  # before opening audio devices or loading the model
        controls.open(settings, scenes_dir)
        if input_spec in ("mic", "system"):
            source = MicInput(device, system=input_spec == "system")
        else:
            source = FilePlayback(load_audio(input_spec), device)
        generator = load_configured(settings)
        if generator.device.type == "cpu":
            # The display (software GL on machines without a GPU) and the audio need cores too.
            torch.set_num_threads(settings.live.cpu_threads or max(1, (os.cpu_count() or 2) // 2))
        from visualizer.engine import place_follower

        follower = place_follower(settings, generator, warn=lambda m: print(f"visualizer: note: {m}", file=sys.stderr))
        session = LiveSession(settings=settings, generator=generator, source=source, follower=follower,
                              scenes=controls.scenes, commands=controls.commands, clock=controls.clock)
        controls.attach(session)
        window = LiveWindow(session, size=size, fullscreen=fullscreen, screen=screen, frame_log=frame_log,
                            duration_s=duration_s, stop=stop, render_scale=settings.live.render_scale,
                            bicubic=settings.live.upscale == "bicubic", scale_filter=settings.live.window_filter)

        def changed(new: Settings) -> None:
            session.apply_settings(new)
            window.show_message("settings reloaded", 2.0)
            print("visualizer: settings reloaded", file=sys.stderr)

        def failed(message: str) -> None:
            window.show_message(message, 8.0)
            print(f"visualizer: settings: {message}", file=sys.stderr)

        session.notify = lambda message: (window.show_message(message, 4.0),
                                          print(f"visualizer: {message}", file=sys.stderr))
        window.hud.visible = hud
        watcher = SettingsWatcher(settings_path, changed, failed)
        window.reload_settings = watcher.reload
        window.on_idle = watcher.poll
        print(f"visualizer: live from '{source.device.name}' at {source.sample_rate:.0f} Hz; keys: F fullscreen, "
              "Space freeze, N new keyframes, R reload settings, H display, Esc quit", file=sys.stderr, flush=True)
        window.run()
        control_summary = controls.summary()
        if control_summary:
            print(f"show control: {control_summary[2:]}", file=sys.stderr)
    finally:
        controls.close()
        torch.set_num_threads(torch_threads)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return window.summary() + control_summary


class _ShowControls:
    """The show-control inputs and outputs of one run_live: opened before the audio, closed after the show."""

    def __init__(self) -> None:
        self.commands = CommandQueue()
        self.clock: BeatClock | None = None
        self.scenes: SceneBook | None = None
        self.osc_in = self.osc_out = self.midi = None

    def open(self, settings: Settings, scenes_dir) -> None:
        from visualizer.control.osc import OscIn, OscOut

        show = settings.show
        self.clock = BeatClock(clock_timeout_s=show.clock_timeout_s, tap_hold_s=show.tap_hold_s)
        if scenes_dir:
            self.scenes = SceneBook(scenes_dir)
        if show.osc_port:
            self.osc_in = OscIn(show.osc_port, self.commands, lambda m: print(f"visualizer: {m}", file=sys.stderr))
        if show.osc_out:
            self.osc_out = OscOut(show.osc_out, levels_hz=show.osc_levels_hz, tags_s=show.osc_tags_s)
        if show.midi_input:
            from visualizer.control.midi import MidiIn

            self.midi = MidiIn(show.midi_input, settings.midi, self.commands, self.clock, api=show.midi_api)

    def attach(self, session: LiveSession) -> None:
        session.osc_in, session.osc_out, session.midi = self.osc_in, self.osc_out, self.midi
        session.feed.osc_out = self.osc_out
        if session.listener is not None:
            session.listener.osc_out = self.osc_out
        if self.osc_in is not None:
            self.osc_in.on_error = lambda message: session.notify(message)
            self.osc_in.start()

    def close(self) -> None:
        for part in (self.osc_in, self.midi, self.osc_out):
            if part is not None:
                part.close()

    def summary(self) -> str:
        parts = []
        if self.osc_in is not None:
            parts.append(f"OSC in {self.osc_in.received} packets")
        if self.osc_out is not None:
            latency = self.osc_out.latency_ms()
            parts.append(f"OSC out {self.osc_out.sent} messages" + (
                f", onset capture-to-sent p50 {latency[0]:.1f} ms p95 {latency[1]:.1f} ms" if latency else ""))
        if self.midi is not None:
            parts.append(f"MIDI in {self.midi.received} messages")
        return "; " + "; ".join(parts) if parts else ""
