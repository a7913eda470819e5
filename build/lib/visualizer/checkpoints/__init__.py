"""The bundled weights (models, their music maps, the listener, its corpus): package data installed as
``visualizer.checkpoints``; model cards in README.md here."""
