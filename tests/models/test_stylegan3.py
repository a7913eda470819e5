"""Our StyleGAN3 generator (configs T and R): NVlabs pickles (read as data), our format, identical outputs."""

import numpy as np
import pytest
import torch

from tests.models.nvlabs_format import as_persistent, write_network_pickle
from tests.models.stylegan_checks import check_wide_pictures, reduced_precision_error, render_with_model
from visualizer.models.base import Generator
from visualizer.models.io import convert_checkpoint, load_generator, read_safetensors, save_stylegan
from visualizer.models.stylegan2 import StyleGANGenerator
from visualizer.models.stylegan3 import StyleGAN3, StyleGAN3Config, lowpass_filter, upfirdn

# NVlabs records the synthesis settings at the top level of G's init kwargs, next to z_dim.
KWARGS = {
    "T": {"z_dim": 16, "c_dim": 0, "w_dim": 16, "img_resolution": 16, "img_channels": 3,
          "mapping_kwargs": {"num_layers": 2}, "channel_base": 256, "channel_max": 16, "num_layers": 4,
          "margin_size": 2, "num_fp16_res": 0, "conv_clamp": 256, "magnitude_ema_beta": 0.999},
}
KWARGS["R"] = dict(KWARGS["T"], conv_kernel=1, use_radial_filters=True, channel_base=512, channel_max=32)


def random_network(config: str) -> StyleGAN3:
    torch.manual_seed(0)
    model = StyleGAN3(StyleGAN3Config.from_nvlabs_kwargs(KWARGS[config])).eval()
    with torch.no_grad():  # nothing left at its initial value, so every path shows
        for name, p in model.named_parameters():
            if name.endswith("bias") and "affine" not in name:
                p.copy_(0.3 * torch.randn(p.shape))
            if name == "synthesis.input.affine.weight":  # w rotates and shifts the Fourier features
                p.copy_(torch.randn(p.shape))
        for name, b in model.named_buffers():
            if name.endswith("magnitude_ema"):
                b.copy_(0.5 + torch.rand(b.shape))
        model.mapping.w_avg.copy_(torch.randn(model.cfg.w_dim))
    return model


@pytest.fixture(scope="module", params=["T", "R"])
def net(request):
    return request.param, random_network(request.param)


@pytest.fixture(scope="module")
def nvlabs_pickle(net, tmp_path_factory):
    config, model = net
    path = tmp_path_factory.mktemp("sg3") / f"stylegan3-{config.lower()}-snapshot.pkl"
    write_network_pickle(path, {"G": None, "D": None, "G_ema": as_persistent(model, KWARGS[config], "Generator"),
                                "training_set_kwargs": {"resolution": 16}})
    return path


