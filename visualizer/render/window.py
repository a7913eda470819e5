"""The live window: pyglet for the window and keys, moderngl and the shared shaders for drawing.

Keys: F fullscreen, Space freeze, N new keyframes, R reload settings, H heads-up display, Esc quit.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

from visualizer.control.commands import Command
from visualizer.errors import UserError
from visualizer.models.base import shape_pictures
from visualizer.render.compositor import Compositor, GraphicsError, load_shader

HUD_SIZE = (380, 250)
# OpenGL renderers that run on the CPU (GL_RENDERER names them).
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swiftshader", "software rasterizer")


class DisplayError(UserError):
    """No display to open a window on."""


def check_display() -> None:
    """Raise DisplayError when there is no display server to open a window on."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise DisplayError("no display found (DISPLAY is not set); render a video instead with "
                           "--output video.mp4, or run under a desktop session or Xvfb")


def open_pyglet_window(size: tuple[int, int], *, fullscreen: bool, screen_index: int | None, title: str):
    """A pyglet window with an OpenGL 3.3 core context, or a DisplayError saying what to do."""
    check_display()
    import pyglet

    try:
        display = pyglet.display.get_display() if hasattr(pyglet, "display") else pyglet.canvas.get_display()
        screens = display.get_screens()
    except Exception as exc:  # pyglet raises NoSuchDisplayException and friends
        raise DisplayError(f"cannot open the display ({str(exc).splitlines()[0][:100]}); render a video "
                           "instead with --output video.mp4") from None
    if screen_index is not None and not 0 <= screen_index < len(screens):
        raise DisplayError(f"there is no screen {screen_index}; screens are 0..{len(screens) - 1}")
    screen = screens[screen_index or 0]
    config = pyglet.gl.Config(major_version=3, minor_version=3, forward_compatible=True, double_buffer=True,
                              depth_size=0)
    try:
        return pyglet.window.Window(width=size[0], height=size[1], caption=title, resizable=True, vsync=True,
                                    fullscreen=fullscreen, screen=screen, config=config)
    except pyglet.window.NoSuchConfigException:
        raise GraphicsError("this display offers no OpenGL 3.3 context; update the graphics driver "
                            "(or Mesa)") from None


def window_filter(setting: str, renderer: str) -> str:
    """The filter that scales the effects picture up to the window: ``setting`` ("auto",
    "bilinear" or "nearest") resolved for this GL_RENDERER string.

    On a software renderer a bilinear fetch per window pixel costs about twice a nearest
    one (llvmpipe, 1280x720: ~6 against ~3 ms of both cores per frame), which the display,
    the analysis and the generator need; on a GPU either is free, so auto keeps it smooth.
    """
    if setting != "auto":
        return setting
    return "nearest" if any(name in renderer.lower() for name in SOFTWARE_RENDERERS) else "bilinear"


