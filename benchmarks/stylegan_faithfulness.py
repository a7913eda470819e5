"""Our StyleGAN2 and StyleGAN3 generators against the reference code, same weights, same inputs, in one run.

    python benchmarks/stylegan_faithfulness.py --reference PATH/TO/stylegan2-ada-pytorch
                                               [--rosinality PATH/TO/stylegan2-pytorch]
                                               [--stylegan3 PATH/TO/stylegan3]

The reference is a checkout of github.com/NVlabs/stylegan2-ada-pytorch (its ``training``,
``torch_utils`` and ``dnnlib`` folders; nothing of it is in this repository). For several
small configurations it builds the reference ``Generator`` with random weights (noise
strengths and biases randomised too, so every path counts), copies its state dict into
``visualizer.models.stylegan2.StyleGAN2`` by name, and prints the largest absolute
difference of the images for ``G(z, None, truncation_psi, noise_mode='const')`` in fp32 on
the CPU, with truncation 1 and 0.7; then pickles the last one with the reference's own
persistence code and loads that file with ``load_generator`` (which runs none of it).
With ``--rosinality`` (a checkout of github.com/rosinality/stylegan2-pytorch) it does the same
for that generator: its state dict converted by ``visualizer.models.rosinality``, truncation
toward its ``mean_latent``, its stored noise. With ``--stylegan3`` (a checkout of
github.com/NVlabs/stylegan3) it compares ``visualizer.models.stylegan3`` with its
``networks_stylegan3.Generator`` in configs T and R (random weights, biases, input
transforms and magnitude EMAs), checks that both design the same low-pass filters, and
loads a pickle written by its persistence code. Acceptance: at most 1e-3.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from visualizer.models.stylegan2 import StyleGAN2, StyleGAN2Config

CONFIGS = [  # (label, init kwargs of the reference Generator)
    ("16px, 2 mapping layers", dict(z_dim=32, w_dim=32, img_resolution=16, mapping_kwargs=dict(num_layers=2),
                                    synthesis_kwargs=dict(channel_base=512, channel_max=32))),
    ("64px, clamp 256", dict(z_dim=64, w_dim=64, img_resolution=64, mapping_kwargs=dict(num_layers=8),
                             synthesis_kwargs=dict(channel_base=2048, channel_max=64, conv_clamp=256))),
    ("128px, 512-d", dict(z_dim=512, w_dim=512, img_resolution=128, mapping_kwargs=dict(num_layers=8),
                          synthesis_kwargs=dict(channel_base=4096, channel_max=128, conv_clamp=256))),
]


def randomise(module: torch.nn.Module, seed: int) -> None:
    """Non-zero noise strengths, biases and w_avg, so that no path is trivially zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("noise_strength") or (name.endswith("bias") and "affine" not in name):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
        for name, b in module.named_buffers():
            if name.endswith("w_avg"):
                b.copy_(torch.randn(b.shape, generator=gen))


def compare(label: str, reference, ours) -> float:
    """Prints the largest absolute difference of ``reference(psi)`` and ``ours(psi)`` (images) for
    truncation 1 and 0.7, one row each; returns the larger."""
    worst = 0.0
    for psi in (1.0, 0.7):
        with torch.no_grad():
            expected, got = reference(psi), ours(psi)
        diff = float((expected - got).abs().max())
        worst = max(worst, diff)
        print(f"{label:26s} {psi:5.2f} {diff:12.2e} {float(expected.abs().max()):12.3f}")
    return worst


def reference_pickle(label: str, ref: torch.nn.Module, z: torch.Tensor) -> float:
    """Pickle ``ref`` with the reference's own persistence code (as its training loop saves
    network-snapshot-*.pkl), load the file with our loader (which runs none of it) and print the
    largest absolute difference of the images at truncation 0.7; returns it."""
    import pickle
    import tempfile

    from visualizer.models.io import load_generator

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "network-snapshot-000000.pkl"
        with open(path, "wb") as fh:
            pickle.dump({"G_ema": ref.requires_grad_(False), "augment_pipe": None}, fh)
        loaded = load_generator(path, device="cpu")
        with torch.no_grad():
            diff = float((ref(z, None, truncation_psi=0.7, noise_mode="const")
                          - loaded.from_z(z, truncation=0.7, noise="const")).abs().max())
    print(f"{label:26s} {0.7:5.2f} {diff:12.2e}")
    return diff


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, type=Path, help="checkout of NVlabs/stylegan2-ada-pytorch")
    p.add_argument("--rosinality", type=Path, help="checkout of rosinality/stylegan2-pytorch")
    p.add_argument("--stylegan3", type=Path, help="checkout of NVlabs/stylegan3")
    args = p.parse_args()
    sys.path.insert(0, str(args.reference))
    from training.networks import Generator as Reference  # noqa: E402 (the reference's own module)

    print(f"StyleGAN2 faithfulness vs {args.reference} | torch {torch.__version__} | fp32, CPU, noise_mode=const")
    print(f"{'config':26s} {'psi':>5s} {'max |diff|':>12s} {'max |image|':>12s}")
    worst = 0.0
    for i, (label, kwargs) in enumerate(CONFIGS):
        torch.manual_seed(i)
        kwargs = dict(kwargs, c_dim=0, img_channels=3)
        kwargs["synthesis_kwargs"] = dict(kwargs["synthesis_kwargs"], num_fp16_res=0)
        ref = Reference(**kwargs).eval()
        randomise(ref, seed=100 + i)
        ours = StyleGAN2(StyleGAN2Config.from_nvlabs_kwargs(kwargs)).eval()
        ours.load_state_dict(ref.state_dict(), strict=True)
        z = torch.randn(4, kwargs["z_dim"], generator=torch.Generator().manual_seed(7))
        worst = max(worst, compare(label, lambda psi: ref(z, None, truncation_psi=psi, noise_mode="const"),
                                   lambda psi: ours(z, truncation=psi, noise="const")))
    worst = max(worst, reference_pickle("reference-written pickle", ref, z))
    if args.rosinality:
        worst = max(worst, check_rosinality(args.rosinality))
    if args.stylegan3:
        worst = max(worst, check_stylegan3(args.stylegan3))
    print(f"worst: {worst:.2e} ({'within' if worst <= 1e-3 else 'OVER'} the 1e-3 target)")


