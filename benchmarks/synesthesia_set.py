"""Songs whose sections come back, for measuring whether similar music looks similar.

    python benchmarks/synesthesia_set.py [--variant tuning|test] [--out DIR]

Each song is a sequence of 12 s sections in ten styles (piano, strings, choir, pad, guitar,
house, techno, trap, reggae, a rock band), rendered by FluidSynth from scores written with the
builders of the analysis set (benchmarks/analysis_set.py, analysis_styles.py) on music21
chorales. A style comes back within a song and across songs, each time on another chorale at
another tempo ("the same kind of music heard again"); and every song is verse-chorus shaped,
A B A C A, its chorus A coming back note for note (a repeated passage). "tuning" is the set the music map was looked at on;
"test" (other chorales, tempi and seeds, other songs) is held out and run once per change.

Nothing is downloaded but the Debian packages (fluidsynth, fluid-soundfont-gm) and music21's
corpus, which ships in its PyPI package; no audio is committed. ``index.json`` beside the WAVs
lists every song's sections: start, end (s), style, and which occurrence of the style it is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

import analysis_set as aset
import analysis_styles as astyles

SECTION_S = 12.0
FADE_S = 0.05          # sections are joined with a short cross-fade, as an edit would
SET_VERSION = 2
STYLES = ("piano", "strings", "choir", "pad", "guitar", "house", "techno", "trap", "reggae", "rock")
PROGRAMS = {"piano": 0, "strings": 48, "choir": 52, "pad": 89, "guitar": 24}
TEMPO = {"piano": (72, 120), "strings": (66, 84), "choir": (80, 100), "pad": (70, 90), "guitar": (88, 116),
         "house": (120, 128), "techno": (128, 136), "trap": (136, 146), "reggae": (70, 80), "rock": (110, 150)}

# variant -> (seed, chorales to draw sections from, songs as (chorus, verse 1, verse 2) styles: A B A C A)
VARIANTS = {
    "tuning": (606, ["bach/bwv26.6", "bach/bwv28.6", "bach/bwv3.6", "bach/bwv30.6", "bach/bwv32.6", "bach/bwv33.6",
                     "bach/bwv36.4", "bach/bwv37.6", "bach/bwv38.6", "bach/bwv39.7", "bach/bwv4.8", "bach/bwv40.3"],
               [("house", "piano", "techno"), ("piano", "rock", "choir"), ("strings", "trap", "pad"),
                ("reggae", "guitar", "house"), ("techno", "choir", "reggae"), ("pad", "house", "strings")]),
    "test": (919, ["bach/bwv41.6", "bach/bwv42.7", "bach/bwv43.11", "bach/bwv44.7", "bach/bwv45.7",
                   "bach/bwv47.5", "bach/bwv48.3", "bach/bwv48.7", "bach/bwv5.7", "bach/bwv52.6"],
             [("rock", "pad", "house"), ("guitar", "techno", "strings"), ("choir", "reggae", "piano"),
              ("trap", "strings", "guitar")]),
}
SHAPE = (0, 1, 0, 2, 0)   # which of the song's three parts each section plays


def section_score(style: str, chorale: str, bpm: float, rng: np.random.Generator) -> aset.Score:
    """One style on one chorale at ``bpm`` (a 30 s piece; a section is cut from it)."""
    if style in PROGRAMS:
        return aset.chorale(style, style, chorale, PROGRAMS[style], bpm, rng)
    if style == "rock":
        return aset.band(style, chorale, "rock", [(0.0, bpm)], rng)
    return astyles.groove(style, style, chorale, bpm, rng)


def render_section(score: aset.Score, tmp: Path) -> np.ndarray:
    import soundfile as sf

    midi, wav = tmp / "s.mid", tmp / "s.wav"
    aset.write_midi(score, midi)
    aset.render(midi, wav, SECTION_S + 1.0)
    audio, _ = sf.read(wav, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    skip = int(0.5 * aset.SAMPLE_RATE)  # past a chorale's pickup silence
    return audio[skip:skip + int(SECTION_S * aset.SAMPLE_RATE)]


def join(sections: list[np.ndarray]) -> np.ndarray:
    fade = int(FADE_S * aset.SAMPLE_RATE)
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    out = sections[0].copy()
    for s in sections[1:]:
        s = s.copy()
        s[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
        out = np.concatenate([out, s])
    return out


def build(out: Path, variant: str) -> list[dict]:
    index = out / "index.json"
    if index.exists():
        return json.loads(index.read_text())
    if shutil.which("fluidsynth") is None or not aset.SOUNDFONT.exists():
        raise SystemExit("error: the set needs FluidSynth and its GM soundfont: apt-get install fluidsynth "
                         "fluid-soundfont-gm")
    import soundfile as sf

    seed, chorales, songs = VARIANTS[variant]
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    index_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, song in enumerate(songs):
            audio, rows = [], []
            for k, part in enumerate(SHAPE):
                style = song[part]
                if part == 0 and k > 0:  # the chorus again, note for note
                    audio.append(audio[0])
                    rows.append(dict(rows[0], start_s=k * SECTION_S, end_s=(k + 1) * SECTION_S, exact_repeat=True))
                    continue
                lo, hi = TEMPO[style]
                bpm = float(rng.integers(lo, hi + 1))
                chorale = chorales[int(rng.integers(len(chorales)))]
                audio.append(render_section(section_score(style, chorale, bpm, rng), Path(tmp)))
                seen[style] = seen.get(style, 0) + 1
                rows.append(dict(style=style, occurrence=seen[style], chorale=chorale, bpm=bpm,
                                 start_s=k * SECTION_S, end_s=(k + 1) * SECTION_S, exact_repeat=False))
            name = f"song{n + 1}.wav"
            song_audio = join(audio)
            sf.write(out / name, song_audio * (0.7 / max(1e-6, float(np.abs(song_audio).max()))), aset.SAMPLE_RATE,
                     subtype="PCM_16")
            index_rows.append(dict(file=name, sections=rows))
            print(f"  {name}: {' '.join(r['style'] for r in rows)}", flush=True)
    index.write_text(json.dumps(index_rows, indent=1))
    return index_rows


def default_dir(variant: str) -> Path:
    return Path.home() / ".cache" / "visualizer" / f"synesthesia-set-{variant}-v{SET_VERSION}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", choices=list(VARIANTS), default="tuning")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    out = args.out or default_dir(args.variant)
    songs = build(out, args.variant)
    print(f"{len(songs)} songs in {out}")


if __name__ == "__main__":
    main()
