"""Image generators: the Generator protocol, model families and their loaders."""

from visualizer.models.base import CheckpointError, Generator
from visualizer.models.io import DEFAULT_CHECKPOINT, load_generator

__all__ = ["CheckpointError", "DEFAULT_CHECKPOINT", "Generator", "load_generator"]
