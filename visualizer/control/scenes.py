"""Scenes: a folder of settings files (``--scenes DIR``), switched by keys 1-9, MIDI or OSC.

Every file is validated when the show starts and again whenever it changes; a file that turns
bad or disappears mid-show keeps its last good version, so a scene can always be switched to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from visualizer.errors import UserError
from visualizer.settings import Settings, load_settings


class SceneError(UserError):
    """A scene folder that is missing or empty, a bad scene file at start, or an unknown scene."""


@dataclass
class Scene:
    name: str        # the file's name without .toml
    path: Path
    settings: Settings
    mtime: int | None  # ns


class SceneBook:
    """The scenes of one folder, in name order (key 1 is the first)."""

    def __init__(self, folder: str | Path, poll_s: float = 0.5) -> None:
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise SceneError(f"scene folder not found: {self.folder}; give --scenes a folder of settings files "
                             "(write one with 'visualizer --print-settings > DIR/NAME.toml')")
        self.poll_s = poll_s
        self._next_poll = 0.0
        self.scenes: list[Scene] = []
        self._refused: dict[Path, int | None] = {}
        for path in sorted(self.folder.glob("*.toml")):
            # At start a bad file is a mistake to fix before the show, said in one line.
            try:
                settings = load_settings(path)
            except UserError as exc:
                raise SceneError(f"scene file {path}: {exc}") from None
            self.scenes.append(Scene(path.stem, path, settings, _mtime(path)))
        if not self.scenes:
            raise SceneError(f"no scene files (*.toml) in {self.folder}; write one with "
                             f"'visualizer --print-settings > {self.folder}/NAME.toml'")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scenes]

    def find(self, which) -> Scene:
        """A scene by name, or by number counting from 1 (an int, or a string of digits)."""
        if isinstance(which, float) and which.is_integer():
            which = int(which)
        if isinstance(which, str) and which.isdigit():
            which = int(which)
        if isinstance(which, int):
            if 1 <= which <= len(self.scenes):
                return self.scenes[which - 1]
            raise SceneError(f"there is no scene {which}; scenes are 1..{len(self.scenes)} ({', '.join(self.names)})")
        for scene in self.scenes:
            if scene.name == which:
                return scene
        raise SceneError(f"unknown scene {which!r}; scenes: {', '.join(self.names)}")

    def neighbour(self, name: str | None, step: int) -> Scene:
        """The scene ``step`` places after ``name`` (wrapping round; the first when there is no current one)."""
        names = self.names
        i = names.index(name) + step if name in names else 0 if step > 0 else -1
        return self.scenes[i % len(self.scenes)]

    def poll(self, now: float) -> tuple[list[str], list[Scene]]:
        """Look for changed files (at most every ``poll_s``): (messages for the HUD, scenes that changed and are
        good). A bad or deleted file keeps its last good settings; a new file joins the book."""
        if now < self._next_poll:
            return [], []
        self._next_poll = now + self.poll_s
        messages, changed = [], []
        for scene in self.scenes:
            mtime = _mtime(scene.path)
            if mtime == scene.mtime:
                continue
            scene.mtime = mtime
            if mtime is None:
                messages.append(f"scene file {scene.path.name} was removed; keeping its last good settings")
                continue
            try:
                scene.settings = load_settings(scene.path)
            except UserError as exc:
                messages.append(f"scene {scene.name}: {exc}; keeping its last good settings")
                continue
            changed.append(scene)
        known = {s.path for s in self.scenes}
        for path in sorted(self.folder.glob("*.toml")):
            if path not in known and self._refused.get(path) != _mtime(path):
                self._refused[path] = _mtime(path)  # said once per version of the file
                try:
                    self.scenes.append(Scene(path.stem, path, load_settings(path), _mtime(path)))
                    self.scenes.sort(key=lambda s: s.name)
                    messages.append(f"new scene {path.stem}")
                except UserError as exc:
                    messages.append(f"new scene {path.stem}: {exc}")
        return messages, changed


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
