"""Render speed: the generator alone, and a whole 60 s render, on this machine.

    python benchmarks/render_speed.py [--seconds 60] [--size 512] [--fps 30] [--model PATH] [--device auto]

Prints one table: the generator's frames/s at its native size (batch 1 and the render
batch), then the real-time factor (render wall time / audio duration) of a full render
of the synthesised demo loop, with the time spent in each stage.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from machine_info import host_and_cpu

from visualizer.audio.demo import demo_loop, write_wav
from visualizer.engine import render_file
from visualizer.models.io import load_generator
from visualizer.settings import Settings


def machine() -> str:
    return f"{host_and_cpu()} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def generator_fps(generator, batch: int, seconds: float = 5.0) -> float:
    z = generator.sample_latents(batch, seed=0)
    for _ in range(3):
        generator(z)
    if generator.device.type == "cuda":
        torch.cuda.synchronize()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        images = generator(z)
        images.cpu()  # frames must reach host memory to be of use
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the rendered track")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--model", default=None)
    p.add_argument("--device", default="auto")
    args = p.parse_args()

    settings = Settings().with_overrides(render={"size": args.size, "fps": args.fps},
                                         model={"device": args.device})
    generator = load_generator(args.model, device=args.device)
    print(f"machine: {machine()}")
    print(f"model: {generator.resolution}x{generator.resolution}, latent {generator.latent_dim}, "
          f"device {generator.device}")
    print(f"{'measure':44s} {'value':>10s}")
    for batch in sorted({1, settings.render.batch}):
        fps = generator_fps(generator, batch)
        print(f"{f'generator fps, batch {batch}, {generator.resolution}px':44s} {fps:10.1f}")
        print(f"{f'generator ms/frame, batch {batch}':44s} {1000 / fps:10.2f}")

    bars = max(1, round(args.seconds / 2.0))  # 120 BPM: one 4/4 bar is 2 s
    with tempfile.TemporaryDirectory() as tmp:
        audio = write_wav(Path(tmp) / "track.wav", demo_loop(bars=bars), 44100)
        result = render_file(audio, Path(tmp) / "track.mp4", settings, progress=False, generator=generator)
    label = f"render {result.audio_duration_s:.0f}s @ {args.size}px {args.fps:g}fps"
    print(f"{label + ', real-time factor':44s} {result.real_time_factor:10.3f}")
    print(f"{'render frames/s (end to end)':44s} {result.frames / result.wall_s:10.1f}")
    for stage, seconds in result.stage_s.items():
        print(f"{'  ' + stage + ' ms/frame':44s} {1000 * seconds / result.frames:10.2f}")


if __name__ == "__main__":
    main()
