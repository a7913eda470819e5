"""The Compositor: a generated frame through the GLSL post-effects in ``shaders/``.

The same object draws into a window's framebuffer (live) or into an offscreen one whose
pixels are read back for the video (offline), so both show the same picture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visualizer.errors import UserError

SHADER_DIR = Path(__file__).resolve().parents[2] / "shaders"


class GraphicsError(UserError):
    """No usable OpenGL: missing libraries, no display, or a shader that does not compile."""


def load_shader(name: str, shader_dir: Path = SHADER_DIR) -> str:
    """The source of ``shaders/<name>``."""
    path = shader_dir / name
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        raise GraphicsError(f"shader {path} is missing; reinstall the package") from None


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
    """Draws frames (uint8 [H, W, 3], top row first) through ``post.frag`` at ``size`` (w, h) pixels."""

    def __init__(self, size: tuple[int, int], *, ctx=None, fragment: str = "post.frag") -> None:
        import moderngl

        self.ctx = ctx if ctx is not None else create_headless_context()
        self.size = size
        try:
            self.program = self.ctx.program(vertex_shader=load_shader("fullscreen.vert"),
                                            fragment_shader=load_shader(fragment))
        except moderngl.Error as exc:
            raise GraphicsError(f"shader {fragment} failed to compile: {str(exc).strip()[:300]}") from None
        quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype="f4")
        self._vbo = self.ctx.buffer(quad.tobytes())
        self._vao = self.ctx.vertex_array(self.program, [(self._vbo, "2f", "in_position")])
        self._texture = None
        self._fbo = self.ctx.simple_framebuffer(size, components=4)

    def _upload(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if self._texture is None or self._texture.size != (w, h):
            if self._texture is not None:
                self._texture.release()
            self._texture = self.ctx.texture((w, h), 3, dtype="f1")
        self._texture.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes(), alignment=1)

    def draw(self, frame: np.ndarray, uniforms: dict, target=None) -> None:
        """Render ``frame`` with shader ``uniforms`` (name -> value) into ``target`` (default: offscreen)."""
        self._upload(frame)
        target = target if target is not None else self._fbo
        target.use()
        self._texture.use(0)
        values = dict(uniforms, u_frame=0, u_frame_size=(float(frame.shape[1]), float(frame.shape[0])))
        for name, value in values.items():
            if name in self.program:
                self.program[name].value = value
        self._vao.render(mode=self.ctx.TRIANGLE_STRIP)

    def read(self) -> np.ndarray:
        """The offscreen target's pixels as uint8 [H, W, 3], top row first."""
        data = self._fbo.read(components=3, alignment=1)
        w, h = self.size
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1]

    def release(self) -> None:
        for obj in (self._texture, self._vao, self._vbo, self._fbo, self.program):
            if obj is not None:
                obj.release()
