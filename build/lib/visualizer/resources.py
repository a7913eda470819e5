"""Where the package's data lives: the shaders and the bundled weights.

In the source tree they are the top-level ``shaders/`` and ``checkpoints/`` folders; the build
installs them as the packages ``visualizer.shaders`` and ``visualizer.checkpoints`` (pyproject.toml),
so an installed wheel finds them through ``importlib.resources`` wherever it lives.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]


def data_dir(name: str) -> Path:
    """The folder of package data ``name`` ("shaders" or "checkpoints")."""
    try:
        return Path(str(resources.files(f"visualizer.{name}")))
    except ModuleNotFoundError:  # a source tree used without installing it
        return SOURCE_ROOT / name
