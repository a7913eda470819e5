import pytest
import torch
from torch import nn

from visualizer.models.upconv import UpsampleConv2d, fold_upsampling
from visualizer.models.visvae import Decoder, InferenceDecoder, VisVAEConfig


@pytest.mark.parametrize("size", [(1, 1), (4, 4), (5, 7)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_folded_upsample_conv_equals_upsample_then_conv(size, channels_last):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 5, 3, padding=1)
    x = torch.randn(2, 6, *size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = conv(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
    got = UpsampleConv2d(conv)(x)
    assert got.shape == expected.shape == (2, 5, 2 * size[0], 2 * size[1])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    if size != (1, 1):  # a 1x1 input is both memory orders at once
        assert got.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_only_upsample_conv_pairs_are_folded():
    layers = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Upsample(scale_factor=2), nn.Conv2d(3, 4, 3, padding=1),
                           nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(4, 4, 3, padding=1))
    folded = fold_upsampling(layers)
    assert [type(m).__name__ for m in folded] == ["Conv2d", "UpsampleConv2d", "LeakyReLU", "Upsample", "Conv2d"]
    x = torch.randn(1, 3, 6, 6)
    torch.testing.assert_close(folded(x), layers(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        UpsampleConv2d(nn.Conv2d(3, 3, 5, padding=2))


def test_the_inference_decoder_draws_what_the_decoder_draws():
    torch.manual_seed(1)
    decoder = Decoder(VisVAEConfig(resolution=64, latent_dim=16, channels=(32, 24, 16, 8))).eval()
    fast = InferenceDecoder(decoder)
    z = torch.randn(3, 16)
    with torch.no_grad():
        expected = decoder(z)
        got = fast(z)
    assert got.shape == expected.shape == (3, 3, 64, 64)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # Channels-last, so the uint8 frame for a texture (N, H, W, C) is a view, not a copy.
    assert got.permute(0, 2, 3, 1).is_contiguous()
    # The copy is independent: training the decoder further does not change it.
    with torch.no_grad():
        decoder.fc.weight.add_(1.0)
        torch.testing.assert_close(fast(z), got)
