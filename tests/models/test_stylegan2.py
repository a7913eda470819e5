"""Our StyleGAN2 generator: loads NVlabs pickles (as data) and our own format, identical outputs."""

import subprocess
import sys

import pytest
import torch

from tests.models.nvlabs_format import as_persistent, write_network_pickle
from tests.models.stylegan_checks import check_wide_pictures, reduced_precision_error, render_with_model
from visualizer.models.base import CheckpointError, Generator
from visualizer.models.io import load_generator, save_stylegan
from visualizer.models.stylegan2 import StyleGAN2, StyleGAN2Config, StyleGANGenerator

TINY = StyleGAN2Config(img_resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16,
                       conv_clamp=256.0)
NVLABS_KWARGS = {"z_dim": 16, "c_dim": 0, "w_dim": 16, "img_resolution": 16, "img_channels": 3,
                 "mapping_kwargs": {"num_layers": 2}, "synthesis_kwargs": {"channel_base": 128, "channel_max": 16,
                                                                           "num_fp16_res": 0, "conv_clamp": 256}}


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = StyleGAN2(TINY).eval()
    with torch.no_grad():  # nothing left at its zero initialisation, so every path shows
        for name, p in model.named_parameters():
            if name.endswith(("noise_strength", "conv0.bias", "conv1.bias", "torgb.bias")):
                p.copy_(0.3 * torch.randn(p.shape))
        model.mapping.w_avg.copy_(torch.randn(TINY.w_dim))
    return model


