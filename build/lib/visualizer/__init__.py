"""Audio-reactive music visualizer driven by neural image generators."""

__version__ = "0.1.0"
