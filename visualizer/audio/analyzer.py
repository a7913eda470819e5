"""A causal, streaming audio analyzer: blocks of samples in, one feature row per hop out.

Frame ``i`` is the ``n_fft`` samples that end at sample ``(i + 1) * hop_length`` (the
stream is zero-padded before its start), so each row describes only audio already
heard and its time is the end of its window. Feeding the same samples in blocks of any
size gives the same rows, which is what lets the live and offline paths share it.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import scipy.fft

from visualizer.audio.beats import REFERENCE_HOP_S, BeatTracker
from visualizer.audio.features import TIMBRE_SIZE, FeatureTrack
from visualizer.audio.median import median_of
from visualizer.audio.onsets import OnsetPicker, RunningPeak, decaying_max, onset_offset_s, onset_window
from visualizer.audio.tonal import TonalChange, TonalOnsets
from visualizer.settings import AnalysisSettings

_SILENCE_DB = -80.0     # below this RMS level (dBFS) a band or the loudness reads 0
_DYNAMIC_RANGE_DB = 42.0  # span mapped onto 0..1 below the adaptive peak
_MIN_PEAK_DB = -50.0    # the adaptive peak never falls below this: quiet rooms stay dark
_CENTROID_LO_HZ, _CENTROID_HI_HZ = 100.0, 8000.0
_TIMBRE_RANGE = 1e-6    # the timbre hears bands down to 60 dB under the frame's loudest: a fixed floor would make
                        # the gaps between a tone's harmonics deeper the louder it is
_MEL_GAIN = 1e7         # log-compression strength of mel power relative to the peak level (a -70 dB floor)
_HARMONIC_S = 9 * REFERENCE_HOP_S  # span of the causal time median of the harmonic estimate
_PERCUSSIVE_BANDS = 5   # band pairs (10 mel bands) in the frequency median of the percussive estimate
_REFERENCE_FRAMES = 3    # the onset function compares each frame with the max of this many earlier ones, REFERENCE_HOP_S apart
_RELIABLE_BINS = 8      # mel bands of fewer FFT bins than this weigh proportionally less in the onset function
_JUMP_DB = 20.0         # a rise of the newest samples' level out of silence that makes a row audible
_JUMP_MIN_STRENGTH = 0.6  # weakest onset (0..1) taken on a row that only such a jump made audible
_ACCENT_MAX_HZ = 100.0   # bar accents come from onsets below this (kick drums, bass notes)
_ACCENT_MID_HZ = (200.0, 2000.0)  # less the onsets in this band (a snare drum's rise is broadband)
_TONAL_BEAT_WEIGHT = 2.0   # weight of the plain flux (note changes at the analyzer's own resolution) in the beat strength
_ONSET_DELAY_S = REFERENCE_HOP_S  # typical delay of the onset function's peak after the sound
_DIP_MAX_DB = 12.0       # dips of the level are counted down to this far below its peak (tempo of legato music)
_ATTACKS_S, _ATTACKS_MAX = 3.0, 3   # tonal-change onsets count while the onset picker found fewer than 3 in 3 s


class DecibelNormalizer:
    """Maps levels in dB onto 0..1 relative to a decaying running peak, one or more columns at once.

    The peak jumps up at once and falls by ``_DYNAMIC_RANGE_DB`` every ``release_s``,
    so a quiet master and a loud one both drive the whole range after a few seconds.
    """

    def __init__(self, release_s: float, hop_s: float, min_peak_db: float = _MIN_PEAK_DB, columns: int = 1) -> None:
        self.fall_per_hop = _DYNAMIC_RANGE_DB * hop_s / release_s
        self.min_peak_db = min_peak_db
        self.peak = np.full(columns, min_peak_db)

    def peaks(self, levels_db: np.ndarray) -> np.ndarray:
        """Running peak after each row of ``levels_db`` ([T] or [T, columns]), updating the state:
        peak[i] = max(level[i], peak[i-1] - fall, floor)."""
        levels = np.maximum(np.asarray(levels_db, np.float64).reshape(len(levels_db), -1), self.min_peak_db)
        out = decaying_max(levels, self.peak, self.fall_per_hop)
        if len(out):
            self.peak = out[-1].copy()
        return out.reshape(np.shape(levels_db))

    def __call__(self, levels_db: np.ndarray) -> np.ndarray:
        """Normalised levels (float32, the shape of ``levels_db``), updating the peak."""
        levels = np.asarray(levels_db, np.float64)
        peak = self.peaks(levels)
        value = np.clip(1.0 - (peak - levels) / _DYNAMIC_RANGE_DB, 0.0, 1.0)
        return np.where(levels <= _SILENCE_DB, 0.0, value).astype(np.float32)


def _power(spectrum: np.ndarray) -> np.ndarray:
    """|spectrum|**2 in double precision (without the square root that np.abs takes)."""
    return (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float64)


class Analyzer:
    """Streaming feature extractor; call ``process`` with consecutive mono blocks.

    Parameters
    ----------
    settings : AnalysisSettings
        Sample rate (Hz), FFT size and hop (samples), band edges (Hz) and onset picking.
    """

    def __init__(self, settings: AnalysisSettings) -> None:
        import librosa

        if settings.hop_length > settings.n_fft:
            from visualizer.settings import SettingsError

            raise SettingsError("settings key 'analysis.hop_length' must not exceed 'analysis.n_fft'")
        self.settings = s = settings
        self.sample_rate = s.sample_rate
        self.hop_length = s.hop_length
        self.n_fft = s.n_fft
        self.hop_s = s.hop_length / s.sample_rate
        self._window = np.hanning(s.n_fft + 1)[:-1].astype(np.float64)
        freqs = np.fft.rfftfreq(s.n_fft, 1.0 / s.sample_rate)
        self._freqs = freqs
        # Onsets use the newest half of each frame only, under a window that tapers off
        # quickly at its newest end: a hit is then seen by the first frame it falls in
        # (a symmetric window would hide it while it sits in the window's last quarter).
        self._onset_fft = max(s.hop_length, s.n_fft // 2)
        self._onset_window = onset_window(self._onset_fft)
        self._window32, self._onset_window32 = self._window.astype(np.float32), self._onset_window.astype(np.float32)
        self._onset_ref = float(self._onset_fft * np.sum(self._onset_window ** 2) / 2.0)
        # Short windows have few bins; more mel bands than bins/8 would leave some empty.
        n_mels = min(s.n_mels, self._onset_fft // 8)
        fmax = min(16000.0, s.sample_rate / 2)
        self._mel = librosa.filters.mel(sr=s.sample_rate, n_fft=self._onset_fft, n_mels=n_mels,
                                        fmin=30.0, fmax=fmax).astype(np.float64)
        # Bands made of few FFT bins fluctuate most in noise; they count less in the onset function.
        bins = (self._mel > 0).sum(1)
        self._band_weight = np.minimum(1.0, bins / _RELIABLE_BINS)
        # Bar accents listen below the snare drum's body: kick drums and bass notes mark a bar's start.
        centres = librosa.mel_frequencies(n_mels + 2, fmin=30.0, fmax=fmax)[1:-1]
        # (As weights that average those bands; short windows may have none below 100 Hz.)
        low = centres < _ACCENT_MAX_HZ
        mid = (centres >= _ACCENT_MID_HZ[0]) & (centres < _ACCENT_MID_HZ[1])
        self._low_mels, self._mid_mels = low / max(1, low.sum()), mid / max(1, mid.sum())
        self._chroma = librosa.filters.chroma(sr=s.sample_rate, n_fft=s.n_fft).astype(np.float64)
        # Chroma from 55 Hz to 5 kHz only: below, bins are too coarse; above, mostly noise.
        self._chroma *= (freqs >= 55.0) & (freqs <= 5000.0)
        bass = freqs < s.bass_max_hz
        treble = freqs >= s.treble_min_hz
        self._bands = np.stack([bass, ~bass & ~treble, treble]).astype(np.float64)  # [3, bins]
        # Parseval for a one-sided windowed spectrum: sum(power) / ref is the mean square, so
        # 10*log10 of it reads in dBFS (a full-scale sine is -3 dB).
        self._power_ref = float(s.n_fft * np.sum(self._window ** 2) / 2.0)
        self._buffer = np.zeros(s.n_fft - s.hop_length, dtype=np.float32)
        self._frames_done = 0
        # Time constants become row counts at this hop (the same spans in seconds at any hop).
        self._reference_step = max(1, round(REFERENCE_HOP_S / self.hop_s))  # rows between reference frames
        self._reference_rows = _REFERENCE_FRAMES * self._reference_step
        self._harmonic_rows = max(3, round(_HARMONIC_S / self.hop_s)) | 1   # odd: the median is one element
        self._prev_logmel = np.zeros((self._reference_rows, n_mels))
        self._prev_onset_db = -120.0
        self._mel_history = np.zeros((self._harmonic_rows - 1, n_mels // 2))  # rows before this block, for the time median
        self._loud_norm = DecibelNormalizer(s.norm_release_s, self.hop_s)
        self._band_norms = DecibelNormalizer(s.norm_release_s, self.hop_s, columns=3)
        self._onset_level = DecibelNormalizer(s.norm_release_s, self.hop_s, min_peak_db=_SILENCE_DB)
        self._picker = OnsetPicker(s, self.hop_s)
        self._low_peak = RunningPeak(self._picker.fall)    # of the low-frequency flux (bar accents)
        self._plain_peak = RunningPeak(self._picker.fall)  # of the plain flux (see _TONAL_BEAT_WEIGHT)
        self._tonal = TonalChange(s.sample_rate, s.hop_length, self._picker.fall)
        self._tonal_onsets = TonalOnsets(self._tonal.step_s)
        self._last_onset_s = -math.inf    # time of the last onset reported, from either picker
        self._attacks = collections.deque(maxlen=_ATTACKS_MAX)   # times of the onset picker's last onsets
        self.beats = BeatTracker(self.hop_s, latency_s=_ONSET_DELAY_S, tonal_step_s=self._tonal.step_s)

    def process(self, block: np.ndarray) -> FeatureTrack:
        """Analyse the next mono block (float32 [n], any n >= 0); returns the rows it completed."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        self._buffer = np.concatenate([self._buffer, block])
        count = (len(self._buffer) - self.n_fft) // self.hop_length + 1
        if count <= 0:
            return FeatureTrack.empty()
        frames = np.lib.stride_tricks.sliding_window_view(self._buffer, self.n_fft)[:: self.hop_length][:count]
        track = self._analyse(frames)
        self._buffer = self._buffer[count * self.hop_length :].copy()
        return track

    def _analyse(self, frames: np.ndarray) -> FeatureTrack:
        count = frames.shape[0]
        # Single-precision transforms (scipy's; numpy's convert to double) take half the time, and each
        # row's transform is the same however the stream was cut into blocks. What follows is double.
        power = _power(scipy.fft.rfft(frames * self._window32, axis=1))  # [count, bins]
        level_db = 10.0 * np.log10(power.sum(1) / self._power_ref + 1e-12)
        band_db = 10.0 * np.log10(power @ self._bands.T / self._power_ref + 1e-12)  # [count, 3]
        recent = frames[:, -self._onset_fft:] * self._onset_window32
        mel_power = (_power(scipy.fft.rfft(recent, axis=1)) @ self._mel.T) / self._onset_ref  # [count, n_mels]
        chroma = power @ self._chroma.T  # [count, 12]
        mag = np.sqrt(power)
        centroid_hz = (mag @ self._freqs) / np.maximum(mag.sum(1), 1e-12)
        percussive_power, harmonic_power = self._separate(mel_power)

        # The onset function's log compression is taken relative to the running peak level, so a
        # quiet master yields the same onset function as a loud one. (The peak is tracked on the
        # onset window itself: the full frame's taper would make a hit's first frame read far
        # quieter than its onset window hears it.)
        onset_db = 10.0 * np.log10(mel_power.sum(1) + 1e-12)
        peaks = self._onset_level.peaks(onset_db)
        logmel = np.log1p(_MEL_GAIN * mel_power * 10.0 ** (-peaks[:, None] / 10.0))
        # SuperFlux-style: compare with a maximum-filtered previous frame, so vibrato (energy
        # moving to a neighbouring band) is not mistaken for a new note.
        # The reference is the largest of the few previous frames: random dips in noisy bands
        # then do not count as rises.
        r, step = self._reference_rows, self._reference_step
        history = np.vstack([self._prev_logmel, logmel])
        plain_prev = history[r - step : len(history) - step]
        prev = plain_prev.copy()
        for back in range(2 * step, r + 1, step):
            prev = np.maximum(prev, history[r - back : len(history) - back])
        prev_max = prev.copy()
        prev_max[:, 1:] = np.maximum(prev_max[:, 1:], prev[:, :-1])
        prev_max[:, :-1] = np.maximum(prev_max[:, :-1], prev[:, 1:])
        rise = np.maximum(logmel - prev_max, 0.0)
        flux = rise @ self._band_weight
        # Bar accents: kick drums and bass notes rise in the lowest bands alone; a snare rises as much
        # across the spectrum, so the rise of the middle bands is taken off.
        low_flux = np.maximum(rise @ self._low_mels - rise @ self._mid_mels, 0.0)
        # Beat tracking also hears tonal change: the plain rise against the nearest reference frame
        # alone (organ or strings change notes without a percussive attack).
        plain = np.maximum(logmel - plain_prev, 0.0) @ self._band_weight
        self._prev_logmel = history[-r:]

        times = (self._frames_done + 1 + np.arange(count)) * self.hop_s
        self._frames_done += count
        loud = self._loud_norm(level_db)
        bands = self._band_norms(band_db)
        # Each part is the loudness times its share of the energy: a steady chord reads harmonic,
        # a drum hit percussive, and both follow the overall level.
        share = percussive_power / np.maximum(percussive_power + harmonic_power, 1e-30)
        percussive = (loud * share).astype(np.float32)
        harmonic = (loud * (1.0 - share)).astype(np.float32)
        thresholds = self._picker.thresholds(flux)
        # A hit out of silence is audible before the full frame hears it (the frame's taper hides its
        # newest samples): a jump of the onset window's own level out of silence counts too.
        before = np.concatenate([[self._prev_onset_db], onset_db[:-1]])
        self._prev_onset_db = float(onset_db[-1])
        jump = (before < _SILENCE_DB + 10.0) & (onset_db > before + _JUMP_DB) & (onset_db > _SILENCE_DB)
        audible = loud > 0.0
        # Only a strong onset is taken on such a row: the faint echoes after a hit jump out of silence too.
        min_strength = np.where(audible, 0.0, np.where(jump, _JUMP_MIN_STRENGTH, np.inf))
        flux_n, onset, is_new = self._picker.pick(flux, thresholds, times, min_strength, rise)
        tonal = self._tonal.push(frames[:, -self.hop_length:].reshape(-1))
        onset_time = self._onset_times(frames, times, is_new, onset, tonal)
        # How far the level is below its running peak: a legato pad or organ swells into each new
        # note, so its level dips at note changes (a deeper fall is a pause, and silence is no dip).
        dips = np.where(loud > 0.0, np.minimum(_DYNAMIC_RANGE_DB * (1.0 - loud), _DIP_MAX_DB), 0.0)
        beats = self.beats.process(flux_n + _TONAL_BEAT_WEIGHT * plain / self._plain_peak.block(plain),
                                   low_flux / self._low_peak.block(low_flux), audible | jump, times, tonal,
                                   dips)

        peak = chroma.max(1, keepdims=True)
        chroma = np.where(peak > 1e-9 * self._power_ref, chroma / np.maximum(peak, 1e-30), 0.0)
        centroid = np.log(np.clip(centroid_hz, _CENTROID_LO_HZ, _CENTROID_HI_HZ) / _CENTROID_LO_HZ)
        centroid /= math.log(_CENTROID_HI_HZ / _CENTROID_LO_HZ)
        centroid = np.where(loud > 0.0, centroid, 0.0)
        return FeatureTrack(
            time_s=times.astype(np.float64), loudness=loud, loudness_db=level_db.astype(np.float32),
            bands=bands, flux=flux_n.astype(np.float32), onset=onset.astype(np.float32),
            chroma=chroma.astype(np.float32),
            centroid=centroid.astype(np.float32), percussive=percussive, harmonic=harmonic,
            onset_time_s=onset_time, beat=beats.beat.astype(np.float32), beat_time_s=beats.beat_time_s,
            beat_phase=beats.phase.astype(np.float32), bar=beats.bar.astype(np.float32), bar_index=beats.bar_index,
            tempo_bpm=beats.bpm.astype(np.float32), tempo_confidence=beats.confidence.astype(np.float32),
            timbre=self._timbre(mel_power, audible),
        )

    def _timbre(self, mel_power: np.ndarray, audible: np.ndarray) -> np.ndarray:
        """Cepstral coefficients 1..TIMBRE_SIZE of the mel band levels [count, n_mels] -> [count, 12] (dB):
        the cosine series of the levels in dB across the bands, the mean (the level) left out."""
        floor = np.maximum(mel_power.max(1, keepdims=True) * _TIMBRE_RANGE, 1e-30)
        levels = 10.0 * np.log10(np.maximum(mel_power, floor))
        series = scipy.fft.dct(levels, type=2, axis=1) / levels.shape[1]
        out = np.zeros((len(levels), TIMBRE_SIZE), np.float32)
        k = min(TIMBRE_SIZE, levels.shape[1] - 1)
        out[:, :k] = series[:, 1:k + 1]
        return np.where(audible[:, None], out, 0.0).astype(np.float32)

    def _onset_times(self, frames: np.ndarray, times: np.ndarray, is_new: np.ndarray, strength: np.ndarray,
                     tonal: np.ndarray) -> np.ndarray:
        """Each row's onset time (s, NaN on most rows): the onset picker's, timed inside its frame, and
        the tonal-change onsets, which ``strength`` gains in place."""
        onset_time = np.full(len(times), np.nan)
        for i in np.flatnonzero(is_new | ~np.isnan(tonal)).tolist():
            t = float(times[i])
            if is_new[i]:
                onset_time[i] = t - onset_offset_s(frames[i, -self._onset_fft:], self.hop_length, self.sample_rate)
                self._last_onset_s = float(onset_time[i])
                self._attacks.append(t)
            if not math.isnan(tonal[i]):  # a step of the tonal change ends on this row
                # A note change the onset function missed (no attack) is reported late, with its estimated time.
                tonal_onset = self._tonal_onsets.step(float(tonal[i]), t, self._last_onset_s)
                # Only where attacks are rare: elsewhere the onset function hears the notes, and a
                # drum's or a plucked string's ringing would add false ones.
                sparse = len(self._attacks) < _ATTACKS_MAX or t - self._attacks[0] > _ATTACKS_S
                if tonal_onset is not None and strength[i] == 0.0 and sparse:
                    onset_time[i], strength[i] = tonal_onset
                    self._last_onset_s = float(onset_time[i])
        return onset_time

    def _separate(self, mel_power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Percussive and harmonic power [count] of each row, by causal median filtering.

        Harmonic sound is steady over time, so its estimate is each band's median over the
        last few rows; percussive sound is broadband, so its estimate is each row's median
        over neighbouring bands (Fitzgerald's HPSS, with the time median made causal). Soft
        masks split every row's energy between the two.
        """
        # Pairs of neighbouring mel bands are plenty to tell steady from broadband sound.
        pairs = mel_power.shape[1] // 2
        mel_power = mel_power[:, : 2 * pairs].reshape(len(mel_power), pairs, 2).sum(2)
        rows = np.vstack([self._mel_history, mel_power])
        n = self._harmonic_rows
        self._mel_history = rows[-(n - 1):]
        count, k = len(mel_power), _PERCUSSIVE_BANDS
        across_time = median_of([rows[i : i + count] for i in range(n)])   # odd sizes: the median is one element
        padded = np.pad(mel_power, ((0, 0), (k // 2, k // 2)), mode="edge")
        across_freq = median_of([padded[:, i : i + pairs] for i in range(k)])
        h2, p2 = across_time ** 2, across_freq ** 2
        mask = p2 / np.maximum(p2 + h2, 1e-30)
        percussive = (mel_power * mask).sum(1)
        harmonic = (mel_power * (1.0 - mask)).sum(1)
        return percussive, harmonic


def analyse_signal(mono: np.ndarray, settings: AnalysisSettings, block_size: int = 65536,
                   analyzer: Analyzer | None = None) -> FeatureTrack:
    """Run a fresh Analyzer (or ``analyzer``) over a whole mono signal at ``settings.sample_rate``, in blocks."""
    analyzer = analyzer or Analyzer(settings)
    parts = [analyzer.process(mono[i : i + block_size]) for i in range(0, max(len(mono), 1), block_size)]
    return FeatureTrack.concat(parts)
