"""StyleGAN generator speed: frames/s and ms/frame, end to end into host memory.

    python benchmarks/generator_speed.py [--family stylegan2|stylegan3-t|stylegan3-r] [--device cpu|cuda]
                                         [--sizes 256 512 1024] [--batches 1 8]

Random weights in the shapes of the NVlabs configs: StyleGAN2 with z = w = 512, 8 mapping
layers, channel_base 16384 at 256 px as in stylegan2-ada's "paper256", 32768 at 512 and
1024 px as in config F; StyleGAN3 T (channel base 32768, max 512) and R (1x1 convolutions,
radial filters, twice the channels) with 2 mapping layers, as its train.py builds them.
Truncation 0.7, constant noise. A frame counts once its uint8 RGB pixels are in host memory.
Prints one table with the machine.
"""

from __future__ import annotations

import argparse
import time
import torch
from machine_info import cpu_name

from visualizer.models.stylegan2 import StyleGAN2, StyleGAN2Config, StyleGANGenerator
from visualizer.models.stylegan3 import StyleGAN3, StyleGAN3Config

CHANNEL_BASE = {256: 16384, 512: 32768, 1024: 32768}


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()}, {torch.get_num_threads()} threads"


def frames_per_second(gen: StyleGANGenerator, batch: int, min_seconds: float, min_runs: int) -> float:
    z = gen.sample_latents(batch, seed=0)

    def once() -> None:
        images = gen.from_z(z, truncation=0.7)
        ((images.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).permute(0, 2, 3, 1).cpu()  # into host memory

    once()  # warm-up (allocations, kernels)
    runs, start = 0, time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < min_seconds:
        once()
        runs += 1
    return runs * batch / (time.perf_counter() - start)


def network(family: str, size: int) -> torch.nn.Module:
    if family == "stylegan2":
        return StyleGAN2(StyleGAN2Config(img_resolution=size, channel_base=CHANNEL_BASE.get(size, 32768),
                                         conv_clamp=256.0))
    if family == "stylegan3-t":
        return StyleGAN3(StyleGAN3Config(img_resolution=size))
    return StyleGAN3(StyleGAN3Config(img_resolution=size, conv_kernel=1, use_radial_filters=True,
                                     channel_base=65536, channel_max=1024))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--family", default="stylegan2", choices=["stylegan2", "stylegan3-t", "stylegan3-r"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--seconds", type=float, default=3.0, help="measure each case at least this long")
    args = p.parse_args()
    device = torch.device(args.device)
    print(f"{args.family} generator speed | {machine(device)} | torch {torch.__version__} | fp32")
    print(f"{'size':>6s} {'batch':>6s} {'frames/s':>10s} {'ms/frame':>10s}")
    for size in args.sizes:
        torch.manual_seed(0)
        gen = StyleGANGenerator(network(args.family, size), device=device)
        for batch in args.batches:
            fps = frames_per_second(gen, batch, args.seconds, min_runs=2)
            print(f"{size:6d} {batch:6d} {fps:10.2f} {1000.0 / fps:10.1f}", flush=True)


if __name__ == "__main__":
    main()
