"""A check both StyleGAN families share: synthesis in reduced precision against fp32, on the CPU."""

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
