"""What the streaming analyzer heard in a file, as data and as JSON (``visualizer analyze``).

JSON schema ``visualizer-analysis/1`` (all times in seconds from the start of the file):

``file``, ``duration_s``, ``sample_rate`` (Hz, of the analysis), ``hop_length`` (samples), ``hop_s``
    what was analysed and the time between two feature rows.
``settings``
    the ``[analysis]`` settings used (the same keys as in the settings file).
``onsets``
    list of ``{"time_s", "strength"}``: when each onset began and how strong it was (0..1).
``beats``
    list of ``{"time_s", "confidence", "bar_start", "bar_index"}``: predicted beat times; ``bar_start``
    marks a bar's first beat once the meter is clear (``bar_index`` counts bars, -1 while unclear).
``tempo``
    list of ``{"time_s", "bpm", "confidence"}`` every ``tempo_interval_s`` (0.5 s): the running
    estimate (``bpm`` 0 while unknown).
``frames``
    per-row columns, each a list as long as ``frames.time_s``: ``time_s`` (end of the row's window),
    ``loudness``, ``loudness_db``, ``bass``, ``mid``, ``treble``, ``flux``, ``onset``, ``percussive``,
    ``harmonic``, ``centroid``, ``beat``, ``beat_phase``, ``bar``, ``tempo_bpm``, ``tempo_confidence``,
    and ``chroma`` (a list of 12 values per row, C first). These are the values the settings'
    ``[[mappings]]`` read (``tempo`` there is ``tempo_bpm`` mapped from 60..180 BPM onto 0..1).
``listener`` (absent with ``--no-listen``)
    what the listener heard (visualizer/listen/listener.py): ``update_s``, ``tags`` (names),
    ``time_s`` (each update's window end) and ``probabilities`` (per update, one 0..1 value per tag),
    the values ``[[attributes]]`` read.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from visualizer.audio.analyzer import Analyzer, analyse_signal
from visualizer.audio.features import FeatureTrack
from visualizer.audio.sources import load_audio
from visualizer.errors import UserError
from visualizer.listen.listener import MusicTrack
from visualizer.listen.tags import TAGS
from visualizer.settings import AnalysisSettings

SCHEMA = "visualizer-analysis/1"
TEMPO_INTERVAL_S = 0.5


@dataclass(frozen=True)
class AnalysisReport:
    """The analyzer's output for one file, with how long the analysis took (``analysis_s``, wall seconds)."""

    path: str
    duration_s: float
    settings: AnalysisSettings
    track: FeatureTrack
    analysis_s: float
    music: MusicTrack | None = None    # the listener's tags over time
    update_s: float = 0.5

    @property
    def onset_times(self) -> np.ndarray:
        return self.track.onset_times()

    @property
    def beat_times(self) -> np.ndarray:
        return self.track.beat_times()

    def _tempo_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Times every ``TEMPO_INTERVAL_S`` [N] and the newest feature row at each [N]."""
        t = self.track.time_s
        if len(t) == 0:
            return np.zeros(0), np.zeros(0, np.int64)
        grid = np.arange(TEMPO_INTERVAL_S, t[-1] + 1e-9, TEMPO_INTERVAL_S)
        return grid, np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(t) - 1)

    @property
    def tempo_track(self) -> tuple[np.ndarray, np.ndarray]:
        """(times [N], bpm [N]) sampled every ``TEMPO_INTERVAL_S``."""
        grid, rows = self._tempo_rows()
        return grid, self.track.tempo_bpm[rows].astype(np.float64)

    def to_json(self) -> dict:
        tr = self.track
        grid, rows = self._tempo_rows()
        bpm = tr.tempo_bpm[rows]
        beat_rows = np.flatnonzero(~np.isnan(tr.beat_time_s))

        def col(values: np.ndarray, digits: int = 4) -> list:
            return np.round(values.astype(np.float64), digits).tolist()

        listener = {} if self.music is None else {"listener": {
            "update_s": self.update_s, "tags": list(TAGS), "time_s": col(self.music.time_s, 3),
            "probabilities": col(self.music.tags, 3)}}
        return {
            "schema": SCHEMA,
            "file": self.path,
            "duration_s": round(self.duration_s, 6),
            "sample_rate": self.settings.sample_rate,
            "hop_length": self.settings.hop_length,
            "hop_s": self.settings.hop_length / self.settings.sample_rate,
            "settings": asdict(self.settings),
            "onsets": [{"time_s": round(float(t), 4), "strength": round(float(s), 4)}
                       for t, s in zip(tr.onset_times(), tr.onset_strengths())],
            "beats": [{"time_s": round(float(tr.beat_time_s[r]), 4), "confidence": round(float(tr.beat[r]), 4),
                       "bar_start": bool(tr.bar[r] > 0), "bar_index": int(tr.bar_index[r])} for r in beat_rows],
            "tempo": [{"time_s": round(float(t), 3), "bpm": round(float(b), 2),
                       "confidence": round(float(tr.tempo_confidence[r]), 4)} for t, b, r in zip(grid, bpm, rows)],
            "frames": {
                "time_s": col(tr.time_s, 6), "loudness": col(tr.loudness), "loudness_db": col(tr.loudness_db, 2),
                "bass": col(tr.bands[:, 0]), "mid": col(tr.bands[:, 1]), "treble": col(tr.bands[:, 2]),
                "flux": col(tr.flux), "onset": col(tr.onset), "percussive": col(tr.percussive),
                "harmonic": col(tr.harmonic), "centroid": col(tr.centroid), "beat": col(tr.beat),
                "beat_phase": col(tr.beat_phase), "bar": col(tr.bar), "tempo_bpm": col(tr.tempo_bpm, 2),
                "tempo_confidence": col(tr.tempo_confidence), "chroma": col(tr.chroma, 3),
            },
            **listener,
        }


def analyse_file(path: str | Path, settings: AnalysisSettings, listen_update_s: float | None = None) -> AnalysisReport:
    """Decode ``path`` and run the streaming analyzer over it (block by block, as the live path does);
    with ``listen_update_s``, the listener too, on the live schedule (not counted in ``analysis_s``)."""
    clip = load_audio(path)
    mono = clip.mono_at(settings.sample_rate)
    analyzer = Analyzer(settings)  # built first: its filter banks (and librosa's start-up) are not analysis time
    started = time.perf_counter()
    track = analyse_signal(mono, settings, analyzer=analyzer)
    elapsed = time.perf_counter() - started
    music = None
    if listen_update_s:
        from visualizer.listen.listener import Listener, to_listener_rate

        music = Listener.bundled().track(to_listener_rate(clip.mono(), clip.sample_rate), listen_update_s)
    return AnalysisReport(path=str(path), duration_s=clip.duration_s, settings=settings, track=track,
                          analysis_s=elapsed, music=music, update_s=listen_update_s or 0.5)


def heard_lines(music: MusicTrack, duration_s: float, top: int = 3) -> list[str]:
    """The listener's strongest tags, averaged over stretches of at least 10 s (at most eight lines)."""
    stretch = max(10.0, duration_s / 8)
    lines = []
    for start in np.arange(0.0, duration_s, stretch):
        rows = (music.time_s > start) & (music.time_s <= start + stretch)
        if not rows.any():
            continue
        mean = music.tags[rows].mean(0)
        best = np.argsort(mean)[::-1][:top]
        lines.append(f"    {start:5.0f}-{min(start + stretch, duration_s):.0f} s: "
                     + ", ".join(f"{TAGS[i]} {mean[i]:.2f}" for i in best))
    return lines


