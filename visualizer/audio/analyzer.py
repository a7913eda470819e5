"""A causal, streaming audio analyzer: blocks of samples in, one feature row per hop out.

Frame ``i`` is the ``n_fft`` samples that end at sample ``(i + 1) * hop_length`` (the
stream is zero-padded before its start), so each row describes only audio already
heard and its time is the end of its window. Feeding the same samples in blocks of any
size gives the same rows, which is what lets the live and offline paths share it.
"""

from __future__ import annotations

import math

import numpy as np

from visualizer.audio.features import FeatureTrack
from visualizer.settings import AnalysisSettings

_SILENCE_DB = -80.0     # below this RMS level (dBFS) a band or the loudness reads 0
_DYNAMIC_RANGE_DB = 42.0  # span mapped onto 0..1 below the adaptive peak
_MIN_PEAK_DB = -50.0    # the adaptive peak never falls below this: quiet rooms stay dark
_CENTROID_LO_HZ, _CENTROID_HI_HZ = 100.0, 8000.0
_MEL_GAIN = 1000.0      # log-compression strength of mel power relative to the peak level


class DecibelNormalizer:
    """Maps a level in dB onto 0..1 relative to a decaying running peak.

    The peak jumps up at once and falls by ``_DYNAMIC_RANGE_DB`` every ``release_s``,
    so a quiet master and a loud one both drive the whole range after a few seconds.
    """

    def __init__(self, release_s: float, hop_s: float, min_peak_db: float = _MIN_PEAK_DB) -> None:
        self.fall_per_hop = _DYNAMIC_RANGE_DB * hop_s / release_s
        self.min_peak_db = min_peak_db
        self.peak = min_peak_db

    def __call__(self, level_db: float) -> float:
        self.peak = max(level_db, self.peak - self.fall_per_hop, self.min_peak_db)
        if level_db <= _SILENCE_DB:
            return 0.0
        return min(1.0, max(0.0, 1.0 - (self.peak - level_db) / _DYNAMIC_RANGE_DB))


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
        # Onsets use the newest half of each frame only: a shorter window sees a hit sooner
        # (the Hann taper hides whatever sits in a window's last quarter).
        self._onset_fft = max(s.hop_length, s.n_fft // 2)
        self._onset_window = np.hanning(self._onset_fft + 1)[:-1]
        self._onset_ref = float(self._onset_fft * np.sum(self._onset_window ** 2) / 2.0)
        # Short windows have few bins; more mel bands than bins/8 would leave some empty.
        n_mels = min(s.n_mels, self._onset_fft // 8)
        self._mel = librosa.filters.mel(sr=s.sample_rate, n_fft=self._onset_fft, n_mels=n_mels,
                                        fmin=30.0, fmax=min(16000.0, s.sample_rate / 2)).astype(np.float64)
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
        self._prev_logmel: np.ndarray | None = None
        self._loud_norm = DecibelNormalizer(s.norm_release_s, self.hop_s)
        self._band_norms = [DecibelNormalizer(s.norm_release_s, self.hop_s) for _ in range(3)]
        self._onset_level = DecibelNormalizer(s.norm_release_s, self.hop_s, min_peak_db=_SILENCE_DB)
        self._flux_peak = 1e-3
        self._flux_fall = math.exp(-self.hop_s / s.norm_release_s)
        self._flux_mean = 0.0
        self._flux_mean_coef = 1.0 - math.exp(-self.hop_s / 0.25)
        self._last_onset_s = -1e9
        self._open_onset = 0.0  # strength of an onset picked on the previous row, else 0

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
        # float64 keeps rows identical (to ~1e-12) however the stream was cut into blocks.
        power = np.abs(np.fft.rfft(frames.astype(np.float64) * self._window, axis=1)) ** 2  # [count, bins]
        level_db = 10.0 * np.log10(power.sum(1) / self._power_ref + 1e-12)
        band_db = 10.0 * np.log10(power @ self._bands.T / self._power_ref + 1e-12)  # [count, 3]
        recent = frames[:, -self._onset_fft:].astype(np.float64) * self._onset_window
        mel_power = (np.abs(np.fft.rfft(recent, axis=1)) ** 2 @ self._mel.T) / self._onset_ref  # [count, n_mels]
        chroma = power @ self._chroma.T  # [count, 12]
        mag = np.sqrt(power)
        centroid_hz = (mag @ self._freqs) / np.maximum(mag.sum(1), 1e-12)

        times = (self._frames_done + 1 + np.arange(count)) * self.hop_s
        self._frames_done += count
        loud = np.empty(count, np.float32)
        bands = np.empty((count, 3), np.float32)
        flux_n = np.empty(count, np.float32)
        onset = np.zeros(count, np.float32)
        s = self.settings
        for i in range(count):
            loud[i] = self._loud_norm(float(level_db[i]))
            for b in range(3):
                bands[i, b] = self._band_norms[b](float(band_db[i, b]))
            # SuperFlux-style: compare with a maximum-filtered previous frame, so vibrato
            # (energy moving to a neighbouring band) is not mistaken for a new note.
            # The log compression is taken relative to the running peak level, so a quiet
            # master yields the same onset function as a loud one.
            # (The peak is tracked on the onset window itself: the full frame's taper would
            # make a hit's first frame read far quieter than its onset window hears it.)
            self._onset_level(10.0 * math.log10(float(mel_power[i].sum()) + 1e-12))
            logmel = np.log1p(_MEL_GAIN * mel_power[i] * 10.0 ** (-self._onset_level.peak / 10.0))
            prev = self._prev_logmel if self._prev_logmel is not None else logmel
            prev_max = np.maximum(prev, np.maximum(np.roll(prev, 1), np.roll(prev, -1)))
            flux = float(np.maximum(logmel - prev_max, 0.0).sum())
            self._prev_logmel = logmel
            self._flux_peak = max(flux, self._flux_peak * self._flux_fall, 1e-3)
            value = flux / self._flux_peak
            flux_n[i] = value
            if (value >= s.onset_threshold and value > 2.0 * self._flux_mean + 0.05
                    and loud[i] > 0.0 and times[i] - self._last_onset_s >= s.onset_min_gap_s):
                onset[i] = value
                self._last_onset_s = float(times[i])
                self._open_onset = value
            elif self._open_onset:
                # A hit that straddles two frames shows only part of its flux in the first;
                # the next row may raise the strength (no look-ahead: it is reported then).
                if value > self._open_onset:
                    onset[i] = value
                self._open_onset = 0.0
            self._flux_mean += self._flux_mean_coef * (value - self._flux_mean)

        peak = chroma.max(1, keepdims=True)
        chroma = np.where(peak > 1e-9 * self._power_ref, chroma / np.maximum(peak, 1e-30), 0.0)
        centroid = np.log(np.clip(centroid_hz, _CENTROID_LO_HZ, _CENTROID_HI_HZ) / _CENTROID_LO_HZ)
        centroid /= math.log(_CENTROID_HI_HZ / _CENTROID_LO_HZ)
        centroid = np.where(loud > 0.0, centroid, 0.0)
        return FeatureTrack(
            time_s=times.astype(np.float64), loudness=loud, loudness_db=level_db.astype(np.float32),
            bands=bands, flux=flux_n, onset=onset, chroma=chroma.astype(np.float32),
            centroid=centroid.astype(np.float32),
        )


def analyse_signal(mono: np.ndarray, settings: AnalysisSettings, block_size: int = 65536) -> FeatureTrack:
    """Run a fresh Analyzer over a whole mono signal at ``settings.sample_rate``, in blocks."""
    analyzer = Analyzer(settings)
    parts = [analyzer.process(mono[i : i + block_size]) for i in range(0, max(len(mono), 1), block_size)]
    return FeatureTrack.concat(parts)
