"""Render speed: the generator alone, and a whole 60 s render, on this machine.

    python benchmarks/render_speed.py [--seconds 60] [--size 512] [--fps 30] [--model PATH] [--device auto]
    python benchmarks/render_speed.py --sizes 512,1920x1080,3840x2160 [--ray] [--seconds 30]
    python benchmarks/render_speed.py --memory [--minutes 3,30]

Prints one table: the generator's frames/s at its native size (batch 1 and the render
batch); the real-time factor (render wall time / audio duration) of a full render of the
synthesised demo loop with the default settings, with the time spent in each stage; the
same render with every frame generated (``render.inbetweens = 0``) and in loop mode (no listener,
which shows what listening adds), in the same run; and
how close the in-betweens come to the frames the generator would have drawn (PSNR at the
generator's size). Start-up (imports, loading the model) is timed apart, not in the factor.

``--sizes`` prints the real-time factor of the default render at each video size instead; with
``--ray`` beside it the same render as two chunks on a local two-worker Ray cluster (in a network
namespace of its own, so Ray talks over loopback only; needs root), timed end to end from the
command line. ``--memory`` prints the peak resident memory of whole renders (the command line, in
a fresh process each) of songs of the given lengths, at 256 px and 15 frames/s.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine_info import host_and_cpu

from visualizer.audio.analyzer import analyse_signal
from visualizer.audio.demo import demo_loop, write_wav
from visualizer.audio.sources import load_audio
from visualizer.engine import OfflineRenderer, frame_count, render_file, to_uint8_images
from visualizer.models.io import load_generator
from visualizer.render.inbetween import cross_fade
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


def inbetween_psnr(generator, settings: Settings, audio: Path) -> np.ndarray:
    """PSNR (dB) of every in-between frame of a render against the frame the generator would draw."""
    clip = load_audio(audio)
    track = analyse_signal(clip.mono_at(settings.analysis.sample_rate), settings.analysis)
    plan = OfflineRenderer(settings, generator).plan(track, frame_count(clip.duration_s, settings.render.fps))
    scores = []
    for a, b in zip(plan.keys[:-1].tolist(), plan.keys[1:].tolist()):
        if b - a < 2:
            continue
        noise = torch.from_numpy(plan.noise[a:b + 1]) if plan.noise is not None else None
        exact = to_uint8_images(generator(torch.from_numpy(plan.latents[a:b + 1]), noise_scale=noise))
        for k in range(1, b - a):
            blend = cross_fade(exact[0], exact[-1], k / (b - a)).astype(np.float64)
            mse = np.mean((blend - exact[k]) ** 2)
            scores.append(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))
    return np.asarray(scores)


def size_flag(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def timed_cli(argv: list[str], wrap=lambda a: a) -> float:
    """Wall seconds of a visualizer command line (``wrap``: how to run it, e.g. in a namespace)."""
    start = time.perf_counter()
    subprocess.run(wrap([sys.executable, "-m", "visualizer", *argv]), check=True, capture_output=True)
    return time.perf_counter() - start


def sizes_table(sizes: list[str], seconds: float, fps: float, ray: bool) -> None:
    """Real-time factors of the default render at each size, one machine and (``ray``) two Ray workers."""
    from visualizer.tools.ray_netns import ray_cluster

    bars = max(1, round(seconds / 2.0))
    with tempfile.TemporaryDirectory() as tmp, (ray_cluster(cpus=2) if ray else contextlib.nullcontext()) as cluster:
        audio = write_wav(Path(tmp) / "track.wav", demo_loop(bars=bars), 44100)
        duration = load_audio(audio).duration_s
        print(f"{'size':>10s} {'one machine RTF':>16s}" + (f" {'Ray 2 workers RTF':>18s}" if ray else ""))
        for size in sizes:
            common = ["--input", str(audio), "--size", size, "--fps", f"{fps:g}", "--quiet"]
            wall = timed_cli([*common, "--output", str(Path(tmp) / "one.mp4")])
            row = f"{size:>10s} {wall / duration:16.3f}"
            if cluster is not None:
                wall = timed_cli([*common, "--output", str(Path(tmp) / "ray.mp4"), "--chunks", "2",
                                     "--cpus-per-chunk", "1", "--address", cluster.address], wrap=cluster.command)
                row += f" {wall / duration:18.3f}"
            print(row, flush=True)


def memory_table(minutes: list[float]) -> None:
    """Peak resident memory of whole renders of songs ``minutes`` long, each in a fresh process."""
    print(f"{'song, min':>10s} {'peak RSS, MiB':>14s} {'wall, s':>8s}")
    for m in minutes:
        with tempfile.TemporaryDirectory() as tmp:
            audio = write_wav(Path(tmp) / "song.wav", demo_loop(bars=max(1, round(m * 30))), 44100)
            start = time.perf_counter()
            out = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "visualizer", "--input",
                                  str(audio), "--output", str(Path(tmp) / "song.mp4"), "--size", "256", "--fps", "15",
                                  "--quiet"], capture_output=True, text=True, check=True)
            peak = int(out.stderr.strip().splitlines()[-1]) // 1024
            print(f"{m:10g} {peak:14d} {time.perf_counter() - start:8.0f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the rendered track")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--model", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--sizes", type=size_flag, help="video sizes, e.g. 512,1920x1080,3840x2160: their real-time factors")
    p.add_argument("--ray", action="store_true", help="with --sizes: also on a local two-worker Ray cluster")
    p.add_argument("--memory", action="store_true", help="peak memory of whole renders of --minutes long songs")
    p.add_argument("--minutes", type=lambda t: [float(v) for v in t.split(",")], default=[3.0, 30.0])
    args = p.parse_args()
    print(f"machine: {machine()}")
    if args.sizes:
        sizes_table(args.sizes, args.seconds, args.fps, args.ray)
        return
    if args.memory:
        memory_table(args.minutes)
        return

    started = time.perf_counter()
    settings = Settings().with_overrides(render={"size": args.size, "fps": args.fps},
                                         model={"device": args.device})
    generator = load_generator(args.model, device=args.device)
    analyse_signal(np.zeros(settings.analysis.sample_rate, np.float32), settings.analysis)  # imports librosa's filters
    print(f"model: {generator.resolution}x{generator.resolution}, latent {generator.latent_dim}, "
          f"device {generator.device}")
    print(f"{'measure':48s} {'value':>10s}")
    print(f"{'start-up: imports and model load, s':48s} {time.perf_counter() - started:10.2f}")
    for batch in sorted({1, settings.render.batch}):
        fps = generator_fps(generator, batch)
        print(f"{f'generator fps, batch {batch}, {generator.resolution}px':48s} {fps:10.1f}")
        print(f"{f'generator ms/frame, batch {batch}':48s} {1000 / fps:10.2f}")

    bars = max(1, round(args.seconds / 2.0))  # 120 BPM: one 4/4 bar is 2 s
    every_frame = settings.with_overrides(render={"inbetweens": 0})
    loop = settings.with_overrides(walk={"mode": "loop"})
    factors = {}
    with tempfile.TemporaryDirectory() as tmp:
        audio = write_wav(Path(tmp) / "track.wav", demo_loop(bars=bars), 44100)
        for name, chosen in (("default", settings), ("every frame generated", every_frame),
                             ("walk.mode loop (no listener)", loop)):
            result = render_file(audio, Path(tmp) / "track.mp4", chosen, progress=False, generator=generator)
            factors[name] = result.real_time_factor
            label = f"render {result.audio_duration_s:.0f}s @ {args.size}px {args.fps:g}fps, {name}"
            print(f"{label:48s}")
            print(f"{'  real-time factor':48s} {result.real_time_factor:10.3f}")
            print(f"{'  frames/s (end to end)':48s} {result.frames / result.wall_s:10.1f}")
            print(f"{'  share of frames generated':48s} {result.generated / result.frames:10.2f}")
            for stage, seconds in result.stage_s.items():
                print(f"{'  ' + stage + ' ms/frame':48s} {1000 * seconds / result.frames:10.2f}")
        scores = inbetween_psnr(generator, settings, audio)
    print(f"{'listen mode over loop mode, render time':48s} {factors['default'] / factors['walk.mode loop (no listener)']:10.3f}")
    if len(scores):
        print(f"{'in-betweens vs generated frames, PSNR dB mean':48s} {scores.mean():10.1f}")
        print(f"{'  5th percentile / worst':48s} {np.percentile(scores, 5):5.1f} {scores.min():4.1f}")


if __name__ == "__main__":
    main()