def test_shapes_layers_and_filters(net):
    config, model = net
    z = torch.randn(3, 16)
    with torch.no_grad():
        images = model(z)
    assert images.shape == (3, 3, 16, 16) and torch.isfinite(images).all()
    assert model.num_ws == 4 + 2  # Fourier input, four layers, toRGB
    layer = model.synthesis.L1_20_16 if config == "T" else model.synthesis.L1_20_32
    assert layer.kernel == (3 if config == "T" else 1)
    assert layer.down_filter.ndim == (1 if config == "T" else 2)  # R: radially symmetric downsampling
    # Low-pass filters pass DC unchanged.
    assert float(layer.up_filter.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(layer.down_filter.sum()) == pytest.approx(1.0, abs=1e-5)


def test_the_low_pass_filter_stops_its_stopband():
    f = lowpass_filter(24, cutoff=8.0, width=8.0, rate=64.0)  # pass below 8, stop above 12 (of 32)
    response = torch.fft.rfft(torch.nn.functional.pad(f, (0, 1000))).abs()
    freqs = torch.fft.rfftfreq(1024, 1 / 64.0)
    assert response[freqs < 4].min() > 0.97 and response[freqs > 14].max() < 0.02


def test_upfirdn_upsamples_a_constant_to_a_constant():
    x = torch.full((1, 2, 16, 16), 0.5)
    f = lowpass_filter(12, cutoff=2.0, width=2.0, rate=8.0)
    y = upfirdn(x, f, up=2, padding=(5, 6, 5, 6), gain=4)
    assert y.shape == (1, 2, 32, 32)
    assert torch.allclose(y[..., 12:20, 12:20], torch.full((1, 2, 8, 8), 0.5), atol=1e-4)  # away from the edges


def test_an_nvlabs_pickle_loads_with_identical_outputs(net, nvlabs_pickle):
    _, model = net
    g = load_generator(nvlabs_pickle, device="cpu")
    assert isinstance(g, StyleGANGenerator) and isinstance(g, Generator)
    assert g.resolution == 16 and g.latent_dim == 16
    z = torch.randn(2, 16)
    with torch.no_grad():
        for psi in (1.0, 0.7):
            torch.testing.assert_close(g.from_z(z, truncation=psi), model(z, truncation=psi), rtol=0, atol=0)


def test_our_format_round_trips_and_convert_writes_it(net, nvlabs_pickle, tmp_path):
    _, model = net
    ours = tmp_path / "ours.safetensors"
    save_stylegan(ours, model)
    converted = convert_checkpoint(nvlabs_pickle, tmp_path / "converted.safetensors")
    _, metadata = read_safetensors(converted)
    assert metadata["format"] == "visualizer-stylegan3"
    z = torch.randn(2, 16)
    with torch.no_grad():
        expected = model(z)
    for path in (ours, converted):
        torch.testing.assert_close(load_generator(path, device="cpu").from_z(z), expected, rtol=0, atol=0)


def test_one_z_per_layer_and_the_layer_groups(net):
    _, model = net
    g = StyleGANGenerator(model, device=torch.device("cpu"))
    groups = g.layer_groups
    assert groups["all"] == (0, 6)
    assert groups["coarse"][0] == 0 and groups["coarse"][1] == groups["middle"][0]
    assert groups["middle"][1] == groups["fine"][0] and groups["fine"][1] == 6
    z = torch.randn(2, 16)
    same = z[:, None].repeat(1, 6, 1)
    torch.testing.assert_close(g.from_z(same), g.from_z(z), rtol=0, atol=1e-4)  # batched matmuls differ in rounding
    changed = same.clone()
    changed[:, groups["fine"][0]:] = torch.randn(2, 16)
    assert not torch.allclose(g.from_z(changed), g.from_z(z))


@pytest.mark.slow
def test_a_video_renders_with_a_stylegan3_pickle(tmp_path):
    model = random_network("R")
    pickle_path = tmp_path / "stylegan3-r.pkl"
    write_network_pickle(pickle_path, {"G_ema": as_persistent(model, KWARGS["R"], "Generator")})
    frames = render_with_model(pickle_path, '[[mappings]]\nsource = "percussive"\ntarget = "pulse"\nlayers = "coarse"\n\n'
                                            '[[mappings]]\nsource = "treble"\ntarget = "pulse"\nlayers = "3-5"\n', tmp_path)
    assert len(frames) >= 18 and frames[0].shape == (64, 64, 3)
    assert max(float(abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(frames, frames[1:])) > 0.5


@pytest.mark.slow
def test_a_wide_video_shows_the_square_picture_in_the_middle_and_more_of_the_plane_beside_it(tmp_path):
    model = random_network("T")
    pickle_path = tmp_path / "stylegan3-t.pkl"
    write_network_pickle(pickle_path, {"G_ema": as_persistent(model, KWARGS["T"], "Generator")})
    quiet = '[effects]\nvignette = 0\nfit = "{}"\n'
    wide = render_with_model(pickle_path, quiet.format("wide"), tmp_path, size="96x48")
    mirror = render_with_model(pickle_path, quiet.format("mirror"), tmp_path, size="96x48")
    assert wide[0].shape == (48, 96, 3) and len(wide) == len(mirror)
    a, b = np.stack(wide).astype(float), np.stack(mirror).astype(float)
    # The middle third is the square picture in both; beside it mirror shows it mirrored, wide draws on.
    assert np.corrcoef(a[:, 8:40, 32:64].ravel(), b[:, 8:40, 32:64].ravel())[0, 1] > 0.9
    assert np.abs(a[:, :, :24] - b[:, :, :24]).mean() > 3 * np.abs(a[:, 8:40, 32:64] - b[:, 8:40, 32:64]).mean()


@pytest.mark.parametrize("precision, tolerance", [("fp16", 0.005), ("bf16", 0.03)])
def test_reduced_precision_synthesis_stays_close_to_fp32(net, precision, tolerance):
    # The mapping, styles and Fourier features stay fp32; only the convolutions drop precision.
    assert reduced_precision_error(net[1], precision) < tolerance


def test_wider_pictures_sample_the_fourier_input_further_out(net):
    _, model = net
    check_wide_pictures(model, step=2, middle_corr=0.999)
