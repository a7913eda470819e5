"""Checks both StyleGAN families share: synthesis in reduced precision against fp32 on the CPU, and
a video rendered through the command line with a model file."""

import subprocess
import sys

import numpy as np
import torch

from visualizer.models.stylegan2 import StyleGANGenerator


def reduced_precision_error(net: torch.nn.Module, precision: str) -> float:
    """Relative RMS difference of ``net``'s pictures with its synthesis in ``precision`` ("fp16" or
    "bf16") from the fp32 ones; asserts that "auto" means fp32 on the CPU and that the pictures
    come back as float32 either way."""
    g = StyleGANGenerator(net, device=torch.device("cpu"))
    z = torch.randn(4, net.cfg.z_dim)
    assert g.synthesis_dtype == torch.float32  # "auto" on the CPU; fp16 on CUDA
    expected = g.from_z(z, truncation=0.7)
    g.precision = precision
    got = g.from_z(z, truncation=0.7)
    assert got.dtype == torch.float32
    return float((got - expected).square().mean().sqrt() / expected.square().mean().sqrt())


def render_with_model(model_path, settings_toml: str, tmp_path) -> list[np.ndarray]:
    """Render one bar of the demo loop at 64 px, 10 fps with ``--model model_path`` and a settings file
    holding ``settings_toml``, as a user would from the command line; the decoded RGB frames."""
    import av

    from visualizer.audio.demo import demo_loop, write_wav

    song = write_wav(tmp_path / "song.wav", demo_loop(sample_rate=22050, bars=1), 22050)
    out = tmp_path / "out.mp4"
    show = tmp_path / "show.toml"
    show.write_text(settings_toml)
    proc = subprocess.run([sys.executable, "-m", "visualizer", "--input", song, "--output", out, "--model",
                           model_path, "--settings", show, "--size", "64", "--fps", "10", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
