"""The GLSL shaders, loaded by name: package data installed as ``visualizer.shaders``."""
