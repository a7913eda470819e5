"""Synthesised demo music and test signals, so nothing has to be downloaded.

``demo_loop`` is a drum + bass + chord loop; ``click_track`` puts short clicks at
known times. Both are deterministic: the same arguments give the same samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# A minor - F major - C major - G major, as MIDI note numbers of the chord tones.
_PROGRESSION = ((57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62))


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def _place(out: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(len(out), start + len(sound))
    if end > start:
        out[start:end] += sound[: end - start]


def demo_loop(*, sample_rate: int = 44100, bpm: float = 120.0, bars: int = 8, seed: int = 0) -> np.ndarray:
    """A stereo loop: kick, snare, hi-hats, a bass line and pad chords; float32 [2, frames]."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    frames = int(round(bars * 4 * beat * sample_rate))
    drums = np.zeros(frames, np.float32)
    bass = np.zeros(frames, np.float32)
    pads = np.zeros((2, frames), np.float32)
    t = np.arange(int(0.5 * sample_rate)) / sample_rate

    kick = np.sin(2 * np.pi * (50 * t + 60 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 9)
    snare = (rng.standard_normal(len(t)) * 0.6 + np.sin(2 * np.pi * 190 * t)) * np.exp(-t * 22)
    hat_t = t[: int(0.06 * sample_rate)]
    hat = np.diff(rng.standard_normal(len(hat_t) + 1)) * np.exp(-hat_t * 70) * 0.25

    for b in range(bars * 4):
        start = int(round(b * beat * sample_rate))
        bar, step = divmod(b, 4)
        # The first bar is chords only: the drums come in on bar 2, so the picture has a build.
        if bar >= 1:
            _place(drums, kick.astype(np.float32) * 0.9, start)
            if step in (1, 3):
                _place(drums, snare.astype(np.float32) * 0.45, start)
            for half in (0, 1):
                _place(drums, hat.astype(np.float32), start + int(round(half * beat / 2 * sample_rate)))
        chord = _PROGRESSION[bar % len(_PROGRESSION)]
        note_t = np.arange(int(beat * sample_rate)) / sample_rate
        root = _midi_hz(chord[0] - 24)
        bass_note = np.sign(np.sin(2 * np.pi * root * note_t)) * 0.18 * np.exp(-note_t * 3)
        _place(bass, bass_note.astype(np.float32), start)
        if step == 0:
            bar_t = np.arange(int(4 * beat * sample_rate)) / sample_rate
            env = np.minimum(bar_t / 0.05, 1.0) * np.exp(-bar_t * 0.6)
            for k, note in enumerate(chord):
                tone = np.sin(2 * np.pi * _midi_hz(note) * bar_t) + 0.3 * np.sin(4 * np.pi * _midi_hz(note) * bar_t)
                pan = 0.3 + 0.2 * k
                _place(pads[0], (tone * env * 0.09 * (1 - pan)).astype(np.float32), start)
                _place(pads[1], (tone * env * 0.09 * pan).astype(np.float32), start)
    mix = pads + (drums + bass)[None, :]
    return (mix / max(1.0, float(np.abs(mix).max()) / 0.9)).astype(np.float32)


def click_track(click_times_s: list[float] | np.ndarray, *, duration_s: float, sample_rate: int = 44100,
                level: float = 0.8) -> np.ndarray:
    """Mono float32 [frames] silence with a 5 ms decaying noise-burst click at each time."""
    rng = np.random.default_rng(1)
    out = np.zeros(int(round(duration_s * sample_rate)), np.float32)
    n = int(0.005 * sample_rate)
    click = (rng.uniform(-1, 1, n) * np.exp(-np.arange(n) / (n / 4)) * level).astype(np.float32)
    for t in click_times_s:
        _place(out, click, int(round(t * sample_rate)))
    return out


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write float32 [frames] or [channels, frames] samples as 16-bit PCM WAV."""
    import soundfile

    path = Path(path)
    data = samples.T if samples.ndim == 2 else samples
    soundfile.write(str(path), data, sample_rate, subtype="PCM_16")
    return path
