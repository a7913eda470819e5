import pytest

from visualizer.render.window import window_filter


@pytest.mark.parametrize("renderer", ["llvmpipe (LLVM 15.0.6, 256 bits)", "softpipe",
                                      "Google SwiftShader", "Software Rasterizer"])
def test_auto_scales_the_window_with_nearest_on_a_software_renderer(renderer):
    assert window_filter("auto", renderer) == "nearest"


@pytest.mark.parametrize("renderer", ["NVIDIA GeForce RTX 4090/PCIe/SSE2", "AMD Radeon RX 7900 XTX (radeonsi, navi31)",
                                      "Mesa Intel(R) UHD Graphics 620 (KBL GT2)", "Apple M2", ""])
def test_auto_scales_the_window_with_bilinear_on_a_gpu(renderer):
    assert window_filter("auto", renderer) == "bilinear"


@pytest.mark.parametrize("setting", ["bilinear", "nearest"])
def test_an_explicit_choice_is_kept_on_any_renderer(setting):
    assert window_filter(setting, "llvmpipe (LLVM 15.0.6, 256 bits)") == setting
    assert window_filter(setting, "NVIDIA GeForce RTX 4090/PCIe/SSE2") == setting