def check_rosinality(path: Path) -> float:
    import types

    import torch.utils.cpp_extension

    # Their op/ modules build CUDA kernels at import; on the CPU their code uses none of them.
    torch.utils.cpp_extension.load = lambda *a, **k: types.SimpleNamespace()
    sys.path.insert(0, str(path))
    from model import Generator as Rosinality  # noqa: E402 (the reference's own module)

    from visualizer.models.rosinality import config_from_state, our_state

    worst = 0.0
    for size, dim, n_mlp, multiplier in ((16, 32, 2, 1), (64, 64, 4, 2), (128, 128, 8, 1)):
        torch.manual_seed(size)
        ref = Rosinality(size, dim, n_mlp, channel_multiplier=multiplier).eval()
        with torch.no_grad():
            for name, p in ref.named_parameters():
                if name.endswith(("noise.weight", "activate.bias")) or (name.endswith(".bias") and "to_rgb" in name):
                    p.copy_(0.3 * torch.randn(p.shape))
        state = ref.state_dict()
        cfg = config_from_state(state)
        ours = StyleGAN2(cfg).eval()
        mine = our_state(state, cfg)
        mine.update({k: v for k, v in ours.state_dict().items() if k.endswith("resample_filter")})
        mine["mapping.w_avg"] = ref.mean_latent(256).detach()[0]
        ours.load_state_dict(mine, strict=True)
        z = torch.randn(3, dim, generator=torch.Generator().manual_seed(7))
        latent_avg = mine["mapping.w_avg"][None]
        worst = max(worst, compare(f"rosinality {size}px x{multiplier}",
                                   lambda psi: ref([z], truncation=psi, truncation_latent=latent_avg,
                                                   randomize_noise=False)[0],
                                   lambda psi: ours(z, truncation=psi)))
    return worst


STYLEGAN3_CONFIGS = [  # (label, init kwargs of the reference Generator)
    ("SG3-T 32px, 6 layers", dict(z_dim=32, w_dim=32, img_resolution=32, channel_base=1024, channel_max=32,
                                  num_layers=6, margin_size=4)),
    ("SG3-R 32px, 6 layers", dict(z_dim=32, w_dim=32, img_resolution=32, channel_base=2048, channel_max=64,
                                  num_layers=6, margin_size=4, conv_kernel=1, use_radial_filters=True)),
    ("SG3-T 128px, 14 layers", dict(z_dim=64, w_dim=64, img_resolution=128, channel_base=2048, channel_max=64)),
    ("SG3-R 128px, 14 layers", dict(z_dim=64, w_dim=64, img_resolution=128, channel_base=4096, channel_max=128,
                                    conv_kernel=1, use_radial_filters=True, mapping_kwargs=dict(num_layers=2))),
]


def check_stylegan3(path: Path) -> float:
    import types

    from visualizer.models.stylegan3 import StyleGAN3, StyleGAN3Config

    for name in [m for m in sys.modules if m.split(".")[0] in ("training", "torch_utils", "dnnlib")]:
        del sys.modules[name]  # the stylegan2-ada-pytorch checkout uses the same package names
    try:
        import pkg_resources  # noqa: F401 (its conv2d_gradfix imports it; new setuptools dropped it)
    except ImportError:
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)
    sys.path.insert(0, str(path))
    from training.networks_stylegan3 import Generator as Reference  # noqa: E402 (the reference's own module)

    worst = 0.0
    for i, (label, kwargs) in enumerate(STYLEGAN3_CONFIGS):
        torch.manual_seed(i)
        kwargs = dict(kwargs, c_dim=0, img_channels=3, num_fp16_res=0)
        ref = Reference(**kwargs).eval()
        fresh = StyleGAN3(StyleGAN3Config.from_nvlabs_kwargs(kwargs))
        filters = max(float((a - ref.state_dict()[k]).abs().max()) for k, a in fresh.state_dict().items()
                      if k.endswith("_filter"))
        gen = torch.Generator().manual_seed(100 + i)
        with torch.no_grad():
            for name, p in ref.named_parameters():
                if (name.endswith("bias") and "affine" not in name) or name == "synthesis.input.affine.weight":
                    p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            for name, b in ref.named_buffers():
                if name.endswith("w_avg"):
                    b.copy_(torch.randn(b.shape, generator=gen))
                if name.endswith("magnitude_ema"):
                    b.copy_(0.5 + torch.rand(b.shape, generator=gen))
        ours = StyleGAN3(StyleGAN3Config.from_nvlabs_kwargs(kwargs)).eval()
        ours.load_state_dict(ref.state_dict(), strict=True)
        z = torch.randn(4, kwargs["z_dim"], generator=torch.Generator().manual_seed(7))
        worst = max(worst, compare(label, lambda psi: ref(z, None, truncation_psi=psi, noise_mode="const"),
                                   lambda psi: ours(z, truncation=psi)))
        print(f"{label + ', filter design':26s} {'':5s} {filters:12.2e}")
        worst = max(worst, filters)
    return max(worst, reference_pickle("reference-written SG3 pickle", ref, z))


if __name__ == "__main__":
    main()
