import numpy as np
import pytest

from visualizer.audio.onsets import OnsetPicker, RunningPeak, decaying_max
from visualizer.settings import AnalysisSettings


def test_decaying_max_is_the_loop_it_replaces():
    rng = np.random.default_rng(4)
    levels = rng.normal(-40.0, 10.0, (300, 3)) * (rng.random((300, 3)) < 0.3)
    expected, peak = [], np.array([-20.0, 0.0, -60.0])
    for row in levels:
        peak = np.maximum(row, peak - 0.5)
        expected.append(peak)
    np.testing.assert_allclose(decaying_max(levels, [-20.0, 0.0, -60.0], 0.5), expected, rtol=1e-9)
    np.testing.assert_allclose(decaying_max(levels[:, 1], 0.0, 0.5), np.array(expected)[:, 1], rtol=1e-9)


def test_running_peak_block_is_running_peak():
    rng = np.random.default_rng(5)
    values = rng.exponential(1.0, 300) * (rng.random(300) < 0.2)
    running, blocked = RunningPeak(0.97, floor=1e-3), RunningPeak(0.97, floor=1e-3)
    expected = [running(v) for v in values]
    peaks = np.concatenate([blocked.block(values[:7]), blocked.block(values[7:7]), blocked.block(values[7:])])
    np.testing.assert_allclose(peaks, expected, rtol=1e-9)
    assert blocked.value == pytest.approx(running.value, rel=1e-9)
    # Where a value is the peak, the peak is that value exactly: value / peak reads 1.0, never above.
    assert np.all(values / peaks <= 1.0)
    assert np.all((values / peaks == 1.0) == np.isclose(values, expected, rtol=1e-12, atol=0))


def _pick_one_by_one(settings, hop_s, flux, thresholds, times, min_strength, profiles):
    """The picker's rule applied hop by hop: the reference ``OnsetPicker.pick`` must reproduce."""
    peak, last, open_, out = RunningPeak(np.exp(-hop_s / settings.norm_release_s)), -1e9, 0.0, []
    last_strength, last_profile = 0.0, None
    for f, threshold, t, low, profile in zip(flux, thresholds, times, min_strength, profiles):
        p = peak(f)
        value, strength, new = f / p, 0.0, False
        gap_ok = t - last >= settings.onset_min_gap_s
        masked = last_profile is not None and value < 0.6 * last_strength * np.exp(-(t - last) / 0.1) * (
            profile @ last_profile / np.sqrt((profile @ profile) * (last_profile @ last_profile)))
        if value >= max(settings.onset_threshold, low) and f > threshold + 0.015 * p and gap_ok and not masked:
            strength, new, last, open_, last_strength, last_profile = value, True, t, value, value, profile
        elif open_:
            strength = value if value > open_ else 0.0
            last_strength = max(last_strength, strength)
            open_ = 0.0
        out.append((value, strength, new))
    return [np.array(c) for c in zip(*out)]


@pytest.mark.parametrize("gap_s", [0.0, 0.06])
def test_onset_picker_blocks_follow_the_hop_by_hop_rule(gap_s):
    settings = AnalysisSettings(onset_min_gap_s=gap_s)
    hop_s = settings.hop_length / settings.sample_rate
    rng = np.random.default_rng(6)
    n = 600
    # Bursts of rising flux: onsets on consecutive hops, and hops whose flux outgrows the onset's.
    flux = rng.exponential(0.05, n) + np.repeat(rng.random(n // 3) < 0.3, 3) * rng.exponential(2.0, n)
    thresholds = np.full(n, 0.2)
    times = np.arange(n) * hop_s
    min_strength = np.where(rng.random(n) < 0.05, np.inf, 0.0)
    # Band profiles: each burst's like the one before it, or not (masking holds back weak look-alikes).
    profiles = rng.random((n, 8)) ** 4
    expected = _pick_one_by_one(settings, hop_s, flux, thresholds, times, min_strength, profiles)
    picker = OnsetPicker(settings, hop_s)
    parts = [picker.pick(flux[a:b], thresholds[a:b], times[a:b], min_strength[a:b], profiles[a:b])
             for a, b in [(0, 1), (1, 50), (50, 51), (51, 400), (400, n)]]
    value, strength, new = (np.concatenate(c) for c in zip(*parts))
    np.testing.assert_allclose(value, expected[0], rtol=1e-9)
    np.testing.assert_array_equal(new, expected[2])
    np.testing.assert_allclose(strength, expected[1], rtol=1e-9)
    assert new.sum() > 20 and (np.diff(np.flatnonzero(new)) == 1).any() == (gap_s == 0.0)
    assert ((strength > 0) & ~new).any()   # some hops raised the strength of the onset before them


def test_a_weaker_rise_of_the_same_bands_soon_after_an_onset_is_masked():
    # A vibraphone's tremolo or a click's echo: the last rise's spectrum again, weaker, 0.12 s later.
    settings = AnalysisSettings(onset_min_gap_s=0.0)
    hop_s = settings.hop_length / settings.sample_rate
    n = 200
    flux, times = np.full(n, 0.01), np.arange(n) * hop_s
    bright, dark = np.r_[np.zeros(6), np.ones(2)], np.r_[np.ones(2), np.zeros(6)]
    later = [(20, 1.0, bright), (30, 0.15, bright), (60, 1.0, bright), (70, 0.15, dark), (100, 1.0, bright),
             (130, 0.15, bright)]   # hop, flux, bands that rise
    profiles = np.full((n, 8), 1e-3)
    for hop, f, bands in later:
        flux[hop], profiles[hop] = f, bands
    _, _, new = OnsetPicker(settings, hop_s).pick(flux, np.full(n, 0.05), times, np.zeros(n), profiles)
    # Held back: the same bands 10 hops (0.12 s) on. Taken: other bands as soon, the same bands 30 hops
    # (0.35 s) on, and anything where no profile is given.
    assert np.flatnonzero(new).tolist() == [20, 60, 70, 100, 130]
    _, _, plain = OnsetPicker(settings, hop_s).pick(flux, np.full(n, 0.05), times, np.zeros(n))
    assert np.flatnonzero(plain).tolist() == [20, 30, 60, 70, 100, 130]
