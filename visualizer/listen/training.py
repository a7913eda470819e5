"""``visualizer train-map``: a model, the bundled music corpus (plus the user's music), a map beside the model."""

from __future__ import annotations

import time
from pathlib import Path

from visualizer.listen.corpus import hear_files, load_corpus
from visualizer.listen.listener import Listener
from visualizer.listen.place import MapTrainConfig, map_path_for, save_map, train_map
from visualizer.models.io import load_generator, resolve_checkpoint


def train_model_map(model: str, *, music: list[Path], out: Path | None, cfg: MapTrainConfig, device: str = "auto",
                    log=print) -> Path:
    """Train and save the music map of ``model``; returns the map's path."""
    generator = load_generator(model, device=device)
    out = out or map_path_for(model)
    corpus = load_corpus()
    if music:
        log(f"hearing {', '.join(map(str, music))}")
        corpus = corpus + hear_files(music, Listener.bundled(), log=log)
    log(f"training a music map for {resolve_checkpoint(model).name} on {len(corpus)} windows of music")
    start = time.perf_counter()
    music_map, figures = train_map(generator, corpus, cfg, log=log)
    record = {"model": resolve_checkpoint(model).name, "windows": len(corpus), "steps": cfg.steps, "seed": cfg.seed,
              "minutes": round((time.perf_counter() - start) / 60, 1), "figures": figures,
              "saved": time.strftime("%Y-%m-%d %H:%M")}
    save_map(out, music_map, generator, record)
    return out
