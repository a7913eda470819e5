import numpy as np
import pytest

from visualizer.audio.analyzer import Analyzer, analyse_signal
from visualizer.audio.demo import click_track, demo_loop
from visualizer.audio.features import FeatureTrack
from visualizer.settings import AnalysisSettings

SR = 22050
S = AnalysisSettings()


def test_rows_do_not_depend_on_how_the_stream_is_cut():
    signal = demo_loop(sample_rate=SR, bars=2).mean(0)
    whole = analyse_signal(signal, S)
    analyzer = Analyzer(S)
    rng = np.random.default_rng(0)
    parts, i = [], 0
    while i < len(signal):
        n = int(rng.integers(0, 2000))
        parts.append(analyzer.process(signal[i:i + n]))
        i += n
    pieces = FeatureTrack.concat(parts)
    assert len(pieces) == len(whole) == len(signal) // S.hop_length  # one row per completed hop
    np.testing.assert_array_equal(pieces.onset > 0, whole.onset > 0)
    np.testing.assert_allclose(pieces.flux, whole.flux, atol=1e-9)
    np.testing.assert_allclose(pieces.chroma, whole.chroma, atol=1e-9)


def test_each_click_is_reported_within_two_hops_after_it():
    clicks = np.round(np.arange(0.3, 7.5, 0.29), 3)
    track = analyse_signal(click_track(clicks, duration_s=8.0, sample_rate=SR), S)
    found = track.onset_times()
    assert len(found) == len(clicks)
    delay = found - clicks
    hop_s = S.hop_length / SR
    # The Hann window hides a click in its newest quarter, hence up to two hops (23 ms).
    assert np.all(delay >= 0) and np.all(delay <= 2 * hop_s + 1e-9), delay


def test_silence_is_all_zero_and_finite():
    track = analyse_signal(np.zeros(SR * 3, np.float32), S)
    assert len(track.onset_times()) == 0
    for values in (track.loudness, track.bands, track.chroma, track.centroid, track.flux):
        assert np.isfinite(values).all() and np.abs(values).max() == 0


def test_quiet_and_loud_masters_both_use_the_full_range():
    music = demo_loop(sample_rate=SR, bars=4).mean(0)
    loud = analyse_signal(music, S)
    quiet = analyse_signal(music * 0.03, S)  # about -30 dB
    tail = slice(len(loud) // 4, None)  # after the normaliser has settled
    assert loud.loudness[tail].max() > 0.95 and quiet.loudness[tail].max() > 0.95
    assert np.abs(loud.loudness[tail].mean() - quiet.loudness[tail].mean()) < 0.1
    settled = loud.onset_times()[loud.onset_times() > 1.0]
    assert len(settled) >= 10
    np.testing.assert_allclose(quiet.onset_times()[quiet.onset_times() > 1.0], settled, atol=0.025)


def test_bands_follow_the_spectrum():
    t = np.arange(SR * 2) / SR
    low = analyse_signal((0.5 * np.sin(2 * np.pi * 80 * t)).astype(np.float32), S)
    high = analyse_signal((0.5 * np.sin(2 * np.pi * 8000 * t)).astype(np.float32), S)
    assert low.bands[-1, 0] > 0.9 and low.bands[-1, 2] < 0.2
    assert high.bands[-1, 2] > 0.9 and high.bands[-1, 0] < 0.2
    assert high.centroid[-1] > low.centroid[-1]


def test_chroma_names_the_played_pitch_class():
    t = np.arange(SR * 2) / SR
    a440 = analyse_signal((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), S)
    assert int(np.argmax(a440.chroma[-1])) == 9  # C=0 ... A=9


def test_span_keeps_an_onset_that_falls_between_two_frames():
    track = analyse_signal(click_track([1.0], duration_s=2.0, sample_rate=SR), S)
    (t,) = track.onset_times()
    assert track.span(t - 0.02, t + 0.02).onset > 0
    assert track.span(t + 0.02, t + 0.06).onset == 0
    assert track.span(-1.0, 0.0).loudness == 0


@pytest.mark.parametrize("hop, n_fft", [(512, 2048), (128, 512)])
def test_other_hop_sizes(hop, n_fft):
    s = AnalysisSettings(hop_length=hop, n_fft=n_fft, sample_rate=44100)
    track = analyse_signal(click_track([0.5, 1.0], duration_s=1.5, sample_rate=44100), s)
    assert len(track.onset_times()) == 2