def check_json_output(path: str | Path) -> Path:
    """Fail early, before the analysis, if the JSON file cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--json {path} is a folder; give a file name such as {path / 'analysis.json'}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"--json folder {folder} does not exist; create it or choose another file")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write to {path} (permission denied); choose another --json file")
    return path


def write_json(report: AnalysisReport, out: str | Path) -> None:
    """Write the report as JSON (``-`` for standard output)."""
    text = json.dumps(report.to_json(), separators=(",", ":"))
    if str(out) == "-":
        print(text)
        return
    try:
        Path(out).write_text(text + "\n")
    except OSError as exc:
        raise UserError(f"cannot write {out} ({exc.strerror or exc}); choose another --json file") from None


def summary(report: AnalysisReport) -> str:
    """A few lines for people: what was heard, and how fast."""
    tr = report.track
    t = tr.time_s
    settled = (t > 8.0) & (tr.tempo_bpm > 0)
    lines = [f"{report.path}: {report.duration_s:.1f} s, analysed in {report.analysis_s:.2f} s "
             f"({report.duration_s / max(report.analysis_s, 1e-9):.0f}x real time)"]
    onsets = tr.onset_times()
    lines.append(f"  onsets: {len(onsets)} ({len(onsets) / max(report.duration_s, 1e-9):.1f} per second)")
    if settled.any():
        bpm = float(np.median(tr.tempo_bpm[settled]))
        lines.append(f"  tempo: {bpm:.1f} BPM (median after 8 s), confidence "
                     f"{float(np.median(tr.tempo_confidence[settled])):.2f}")
    else:
        lines.append("  tempo: none found")
    beats = tr.beat_times()
    lines.append(f"  beats: {len(beats)}" + (f", first at {beats[0]:.2f} s" if len(beats) else ""))
    bars = tr.bar_times()
    lines.append(f"  bars: {len(bars)}" + (f" (meter clear from {bars[0]:.2f} s)" if len(bars) else
                                            " (no clear meter)"))
    if report.music is not None and len(report.music):
        lines.append("  heard (the listener's strongest tags):")
        lines += heard_lines(report.music, report.duration_s)
    return "\n".join(lines)
