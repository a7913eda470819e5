"""What each fill mode costs at video sizes, and how it looks.

    python benchmarks/frame_fill.py [--repeats 20] [--figure docs/fit-modes.jpg]

Times the compositor (post.frag with the video's bicubic upscale, then the read-back the encoder
needs) drawing one 256 px frame of the bundled default model into 1920x1080, 1080x1920 and
3840x2160 outputs in each `effects.fit` mode, on the OpenGL this machine has (Mesa llvmpipe on a
machine without a GPU). Prints ms per frame. --figure writes one frame in each mode at 16:9, and
cover at 9:16, beside the generator's own square.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from machine_info import host_and_cpu

from visualizer.engine import to_uint8_images
from visualizer.mapping.mapper import Uniforms
from visualizer.models import load_generator
from visualizer.render.compositor import Compositor
from visualizer.settings import FITS

SIZES = ((1920, 1080), (1080, 1920), (3840, 2160))


def uniforms() -> dict:
    return Uniforms(time_s=0.0, flash=0.0, zoom=1.0, warp=0.3, hue=0.0, vignette=0.25, grain=0.0,
                    flash_color=(1.0, 1.0, 1.0)).as_dict()


def figure(frame: np.ndarray, path: Path) -> None:
    from PIL import Image, ImageDraw

    wide = Compositor((480, 270))
    tall = Compositor((152, 270), ctx=wide.ctx)  # one OpenGL context per process
    tiles = []
    for fit in FITS:
        wide.fit = fit
        wide.draw(frame, uniforms())
        tiles.append((Image.fromarray(wide.read().copy()), f"16:9 {fit}"))
    tall.draw(frame, uniforms())
    tiles.append((Image.fromarray(tall.read().copy()), "9:16 cover"))
    tiles.append((Image.fromarray(frame).resize((240, 240)), "the generator's square"))
    sheet = Image.new("RGB", (480 * 2 + 152 + 12, 270 * 2 + 4), (20, 20, 20))
    for (img, label), place in zip(tiles, ((0, 0), (484, 0), (0, 274), (968, 0), (604, 289))):
        ImageDraw.Draw(img).text((8, 6), label, fill=(255, 255, 255))
        sheet.paste(img, place)
    sheet.save(path, quality=88)
    for c in (tall, wide):
        c.release()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--figure", type=Path)
    args = p.parse_args()
    generator = load_generator(None, device="cpu")
    frame = to_uint8_images(generator(generator.sample_latents(1, seed=5)))[0]
    if args.figure:
        figure(frame, args.figure)
    comp = Compositor(SIZES[0])
    print(f"frame fill | {host_and_cpu()} | {comp.ctx.info.get('GL_RENDERER', '?')} | {time.strftime('%Y-%m-%d')}")
    print(f"{'output':>10s} " + " ".join(f"{fit:>10s}" for fit in FITS) + "   (ms per frame: shade + read back)")
    for size in SIZES:
        if comp.size != size:
            comp.release()
            comp = Compositor(size, ctx=comp.ctx)
        row = []
        for fit in FITS:
            comp.fit = fit
            comp.draw(frame, uniforms())
            comp.read()  # compile and warm up
            start = time.perf_counter()
            for k in range(args.repeats):
                # A new frame each time (as in a render), so the upload and mip levels are paid too.
                comp.draw(frame.copy(), dict(uniforms(), u_time=k / 30))
                comp.read()
            row.append(1000 * (time.perf_counter() - start) / args.repeats)
        print(f"{size[0]:>5d}x{size[1]:<4d} " + " ".join(f"{ms:10.1f}" for ms in row))
    comp.release()


if __name__ == "__main__":
    main()
