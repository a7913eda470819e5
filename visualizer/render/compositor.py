"""The Compositor: a generated frame through the GLSL post-effects in ``shaders/``.

It always draws into its own offscreen texture, ``output``: the video reads its pixels
back (offline), the window scales it onto the screen (live), so both show the same picture.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Callable

import numpy as np

from visualizer.errors import UserError
from visualizer.resources import data_dir
from visualizer.settings import FITS

SHADER_DIR = data_dir("shaders")


class GraphicsError(UserError):
    """No usable OpenGL: missing libraries, no display, or a shader that does not compile."""


def load_shader(name: str, shader_dir: Path = SHADER_DIR, defines: dict[str, int] | None = None) -> str:
    """The source of ``shaders/<name>``, with ``#define NAME value`` lines after its ``#version`` line."""
    path = shader_dir / name
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        raise GraphicsError(f"shader {path} is missing; reinstall the package") from None
    if not defines:
        return source
    version, _, rest = source.partition("\n")
    lines = "".join(f"#define {key} {int(value)}\n" for key, value in defines.items())
    return f"{version}\n{lines}{rest}"


def gil_free_finish() -> Callable[[], None]:
    """``glFinish`` for the current context, called through ctypes, which lets go of Python's GIL
    while the call waits. moderngl holds the GIL in every call, so a read-back that has to wait
    for the software rasteriser would otherwise stall the generator and encoder threads with it.
    A no-op where no GL library can be loaded (the read-back then simply waits itself)."""
    for name in ("libOpenGL.so.0", "libGL.so.1"):
        try:
            return ctypes.CDLL(name).glFinish
        except (OSError, AttributeError):
            continue
    return lambda: None


def create_headless_context():
    """A standalone OpenGL 3.3 context through EGL (no display needed)."""
    import moderngl

    try:
        return moderngl.create_context(standalone=True, backend="egl", require=330)
    except Exception as exc:  # moderngl/glcontext raise plain Exception subclasses here
        raise GraphicsError(
            f"cannot create a headless OpenGL context ({str(exc).splitlines()[0][:120]}); "
            "install Mesa's EGL: apt-get install libegl1 libgl1-mesa-dri"
        ) from None