@pytest.fixture(scope="module")
def nvlabs_pickle(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("sg2") / "network-snapshot-000100.pkl"
    write_network_pickle(path, {"G": None, "D": None, "G_ema": as_persistent(net, NVLABS_KWARGS, "Generator"),
                                "training_set_kwargs": {"resolution": 16}})
    return path


def test_shapes_and_layer_count(net):
    assert net.num_ws == 1 + 2 + 2 + 1  # 4px: 1 conv; 8 and 16px: 2 each; the last toRGB
    ws = net.mapping(torch.randn(3, 16))
    assert ws.shape == (3, net.num_ws, 16)
    assert net.synthesis(ws).shape == (3, 3, 16, 16)
    assert net.synthesis.layer_ranges() == {4: (0, 2), 8: (1, 4), 16: (3, 6)}


def test_an_nvlabs_pickle_loads_with_identical_outputs(net, nvlabs_pickle, tmp_path):
    g = load_generator(nvlabs_pickle, device="cpu")
    assert isinstance(g, StyleGANGenerator) and isinstance(g, Generator)
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
    for psi in (1.0, 0.7):
        with torch.no_grad():
            torch.testing.assert_close(g.from_z(z, truncation=psi, noise="const"), net(z, truncation=psi), rtol=0,
                                       atol=0)
    assert g.resolution == 16 and g.latent_dim == 16
    images = g(g.sample_latents(2, seed=3))
    assert images.shape == (2, 3, 16, 16) and images.abs().max() <= 1.0
    assert not (tmp_path / "PWNED").exists()


def test_our_format_round_trips(net, tmp_path):
    path = tmp_path / "tiny-stylegan2.safetensors"
    save_stylegan(path, net)
    g = load_generator(path, device="cpu")
    z = torch.randn(2, 16)
    torch.testing.assert_close(g.from_z(z, truncation=0.5), net(z, truncation=0.5), rtol=0, atol=0)


def test_convert_writes_our_format_from_a_pickle(net, nvlabs_pickle, tmp_path):
    out = tmp_path / "converted.safetensors"
    proc = subprocess.run([sys.executable, "-m", "visualizer", "convert", nvlabs_pickle, out], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    z = torch.randn(2, 16)
    torch.testing.assert_close(load_generator(out, device="cpu").from_z(z), net(z), rtol=0, atol=0)
    proc = subprocess.run([sys.executable, "-m", "visualizer", "convert", nvlabs_pickle, tmp_path / "x.pt"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "should end in .safetensors" in proc.stderr


@pytest.mark.slow
def test_a_video_renders_with_a_stylegan2_pickle(nvlabs_pickle, tmp_path):
    # Drums shape the layout, hi-hats the texture, loudness boils the middle layers' noise.
    frames = render_with_model(nvlabs_pickle, '[[mappings]]\nsource = "percussive"\ntarget = "pulse"\nlayers = "coarse"\n\n'
                                              '[[mappings]]\nsource = "treble"\ntarget = "pulse"\nlayers = "middle"\n\n'
                                              '[[mappings]]\nsource = "loudness"\ntarget = "noise"\ngain = 3.0\n'
                                              'layers = "middle"\n', tmp_path)
    assert len(frames) >= 18 and frames[0].shape == (64, 64, 3)
    assert max(float(abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(frames, frames[1:])) > 0.5


def test_one_z_per_layer_and_the_layer_groups(net):
    g = StyleGANGenerator(net, device=torch.device("cpu"))
    z = torch.randn(2, 16)
    same = z[:, None, :].repeat(1, net.num_ws, 1)
    torch.testing.assert_close(g.from_z(same, truncation=0.8), g.from_z(z, truncation=0.8), rtol=0, atol=1e-5)
    groups = g.layer_groups
    assert groups["all"] == (0, 6) and groups["coarse"] == (0, 3) and groups["middle"][0] == 3
    other = same.clone()
    other[:, 3:] = torch.randn(16)  # new z for the 16 px layers only: the picture changes, not its layout
    assert not torch.allclose(g.from_z(other), g.from_z(same))


def rosinality_state(net: StyleGAN2) -> dict:
    """Our weights under rosinality/stylegan2-pytorch's names and shapes (its g_ema state dict)."""
    ours, cfg = net.state_dict(), net.cfg
    out = {}
    for i in range(cfg.mapping_layers):
        out[f"style.{i + 1}.weight"], out[f"style.{i + 1}.bias"] = ours[f"mapping.fc{i}.weight"], ours[f"mapping.fc{i}.bias"]
    layers = [("conv1", "synthesis.b4.conv1")]
    rgbs = [("to_rgb1", "synthesis.b4.torgb")]
    for j, res in enumerate(cfg.block_resolutions[1:]):
        layers += [(f"convs.{2 * j}", f"synthesis.b{res}.conv0"), (f"convs.{2 * j + 1}", f"synthesis.b{res}.conv1")]
        rgbs.append((f"to_rgbs.{j}", f"synthesis.b{res}.torgb"))
    for k, (theirs, mine) in enumerate(layers):
        out[f"{theirs}.conv.weight"] = ours[f"{mine}.weight"][None]
        out[f"{theirs}.conv.modulation.weight"] = ours[f"{mine}.affine.weight"]
        out[f"{theirs}.conv.modulation.bias"] = ours[f"{mine}.affine.bias"]
        out[f"{theirs}.noise.weight"] = ours[f"{mine}.noise_strength"].reshape(1)
        out[f"{theirs}.activate.bias"] = ours[f"{mine}.bias"]
        out[f"noises.noise_{k}"] = ours[f"{mine}.noise_const"][None, None]
    for theirs, mine in rgbs:
        out[f"{theirs}.conv.weight"] = ours[f"{mine}.weight"][None]
        out[f"{theirs}.conv.modulation.weight"] = ours[f"{mine}.affine.weight"]
        out[f"{theirs}.conv.modulation.bias"] = ours[f"{mine}.affine.bias"]
        out[f"{theirs}.bias"] = ours[f"{mine}.bias"].reshape(1, -1, 1, 1)
    out["input.input"] = ours["synthesis.b4.const"][None]
    return out


def test_a_rosinality_checkpoint_loads_with_identical_outputs(tmp_path):
    import argparse

    # rosinality's layout with its channel counts capped at 16 (a tiny network of the same shape rules)
    cfg = StyleGAN2Config(img_resolution=32, z_dim=16, w_dim=16, mapping_layers=3, channel_base=32768, channel_max=16)
    torch.manual_seed(2)
    theirs = StyleGAN2(cfg).eval()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if name.endswith(("noise_strength", "conv0.bias", "conv1.bias", "torgb.bias")):
                p.copy_(0.3 * torch.randn(p.shape))
        theirs.mapping.w_avg.copy_(torch.randn(16))
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": rosinality_state(theirs), "latent_avg": theirs.mapping.w_avg.clone(),
                "args": argparse.Namespace(size=32, latent=16, n_mlp=3)}, path)
    g = load_generator(path, device="cpu")
    z = torch.randn(2, 16)
    for psi in (1.0, 0.7):
        torch.testing.assert_close(g.from_z(z, truncation=psi), theirs(z, truncation=psi), rtol=0, atol=0)
    out = tmp_path / "converted.safetensors"
    from visualizer.models.io import convert_checkpoint

    convert_checkpoint(path, out)
    torch.testing.assert_close(load_generator(out, device="cpu").from_z(z), theirs(z), rtol=0, atol=0)


class _Evil:
    def __reduce__(self):
        import os

        return os.system, ("touch PWNED",)


def test_a_malicious_torch_checkpoint_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(2, 2)}, "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        load_generator(path, device="cpu")
    assert not (tmp_path / "PWNED").exists()


def test_noise_scale_per_sample_and_layer(net):
    g = StyleGANGenerator(net, device=torch.device("cpu"))
    z = torch.randn(1, 16).repeat(2, 1)
    ones = torch.ones(2, net.num_ws)
    torch.testing.assert_close(g.from_z(z, noise_scale=ones), g.from_z(z), rtol=0, atol=0)
    louder = ones.clone()
    louder[1, 3:] = 3.0  # the second sample's 16 px layers: three times the noise
    images = g.from_z(z, noise_scale=louder)
    torch.testing.assert_close(images[0], g.from_z(z)[0], rtol=0, atol=0)
    assert float((images[1] - images[0]).abs().mean()) > 1e-3


@pytest.mark.parametrize("precision, tolerance", [("fp16", 0.005), ("bf16", 0.03)])
def test_reduced_precision_synthesis_stays_close_to_fp32(net, precision, tolerance):
    # The mapping, styles and Fourier features stay fp32; only the convolutions drop precision.
    assert reduced_precision_error(net, precision) < tolerance


def test_wider_pictures_grow_the_constant_input_outward(net):
    check_wide_pictures(net, step=8, middle_corr=0.95)
