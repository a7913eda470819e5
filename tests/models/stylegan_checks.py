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


def render_with_model(model_path, settings_toml: str, tmp_path, size: str = "64") -> list[np.ndarray]:
    """Render one bar of the demo loop at ``size`` (64 px), 10 fps with ``--model model_path`` and a settings
    file holding ``settings_toml``, as a user would from the command line; the decoded RGB frames."""
    import av

    from visualizer.audio.demo import demo_loop, write_wav

    song = write_wav(tmp_path / "song.wav", demo_loop(sample_rate=22050, bars=1), 22050)
    out = tmp_path / "out.mp4"
    show = tmp_path / "show.toml"
    show.write_text(settings_toml)
    proc = subprocess.run([sys.executable, "-m", "visualizer", "--input", song, "--output", out, "--model",
                           model_path, "--settings", show, "--size", size, "--fps", "10", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def check_wide_pictures(net: torch.nn.Module, step: int, middle_corr: float) -> None:
    """A network asked for 16:9, 9:16 and 2:1 pictures draws them in whole ``step``s, the square
    picture in the middle (correlation over its inner half at least ``middle_corr``), and new
    content, not a mirror image, at the sides."""
    g = StyleGANGenerator(net, device=torch.device("cpu"))
    res = g.resolution
    z = g.sample_latents(4, seed=1)
    square = g(z)
    assert g.draw_aspect(16 / 9) == (res + round(7 / 9 * res / step) * step, res)
    assert g.draw_aspect(9 / 16) == (res, res + round(7 / 9 * res / step) * step)
    width, height = g.draw_aspect(2.0)
    wide = g(z)
    assert (width, height) == (2 * res, res) and wide.shape == (4, 3, res, 2 * res)
    side = res // 2
    middle = wide[..., side:side + res]
    q = slice(res // 4, 3 * res // 4)
    corr = np.corrcoef(middle[..., q, q].flatten(), square[..., q, q].flatten())[0, 1]
    assert corr > middle_corr, corr
    mirrored = torch.flip(wide[..., side:2 * side], [-1])
    assert (wide[..., :side] - mirrored).abs().mean() > 0.2 * wide.std()
    g.draw_aspect(1.0)
    torch.testing.assert_close(g(z), square)