class TextureQuad:
    """Draws a texture into a pixel rectangle of the current target (overlay.vert/.frag)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.program = ctx.program(vertex_shader=load_shader("overlay.vert"),
                                   fragment_shader=load_shader("overlay.frag"))
        quad = np.array([0, 0, 1, 0, 0, 1, 1, 1], dtype="f4")
        self._vbo = ctx.buffer(quad.tobytes())
        self._vao = ctx.vertex_array(self.program, [(self._vbo, "2f", "in_position")])

    def draw(self, texture, rect: tuple[float, float, float, float], target_size: tuple[int, int], *,
             blend: bool, flip: bool = False) -> None:
        """``rect`` is (left, top, width, height) in target pixels; ``flip`` for framebuffer textures."""
        if blend:
            self.ctx.enable(self.ctx.BLEND)
            self.ctx.blend_func = self.ctx.SRC_ALPHA, self.ctx.ONE_MINUS_SRC_ALPHA
        texture.use(0)
        self.program["u_overlay"].value = 0
        self.program["u_rect"].value = tuple(float(v) for v in rect)
        self.program["u_target"].value = (float(target_size[0]), float(target_size[1]))
        self.program["u_flip"].value = flip
        self._vao.render(mode=self.ctx.TRIANGLE_STRIP)
        if blend:
            self.ctx.disable(self.ctx.BLEND)


class Hud:
    """Text drawn on the CPU (Pillow) into a texture a few times a second, then overlaid."""

    def __init__(self, ctx, quad: TextureQuad) -> None:
        self.quad = quad
        self.texture = ctx.texture(HUD_SIZE, 4)
        self.visible = True

    def update(self, lines: list[str], level: float, beat: bool) -> None:
        from PIL import Image, ImageDraw

        img = Image.new("RGBA", HUD_SIZE, (0, 0, 0, 150))
        draw = ImageDraw.Draw(img)
        for i, line in enumerate(lines):
            draw.text((8, 6 + 14 * i), line, fill=(255, 255, 255, 255))
        bar_w = int((HUD_SIZE[0] - 40) * min(1.0, max(0.0, level)))
        draw.rectangle((8, HUD_SIZE[1] - 16, 8 + bar_w, HUD_SIZE[1] - 8), fill=(80, 220, 120, 255))
        if beat:
            draw.ellipse((HUD_SIZE[0] - 24, HUD_SIZE[1] - 20, HUD_SIZE[0] - 8, HUD_SIZE[1] - 4),
                         fill=(255, 230, 80, 255))
        self.texture.write(img.tobytes())

    def draw(self, target_size: tuple[int, int]) -> None:
        if self.visible:
            self.quad.draw(self.texture, (10, 10, *HUD_SIZE), target_size, blend=True)


class LiveWindow:
    """Runs a LiveSession in a window until Esc, the window closing, or ``request_stop``."""

    def __init__(self, session, *, size: tuple[int, int], fullscreen: bool = False, screen: int | None = None,
                 reload_settings: Callable[[], object] | None = None, frame_log: Path | None = None,
                 duration_s: float | None = None, stop: threading.Event | None = None,
                 render_scale: float = 0.5, bicubic: bool = False, scale_filter: str = "auto") -> None:
        import moderngl
        import pyglet

        self.session = session
        self.window = open_pyglet_window(size, fullscreen=fullscreen, screen_index=screen, title="visualizer")
        self.ctx = moderngl.create_context()
        self.render_scale = render_scale
        self.bicubic = bicubic
        self.scale_filter = window_filter(scale_filter, self.ctx.info.get("GL_RENDERER", ""))
        self.compositor = self._compositor(self.window.get_framebuffer_size())
        self.quad = TextureQuad(self.ctx)
        self.hud = Hud(self.ctx, self.quad)
        self.hud.visible = False
        self.reload_settings = reload_settings
        self.message = ""
        self._message_until = 0.0
        self._frame_log = open(frame_log, "w") if frame_log else None
        self._present_times: deque[float] = deque(maxlen=120)
        self._latencies: deque[float] = deque(maxlen=50)
        self._hud_next = 0.0
        self._beat_until = 0.0
        self._stop = stop if stop is not None else threading.Event()
        self._deadline = None if duration_s is None else time.monotonic() + duration_s
        self.window.push_handlers(on_key_press=self._on_key, on_close=self._on_close)
        self._pyglet = pyglet
        self.on_idle: Callable[[], None] | None = None  # called once per display frame (settings watcher)
        self._input_lost = False
        self._learning = False  # MIDI learn: waiting for a control, then for the key of its target

    def _render_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return max(16, round(size[0] * self.render_scale)), max(16, round(size[1] * self.render_scale))

    def _compositor(self, window_size: tuple[int, int]) -> Compositor:
        compositor = Compositor(self._render_size(window_size), ctx=self.ctx, bicubic=self.bicubic,
                                fit=self.session.settings.effects.fit)
        mode = self.ctx.NEAREST if self.scale_filter == "nearest" else self.ctx.LINEAR
        compositor.output.filter = (mode, mode)
        return compositor

    def request_stop(self) -> None:
        """Ask the loop to end (safe from signal handlers and other threads)."""
        self._stop.set()

    def show_message(self, text: str, seconds: float = 6.0) -> None:
        self.message = text
        self._message_until = time.monotonic() + seconds
        self.hud.visible = True

    def _on_close(self):
        self.request_stop()
        return True

    def _clear_gl_errors(self) -> None:
        """Read back (and so clear) GL error flags that moderngl left set. pyglet checks the flag
        after its own GL calls (window events, fullscreen) and would raise on a stale one: reading
        the window's pixels (the frame log) leaves GL_INVALID_OPERATION behind, harmlessly."""
        for _ in range(8):
            if self.ctx.error == "GL_NO_ERROR":
                return

    def _on_key(self, symbol, modifiers):
        key = self._pyglet.window.key
        if self._learning and self._learn_key(symbol):
            return True
        if symbol == key.ESCAPE:
            self.request_stop()
            return True  # keeps pyglet from closing the window under us
        if symbol == key.F:
            try:
                self.window.set_fullscreen(not self.window.fullscreen)
            except Exception as exc:  # a display that refuses must not end the show
                self.show_message(f"fullscreen failed: {str(exc).splitlines()[0][:80]}")
        elif symbol == key.SPACE:
            self.session.frozen = not self.session.frozen
            self.show_message("frozen" if self.session.frozen else "running", 2.0)
        elif symbol == key.N:
            self.session.new_keyframes()
            self.show_message(f"new keyframes (seed {self.session.seed})", 2.0)
        elif symbol == key.R and self.reload_settings is not None:
            self.reload_settings()
        elif symbol == key.H:
            self.hud.visible = not self.hud.visible
        elif symbol == key.T:
            self.session.commands.put(Command("tap", (), "key T"))
        elif key._1 <= symbol <= key._9:
            self.session.commands.put(Command("scene", (symbol - key._0,), f"key {symbol - key._0}"))
        elif symbol == key.L:
            self._start_learning()
        return None

    def _start_learning(self) -> None:
        midi = self.session.midi
        if midi is None:
            self.show_message("MIDI learn needs a MIDI input: start the show with --midi NAME", 4.0)
            return
        midi.learned, midi.learning = None, True
        self._learning = True
        self.show_message("MIDI learn: move a control or hit a pad; Esc cancels", 30.0)

    def _learn_key(self, symbol) -> bool:
        """While MIDI learn waits for a target: the pressed key picks it; True when the key was taken."""
        from visualizer.control.midi import binding_toml, learned_binding

        midi = self.session.midi
        if symbol == self._pyglet.window.key.ESCAPE:
            midi.learning, self._learning = False, False
            self.show_message("MIDI learn cancelled", 2.0)
            return True
        if midi.learned is None:
            return False
        binding = learned_binding(*midi.learned, self._pyglet.window.key.symbol_string(symbol))
        if binding is None:
            self.show_message("that key names no target: Z zoom, V vignette, G grain, U hue drift, S speed, "
                              "P pulse, W wander, M smoothing, Space, N, T, 1-9, Left, Right", 30.0)
            return True
        midi.bind(binding)
        self._learning = False
        table = binding_toml(binding)
        self.show_message("learned: " + "; ".join(table.splitlines()[1:]), 8.0)
        print(f"visualizer: MIDI learn: add to the settings file:\n{table}", file=sys.stderr)
        return True

    def _hud_lines(self, shown) -> list[str]:
        source = self.session.source
        times = self._present_times
        display_fps = (len(times) - 1) / max(1e-9, times[-1] - times[0]) if len(times) > 1 else 0.0
        latency = f"{1000 * float(np.median(self._latencies)):.0f} ms" if self._latencies else "-"
        lines = [
            f"display {display_fps:5.1f} fps   generator {self.session.worker.fps:5.1f} fps",
            f"audio-to-photon latency {latency} (device {1000 * source.latency_s:.0f} ms)",
            f"level {self.session.feed.level_db:6.1f} dBFS   overflows {source.stats.overflows}"
            + (f"   reconnected {source.recoveries}x" if getattr(source, "recoveries", 0) else ""),
            self._tempo_line(shown.features),
            f"seed {self.session.seed}{'   FROZEN' if self.session.frozen else ''}",
        ]
        if getattr(source, "lost", False):
            lines.insert(0, f"AUDIO INPUT LOST ({source.device.name[:24]}): retrying every second")
        lines += self._listen_lines()
        lines += self._control_lines()
        if self._learning and self.session.midi is not None and self.session.midi.learned is not None:
            kind, number, channel = self.session.midi.learned
            lines.append(f"MIDI learn: {kind} {number} ch {channel}: press the key of its target")
            lines.append("Z zoom V vignette G grain U hue S speed P pulse")
            lines.append("W wander M smoothing Space N T 1-9 Left Right")
            self.message = ""  # the prompt to move a control is answered
        if self.session.worker.error:
            lines.append(f"generator: {self.session.worker.error[:48]}")
        if self.message and time.monotonic() < self._message_until:
            lines += [self.message[i:i + 52] for i in range(0, min(len(self.message), 156), 52)]
        return lines

    def _listen_lines(self) -> list[str]:
        """What the listener hears (its three strongest tags) and what it costs, in listen mode."""
        listener = self.session.listener
        if listener is None:
            return ["walk: loop"]
        _, state = listener.states.newest()
        if state is None:
            return ["listening..."]
        from visualizer.listen.tags import TAGS

        best = np.argsort(state.tags)[::-1][:3]
        rate, share = listener.load()
        return ["hears " + ", ".join(f"{TAGS[i]} {state.tags[i]:.2f}" for i in best),
                f"listener {rate:.1f} updates/s, {100 * share:.0f} % of a core"]

    def _control_lines(self) -> list[str]:
        """Scene, outside clock and the show-control transports, where there are any."""
        session, lines = self.session, []
        if session.scenes is not None:
            lines.append(f"scene {session.scene or '-'}{' (fading)' if session.fading else ''} of "
                         f"{len(session.scenes.scenes)}")
        parts = []
        if session.osc_in is not None:
            parts.append(f"OSC in :{session.osc_in.port} ({session.osc_in.received})")
        if session.osc_out is not None:
            parts.append(f"OSC out {session.osc_out.sent}")
        if session.midi is not None:
            parts.append(f"MIDI {session.midi.port_name[:20]} ({session.midi.received})")
        if parts:
            lines.append("   ".join(parts))
        return lines

    def _tempo_line(self, features) -> str:
        reading = self.session.clock_reading
        if reading is not None:
            return f"tempo {reading.bpm:5.1f} BPM from {reading.source}   bar {features.bar_index}"
        return self._tracked_tempo(features)

    @staticmethod
    def _tracked_tempo(features) -> str:
        if features.tempo_bpm <= 0:
            return "tempo -"
        bar = f"   bar {features.bar_index}" if features.bar_index >= 0 else ""
        return f"tempo {features.tempo_bpm:5.1f} BPM (confidence {features.tempo_confidence:.2f}){bar}"

    def _on_draw(self):
        now = time.monotonic()
        shown = self.session.tick(now)
        size = self.window.get_framebuffer_size()
        if self.compositor.size != self._render_size(size):
            self.compositor.release()
            self.compositor = self._compositor(size)
        self.compositor.fit = self.session.settings.effects.fit  # a reloaded settings file may change it
        shape_pictures(self.session.generator, self.compositor.fit, self.compositor.size)
        if shown.frame is not None:
            # Effects at render_scale of the window, then one fetch per window pixel (scale_filter).
            self.compositor.draw(shown.frame, shown.uniforms.as_dict(), previous=shown.previous, mix=shown.mix)
            # Sampling that picture below would wait for it inside moderngl, holding the GIL, and
            # stall the analysis thread; waiting here lets it run (onsets are reported 2-5 ms sooner).
            self.compositor.finish()
        self.ctx.screen.use()
        self.ctx.viewport = (0, 0, *size)
        if shown.frame is None:
            self.ctx.clear(0.0, 0.0, 0.0)
        else:
            self.quad.draw(self.compositor.output, (0, 0, *size), size, blend=False, flip=True)
        if shown.features.onset > 0 or shown.features.beat > 0:
            self._beat_until = now + 0.1
        lost = getattr(self.session.source, "lost", False)
        if lost != self._input_lost:
            self._input_lost = lost
            print(f"visualizer: audio input {'lost; retrying every second' if lost else 'back'}", file=sys.stderr)
            self.show_message("audio input lost: the picture runs on silence until it is back" if lost
                              else "audio input is back", 30.0 if lost else 4.0)
        if self.hud.visible:
            if now >= self._hud_next:
                self.hud.update(self._hud_lines(shown), shown.features.loudness, now < self._beat_until)
                self._hud_next = now + 0.25
            self.hud.draw(size)
        self._pending = shown

    def _after_flip(self, shown) -> None:
        presented = time.monotonic()
        self._present_times.append(presented)
        if shown.onset_capture is not None:
            self._latencies.append(presented - shown.onset_capture)
        if self._frame_log is not None:
            # The middle fifth of the picture each way: flashes and pulses show there, and a
            # small read keeps the log from slowing the display it measures.
            w, h = self.window.get_framebuffer_size()
            region = (2 * w // 5, 2 * h // 5, max(1, w // 5), max(1, h // 5))
            pixels = np.frombuffer(self.ctx.screen.read(viewport=region, components=3, alignment=1), np.uint8)
            record = {
                "presented": presented, "brightness": float(pixels.mean()),
                "flash": shown.uniforms.flash, "onset": shown.features.onset,
                "onset_capture": shown.onset_capture, "onset_found": shown.onset_found, "ticked": shown.ticked,
                "has_frame": shown.frame is not None,
                "overflows": self.session.source.stats.overflows,
                "size": [w, h], "hud": self.hud.visible, "frozen": self.session.frozen, "seed": self.session.seed,
                "zoom": shown.uniforms.zoom, "beat": shown.features.beat, "tempo": shown.features.tempo_bpm,
                "beat_at": shown.beat_at, "scene": self.session.scene, "input_lost": self._input_lost,
                "level_db": self.session.feed.level_db,
            }
            self._frame_log.write(json.dumps(record) + "\n")

    def run(self) -> None:
        """The display loop: draw, flip (vsync paces it), repeat; returns when asked to stop."""
        pyglet = self._pyglet
        # Everything loaded so far (torch, librosa, the model: ~170k objects) lives for the whole
        # show; a full garbage collection through it takes ~130 ms, a visible freeze. Frozen
        # objects are never scanned again, so the collector only sees what the show allocates.
        gc.collect()
        gc.freeze()
        self.session.start()
        try:
            while not self._stop.is_set():
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    break
                if getattr(self.session.source, "finished", False):
                    break
                pyglet.clock.tick()
                self._clear_gl_errors()
                self.window.dispatch_events()
                if self.on_idle is not None:
                    self.on_idle()
                if self._stop.is_set():
                    break
                self._pending = None
                self.window.switch_to()
                self._on_draw()
                self.window.flip()
                if self._pending is not None:
                    self._after_flip(self._pending)
        finally:
            gc.unfreeze()  # let interpreter shutdown collect them as usual
            self.session.stop()
            if self._frame_log is not None:
                self._frame_log.close()
            self.compositor.release()
            self._clear_gl_errors()
            self.window.close()
            print(self.summary(), file=sys.stderr)

    def summary(self) -> str:
        times = self._present_times
        fps = (len(times) - 1) / max(1e-9, times[-1] - times[0]) if len(times) > 1 else 0.0
        latency = f"{1000 * float(np.median(self._latencies)):.0f} ms" if self._latencies else "n/a"
        source = self.session.source
        listener = self.session.listener
        heard = ""
        if listener is not None and listener.updates:
            rate, share = listener.load()
            heard = f", listener {rate:.2f} updates/s using {100 * share:.1f} % of a core"
        return (f"live: display {fps:.1f} fps, generator {self.session.worker.fps:.1f} fps, "
                f"median audio-to-photon latency {latency}, device latency {1000 * source.latency_s:.1f} ms, "
                f"input overflows {source.stats.overflows}, window scaling {self.scale_filter}{heard}")
