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

import dataclasses
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from visualizer.audio.analyzer import Analyzer
from visualizer.audio.features import EVENT_NAMES, Features, FeatureTrack, silent_features
from visualizer.audio.resample import LiveResampler
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
        while not self._stop.is_set():
            if arrived is not None:
                arrived.clear()  # cleared before the read: a block landing after it sets it again
            samples = ring.read()
            if len(samples) == 0:
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
            with self._lock:
                self._newest = newest
                for name in EVENT_NAMES:
                    self._held[name] = max(self._held[name], float(getattr(track, name).max()))
                self.level_db = float(track.loudness_db[-1])
                if len(onset_times) and self._onset_capture is None:
                    # When the onset itself was heard: its place in the analyzer's timeline, as a
                    # ring index, against the (index, time) pair the audio callback published.
                    index = end - (self._fed - onset_times[0] * rate)
                    self._onset_capture = heard_at - (written - index) / rate
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
    """Listener thread: every ``listen.update_s`` the next network (they take turns) hears the last 3 s the
    analysis thread resampled; the newest MusicState waits in ``states``. Runs at the CPU generator's
    lowered priority, so the display and the audio analysis keep the cores they need."""

    def __init__(self, listener, feed: FeatureFeed, update_s: float, nice: int = 0) -> None:
        from visualizer.listen.listener import WINDOW_S

        self.listener, self.feed, self.update_s, self.nice = listener, feed, update_s, nice
        self.window = int(round(WINDOW_S * feed.analysis_rate))
        self.states: LatestSlot = LatestSlot()
        self.seconds_busy = 0.0   # CPU seconds spent hearing (for the HUD and the latency benchmark)
        self.updates = 0
        self.started_at: float | None = None  # monotonic s when the thread began
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
            self.states.put(MusicState(self.updates * self.update_s, self.listener.tags_of(probs), embedding.copy()))
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
            except RuntimeError as exc:  # e.g. CUDA out of memory: keep the show going on the last frame
                self.error = str(exc).splitlines()[0][:120]
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


@dataclass
class LiveSession:
    """Owns the live threads and the Mapper; the window calls ``tick`` once per display frame."""

    settings: Settings
    generator: Generator
    source: object
    seed: int = 7
    frozen: bool = False
    follower: PlaceFollower | None = None
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

    def tick(self, now: float) -> Shown:
        dt = 0.0 if self._last_tick is None else min(0.25, now - self._last_tick)
        self._last_tick = now
        features, capture, found = self.feed.take()
        music = None
        if self.listener is not None:
            seq, state = self.listener.states.newest()
            if seq != self._music_seq:
                self._music_seq, music = seq, state
        latent, uniforms = self.mapper.step(features, dt, music)
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
        )


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
             duration_s: float | None = None, frame_log=None, hud: bool = False) -> str:
    """Run the live show until Esc, SIGINT/SIGTERM, the end of a played file, or ``duration_s``.

    ``input_spec`` is "mic" (the input ``device``) or an audio file to play on the output
    ``device``. Returns the closing summary line.
    """
    import signal

    from visualizer.audio.live import FilePlayback, MicInput
    from visualizer.audio.sources import load_audio
    from visualizer.models.io import load_generator
    from visualizer.render.window import LiveWindow, check_display

    # Installed first, so that a signal during start-up also ends the show cleanly.
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    torch_threads = torch.get_num_threads()
    try:
        check_display()  # before opening audio devices or loading the model
        source = MicInput(device) if input_spec == "mic" else FilePlayback(load_audio(input_spec), device)
        generator = load_generator(settings.model.checkpoint or None, device=settings.model.device)
        apply_model_settings(generator, settings)
        if generator.device.type == "cpu":
            # The display (software GL on machines without a GPU) and the audio need cores too.
            torch.set_num_threads(settings.live.cpu_threads or max(1, (os.cpu_count() or 2) // 2))
        from visualizer.engine import place_follower

        follower = place_follower(settings, generator, warn=lambda m: print(f"visualizer: note: {m}", file=sys.stderr))
        session = LiveSession(settings=settings, generator=generator, source=source, follower=follower)
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

        window.hud.visible = hud
        watcher = SettingsWatcher(settings_path, changed, failed)
        window.reload_settings = watcher.reload
        window.on_idle = watcher.poll
        print(f"visualizer: live from '{source.device.name}' at {source.sample_rate:.0f} Hz; keys: F fullscreen, "
              "Space freeze, N new keyframes, R reload settings, H display, Esc quit", file=sys.stderr, flush=True)
        window.run()
    finally:
        torch.set_num_threads(torch_threads)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return window.summary()
