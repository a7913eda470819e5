import numpy as np

from visualizer.audio.onsets import RunningPeak, decaying_max


def test_decaying_max_is_the_loop_it_replaces():
    rng = np.random.default_rng(4)
    levels = rng.normal(-40.0, 10.0, (300, 3)) * (rng.random((300, 3)) < 0.3)
    expected, peak = [], np.array([-20.0, 0.0, -60.0])
    for row in levels:
        peak = np.maximum(row, peak - 0.5)
        expected.append(peak)
    np.testing.assert_allclose(decaying_max(levels, [-20.0, 0.0, -60.0], 0.5), expected, rtol=1e-9)
    np.testing.assert_allclose(decaying_max(levels[:, 1], 0.0, 0.5), np.array(expected)[:, 1], rtol=1e-9)


def test_decaying_max_on_logs_is_running_peak():
    rng = np.random.default_rng(5)
    values = rng.exponential(1.0, 300) * (rng.random(300) < 0.2)
    running = RunningPeak(0.97, floor=1e-3)
    expected = [running(v) for v in values]
    logs = decaying_max(np.log(np.maximum(values, 1e-3)), np.log(1e-3), -np.log(0.97))
    np.testing.assert_allclose(np.exp(logs), expected, rtol=1e-9)