class Compositor:
    """Draws frames (uint8 [H, W, 3], top row first) through ``post.frag`` at ``size`` (w, h) pixels.

    ``bicubic`` upscales the frame with a 16-tap Catmull-Rom filter (videos); without it the
    GPU's bilinear filter does it in one tap (the live window, where every millisecond counts).
    The shader is compiled in variants, with and without the cross-fade and the film grain
    (each on first use), so a frame pays only for the effects it shows: a frame drawn
    without ``previous`` samples one picture, not two, and one with no grain skips the noise.

    ``fit`` (one of ``FITS``: cover, mirror, zoom-blur, wide) says how a frame fills an output of
    another shape; it may change between draws (a reloaded settings file). Frames need not be
    square: "wide" is cover of a frame that the generator drew in about the output's shape.
    """

    def __init__(self, size: tuple[int, int], *, ctx=None, fragment: str = "post.frag",
                 bicubic: bool = True, fit: str = "cover") -> None:
        self.ctx = ctx if ctx is not None else create_headless_context()
        self.size = size
        self.bicubic = bicubic
        self._fit = FITS.index(fit)
        self._fragment = fragment
        quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype="f4")
        self._vbo = self.ctx.buffer(quad.tobytes())
        self._programs: dict[tuple[bool, bool, int], tuple] = {}  # (blend, grain, fit) -> (program, vertex array)
        self._program(blend=False, grain=False)  # compile errors surface here, not at the first frame
        # Two textures: the newest frame and the one before, swapped rather than copied.
        self._textures: list = [None, None]
        self._uploaded: list = [None, None]  # which frame object each texture holds
        self.output = self.ctx.texture(size, 4)  # the offscreen picture, also usable as a texture
        self._fbo = self.ctx.framebuffer(color_attachments=[self.output])
        self._finish = gil_free_finish()

    @property
    def fit(self) -> str:
        return FITS[self._fit]

    @fit.setter
    def fit(self, value: str) -> None:
        if FITS.index(value) != self._fit:
            self._fit = FITS.index(value)
            self._uploaded = [None, None]  # zoom-blur needs the frames' mip levels: upload them again

    def _program(self, blend: bool, grain: bool) -> tuple:
        import moderngl

        # "wide" is cover of a picture that the generator drew in about the output's shape.
        fit = FITS.index("cover") if FITS[self._fit] == "wide" else self._fit
        key = blend, grain, fit
        if key not in self._programs:
            defines = {"BICUBIC": self.bicubic, "BLEND": blend, "GRAIN": grain, "FIT": fit}
            try:
                program = self.ctx.program(vertex_shader=load_shader("fullscreen.vert"),
                                           fragment_shader=load_shader(self._fragment, defines=defines))
            except moderngl.Error as exc:
                raise GraphicsError(f"shader {self._fragment} failed to compile: {str(exc).strip()[:300]}") from None
            self._programs[key] = program, self.ctx.vertex_array(program, [(self._vbo, "2f", "in_position")])
        return self._programs[key]

    def _texture_for(self, frame: np.ndarray, avoid: int | None = None) -> int:
        """Index of a texture holding ``frame``, uploading it unless it is already there."""
        for i, held in enumerate(self._uploaded):
            if held is frame:
                return i
        i = 1 - avoid if avoid is not None else 0
        h, w = frame.shape[:2]
        tex = self._textures[i]
        if tex is None or tex.size != (w, h):
            if tex is not None:
                tex.release()
            tex = self._textures[i] = self.ctx.texture((w, h), 3, dtype="f1")
            tex.repeat_x = tex.repeat_y = False  # bilinear taps at an edge must not wrap around
        tex.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes(), alignment=1)
        if self.fit == "zoom-blur":
            tex.build_mipmaps()  # the blurred backdrop reads the small levels
        self._uploaded[i] = frame
        return i

    def draw(self, frame: np.ndarray, uniforms: dict, *, previous: np.ndarray | None = None,
             mix: float = 1.0) -> None:
        """Render ``frame`` with shader ``uniforms`` (name -> value) into ``output``.

        With ``previous`` and ``mix`` < 1 the picture is a cross-fade from ``previous`` to ``frame``.
        Passing the same array objects again skips their upload.
        """
        blend = previous is not None and mix < 1.0 and previous.shape == frame.shape
        keep = next((i for i, held in enumerate(self._uploaded) if blend and held is previous), None)
        current = self._texture_for(frame, avoid=keep)
        older = self._texture_for(previous, avoid=current) if blend else current
        program, vao = self._program(blend, grain=uniforms.get("u_grain", 0.0) > 0.0)
        self._fbo.use()
        self._textures[current].use(0)
        self._textures[older].use(1)
        values = dict(uniforms, u_frame=0, u_prev=1, u_mix=float(mix) if blend else 1.0,
                      u_frame_size=(float(frame.shape[1]), float(frame.shape[0])),
                      u_aspect=self.size[0] / self.size[1])
        for name, value in values.items():
            if name in program:
                program[name].value = value
        vao.render(mode=self.ctx.TRIANGLE_STRIP)

    def finish(self) -> None:
        """Wait until everything drawn so far is done, letting other Python threads run meanwhile."""
        self._finish()

    def read(self) -> np.ndarray:
        """The offscreen target's pixels as uint8 [H, W, 3], top row first."""
        self.finish()  # the wait for the drawing, without the GIL; the read below only copies
        data = self._fbo.read(components=3, alignment=1)
        w, h = self.size
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1]

    def release(self) -> None:
        programs = [obj for program, vao in self._programs.values() for obj in (vao, program)]
        for obj in (*self._textures, *programs, self._vbo, self._fbo, self.output):
            if obj is not None:
                obj.release()
