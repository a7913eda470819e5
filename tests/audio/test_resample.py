import numpy as np
import pytest

from visualizer.audio.resample import LiveResampler


def run(resampler, signal, block=256):
    return np.concatenate([resampler.process(signal[i:i + block]) for i in range(0, len(signal), block)])


def tone(freq, rate, seconds=1.0):
    t = np.arange(int(rate * seconds)) / rate
    return np.sin(2 * np.pi * freq * t).astype(np.float32)


def test_nothing_is_held_back():
    r = LiveResampler(48000, 22050)
    impulse = np.zeros(48000, np.float32)
    impulse[4800] = 1.0
    out = []
    for i in range(0, 48000, 256):
        out.append(r.process(impulse[i:i + 256]))
        # After every block, the output has kept pace with the input to within a sample.
        assert abs(sum(map(len, out)) - min(i + 256, 48000) * 22050 / 48000) <= 1.5
    y = np.concatenate(out) ** 2
    centre = np.sum(np.arange(len(y)) * y) / y.sum()
    assert abs(centre - 2205) / 22.05 < 0.5  # the impulse's energy arrives within half a millisecond


@pytest.mark.parametrize("freq", [100, 1000, 8000])
def test_the_pass_band_passes(freq):
    y = run(LiveResampler(48000, 22050), tone(freq, 48000))[2000:]
    assert 20 * np.log10(np.sqrt(2) * y.std()) == pytest.approx(0.0, abs=0.6)


@pytest.mark.parametrize("freq", [12000, 16000, 23000])
def test_what_would_alias_is_removed(freq):
    y = run(LiveResampler(48000, 22050), tone(freq, 48000))[2000:]
    assert 20 * np.log10(np.sqrt(2) * y.std() + 1e-12) < -55


def test_same_rate_and_upsampling_pass_through():
    x = tone(440, 22050)
    np.testing.assert_array_equal(run(LiveResampler(22050, 22050), x), x)
    y = run(LiveResampler(16000, 22050), tone(440, 16000))
    assert abs(len(y) - 22050) <= 3 and 20 * np.log10(np.sqrt(2) * y[1000:].std()) == pytest.approx(0.0, abs=0.3)
