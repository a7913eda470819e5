import numpy as np
import pytest

from visualizer.audio.beats import HISTORY_S, OCTAVE_LISTEN, TONAL_LISTEN, BeatTracker, History, TempoEstimator

HOP_S = 512 / 22050


def pulses(bpm: float, n: int, seed: int) -> np.ndarray:
    """One value per hop: a spike on every beat over a little noise."""
    x = np.random.default_rng(seed).random(n) * 0.1
    x[np.round(np.arange(0, n * HOP_S, 60.0 / bpm) / HOP_S).astype(int)[:-1]] += 1.0
    return x


def settle(estimator: TempoEstimator, history: np.ndarray, weights=(1.0,)) -> float:
    n = int(round(HISTORY_S / HOP_S))
    for end in range(n // 2, len(history), 16):
        estimator.update(history[max(0, end - n):end], weights)
    return estimator.bpm


@pytest.mark.parametrize("weights, expected", [((1.0, 0.0), 100.0), ((0.0, 1.0), 75.0), ((1.0, 0.2), 100.0)])
def test_signals_are_weighted(weights, expected):
    n = int(20 / HOP_S)
    both = np.stack([pulses(100.0, n, 0), pulses(75.0, n, 1)], axis=1)
    assert settle(TempoEstimator(HOP_S), both, weights) == pytest.approx(expected, rel=0.02)


def test_one_signal_is_the_same_as_a_column_of_one():
    x = pulses(120.0, int(12 / HOP_S), 2)
    a, b = TempoEstimator(HOP_S), TempoEstimator(HOP_S)
    settle(a, x)
    settle(b, x[:, None])
    assert (a.bpm, a.confidence) == (b.bpm, b.confidence)


def test_history_reads_as_it_stood_at_any_row():
    history, values = History(5), np.arange(12.0)
    history.extend(values[:3])
    assert history.upto(0).tolist() == [] and history.upto(2).tolist() == [0.0, 1.0]
    history.extend(values[3:12])
    assert history.filled(1) == 4 and history.upto(1).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert history.upto(9).tolist() == [7.0, 8.0, 9.0, 10.0, 11.0]
    history.extend(values[:0])
    assert history.upto(0).tolist() == [7.0, 8.0, 9.0, 10.0, 11.0]


def test_a_resting_tonal_reading_is_not_taken():
    # Above TONAL_LISTEN the tonal estimator is not updated: its last reading (here from a string
    # intro at half the drums' tempo) must not be taken over the onsets', however sure it was.
    tracker = BeatTracker(256 / 22050, tonal_step_s=512 / 22050)
    tracker.tempo.bpm, tracker.tempo.confidence = 140.0, TONAL_LISTEN + 0.05
    tracker.tonal_tempo.bpm, tracker.tonal_tempo.confidence = 70.0, 0.6
    assert tracker._tempo() == (140.0, TONAL_LISTEN + 0.05, False)
    # While it listens, an octave reading is taken where the onsets' beat is weak and it is surer,
    tracker.tempo.confidence = OCTAVE_LISTEN - 0.05
    assert tracker._tempo() == (70.0, 0.6, True)
    # but a clearer onset beat keeps its own tempo unless the tonal one is twice as sure.
    tracker.tempo.confidence = OCTAVE_LISTEN + 0.05
    assert tracker._tempo() == (140.0, OCTAVE_LISTEN + 0.05, False)


def onset_stream(bpm: float, seconds: float, pattern: list[float], hop_s: float) -> np.ndarray:
    """Onset strength per hop: ``pattern`` gives the strength of each eighth note of a bar, repeated."""
    x = np.random.default_rng(3).random(int(seconds / hop_s)) * 0.02
    eighth = 30.0 / bpm
    for k in range(int(seconds / eighth)):
        x[int(round(k * eighth / hop_s))] += pattern[k % len(pattern)]
    return x


def track(strength: np.ndarray, low: np.ndarray, hop_s: float):
    """A fresh tracker's output over an onset stream (and its low part), all sound, no note changes."""
    n = len(strength)
    return BeatTracker(hop_s).process(strength, low, np.ones(n, bool), np.arange(1, n + 1) * hop_s,
                                      np.full(n, np.nan), np.zeros(n))


def track_tempo(strength: np.ndarray, hop_s: float) -> np.ndarray:
    return track(strength, strength, hop_s).bpm[int(8.0 / hop_s):]


@pytest.mark.parametrize("bpm", [84.0, 92.0])
def test_rock_eighths_do_not_double_the_tempo(bpm):
    # Kick, hat, snare, hat, hat, kick, snare, hat: the hats' eighth notes are not the beat.
    hop_s = 256 / 22050
    later = track_tempo(onset_stream(bpm, 30.0, [1.0, 0.3, 1.0, 0.3, 0.3, 0.9, 1.0, 0.3], hop_s), hop_s)
    assert np.mean(np.abs(later - bpm) <= 0.02 * bpm) >= 0.9


@pytest.mark.parametrize("bpm", [70.0, 76.0])
def test_a_half_time_groove_keeps_its_tempo(bpm):
    # A ride on every beat, kick on 1 and the "and" of 4, snare on 3: at twice the tempo, every other beat
    # is empty but for that one kick.
    hop_s = 256 / 22050
    later = track_tempo(onset_stream(bpm, 30.0, [1.0, 0.0, 0.4, 0.0, 0.9, 0.0, 0.4, 0.6], hop_s), hop_s)
    assert np.mean(np.abs(later - bpm) <= 0.02 * bpm) >= 0.9


@pytest.mark.parametrize("bpm", [150.0, 170.0])
def test_even_clicks_and_subdivided_fast_beats_keep_their_tempo(bpm):
    hop_s = 256 / 22050
    clicks = track_tempo(onset_stream(bpm / 2, 30.0, [1.0, 1.0], hop_s), hop_s)   # a click on every beat
    # Fast drums: the hats subdivide each beat (sixteenths at half this tempo).
    hats = onset_stream(bpm / 2, 30.0, [1.0, 0.3, 1.0, 0.3, 0.3, 0.9, 1.0, 0.3], hop_s)
    hats += onset_stream(bpm, 30.0, [0.0, 0.25], hop_s)
    for later in (clicks, track_tempo(hats, hop_s)):
        assert np.mean(np.abs(later - bpm) <= 0.02 * bpm) >= 0.9


@pytest.mark.parametrize("strength, low", [
    ([0.86, 1.09], [0.28, 0.04]),   # disco: the open hat on the "and" is the strongest onset, the kick is low
    ([1.05, 0.76], [0.13, 0.24]),   # house: the bass plays on the "and", the full band decides
])
def test_the_beat_sits_on_the_kick_not_on_the_off_beat_hat(strength, low):
    # Onset strength and its low-frequency part on the beat and on the "and", as measured (averaged
    # over the piece) on the FluidSynth renders of the "styles" evaluation set.
    bpm, hop_s = 120.0, 256 / 22050
    full, kick = onset_stream(bpm, 30.0, strength, hop_s), onset_stream(bpm, 30.0, low, hop_s)
    out = track(full, kick, hop_s)
    beats = out.beat_time_s[~np.isnan(out.beat_time_s)]
    beats = beats[beats > 8.0]
    beat = 60.0 / bpm
    off = np.abs((beats + beat / 2) % beat - beat / 2)   # seconds from the nearest beat of the grid
    assert len(beats) >= 40 and np.mean(off <= 0.07) >= 0.9, off
