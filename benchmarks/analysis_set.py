"""Builds the onset/beat evaluation set: scores rendered to audio with exact ground truth.

    python benchmarks/analysis_set.py [--variant tuning|validation|test|styles|styles-test] [--out DIR]

Nothing is downloaded and no audio is committed. Every piece is written here as a General
MIDI file (with its tempo map and time signature), rendered by FluidSynth with the
fluid-soundfont-gm soundfont (Debian packages ``fluidsynth`` and ``fluid-soundfont-gm``),
and its ground truth is read back from that MIDI file with pretty_midi: note onsets are
the note-on times (notes closer than 30 ms merged), beats and downbeats come from the
tempo map. Sources:

- Bach chorales from the music21 corpus (PyPI ``music21``) voiced for piano, organ, plucked
  strings, sustained strings and pads, at 70-150 BPM;
- drum patterns written below (rock, funk, half time, waltz, drum and bass) at 70-180 BPM;
- a "band": drums, bass and a chorale's upper voices, at 120-176 BPM;
- one band piece whose tempo jumps from 100 to 132 BPM halfway (recovery check);
- metronome clicks; and 20 s of silence and of white noise (false-positive check, no truth);
- real recordings without labels, for throughput and a sanity check (do the three systems
  hear the same tempo?): the music of Debian's ``frozen-bubble-data``, fetched with
  ``apt-get download`` (tuning variant only).

Two variants: "tuning", the set the analyzer's constants were chosen on, and "validation",
other chorales, tempi and random velocities, which says whether those choices generalise;
"test", held out from both. "styles" and "styles-test" (benchmarks/analysis_styles.py) hold
grooves and instruments the first three lack: electronic dance music, swing, reggae, bossa.

Each piece is listed in ``index.json`` beside the WAVs: name, category, file, onsets (s),
beats (s), downbeats (s), the tempo map [(time s, bpm)], and whether the tempo is steady.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22050
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PIECE_S = 30.0          # pieces are cut to this length
MERGE_S = 0.03          # note-ons closer than this are one onset
SET_VERSION = 4         # raised whenever the pieces or their ground truth change: old caches are not reused
TICKS = 480             # MIDI ticks per quarter note
DRUM_CHANNEL = 9
# General MIDI drum keys
KICK, SNARE, HAT, OPEN_HAT, RIDE, SIDE_STICK, CLAP = 36, 38, 42, 46, 51, 37, 39
METRONOME_CLICK, METRONOME_BELL = 33, 34
VOICES = ("Soprano", "Alto", "Tenor", "Bass")   # the chorale parts played, by (part of) their name


@dataclass
class Note:
    """One note in quarter-note units; ``channel`` 9 is the drum kit."""

    start_q: float
    length_q: float
    pitch: int
    velocity: int
    channel: int


@dataclass
class Score:
    name: str
    category: str
    notes: list[Note]
    tempo_map: list[tuple[float, float]]    # (quarter position, bpm), first at 0
    programs: dict[int, int] = field(default_factory=dict)   # channel -> GM program
    meter: int = 4                                           # quarter notes per bar


@dataclass
class Piece:
    """One audio file of the set and what is known about it."""

    name: str
    category: str
    file: str
    duration_s: float
    onsets: list[float]
    beats: list[float]
    downbeats: list[float]
    tempo_map: list[tuple[float, float]]    # (seconds, bpm)
    steady: bool


# ----------------------------------------------------------------------------- scores


def chorale_voices(name: str, transpose: int = 0) -> tuple[list[list[Note]], float]:
    """The four voices of a music21 corpus chorale as note lists (soprano first), and its pickup (q)."""
    from music21 import corpus

    score = corpus.parse(name).stripTies()
    # Some chorales carry obbligato parts (horn, recorders, trumpets and timpani, violin) before or
    # beside the choir's: take the four sung voices by name, not the first four parts.
    parts = []
    for voice in VOICES:
        named = [p for p in score.parts if voice in (p.partName or "")]
        if not named:
            raise ValueError(f"{name}: no {voice} part in {[p.partName for p in score.parts]}")
        parts.append(named[0])
    voices = []
    for part in parts:
        notes = []
        for n in part.flatten().notes:
            pitches = [p.midi for p in n.pitches]
            for p in pitches:
                notes.append(Note(float(n.offset), float(n.quarterLength), p + transpose, 80, 0))
        voices.append(notes)
    first_measure = parts[0].getElementsByClass("Measure")[0]
    # The parser records the anacrusis as the first bar's left padding; the bar's own length can
    # mislead (bwv161.6's made it read 2.75 quarters instead of 3).
    pickup = float(first_measure.paddingLeft) or float(
        first_measure.barDuration.quarterLength - first_measure.duration.quarterLength)
    return voices, pickup


def repeat(voices: list[list[Note]], pickup: float, bpm: float) -> list[list[Note]]:
    """The voices played again (after a bar's rest) until they fill ``PIECE_S`` at ``bpm``."""
    length_q = 4.0 * np.ceil((max(n.start_q + n.length_q for v in voices for n in v) + pickup) / 4.0) + 4.0
    copies = int(np.ceil(PIECE_S * bpm / 60.0 / length_q))
    return [[Note(n.start_q + k * length_q, n.length_q, n.pitch, n.velocity, n.channel)
             for k in range(copies) for n in v] for v in voices]


def chorale(name: str, category: str, piece: str, program: int, bpm: float, rng: np.random.Generator) -> Score:
    voices, pickup = chorale_voices(piece)
    voices = repeat(voices, pickup, bpm)
    notes = []
    for v in voices:
        for n in v:
            # Shift so the score starts on a beat of a full bar: the pickup's silence comes first.
            notes.append(Note(n.start_q + pickup, n.length_q, n.pitch, int(rng.integers(60, 100)), 0))
    return Score(name, category, notes, [(0.0, bpm)], {0: program})


def drum_pattern(kind: str, bars: int, rng: np.random.Generator) -> tuple[list[Note], int]:
    """A drum pattern ``bars`` long; returns the notes and the meter (quarters per bar)."""
    notes: list[Note] = []

    def hit(q: float, key: int, vel: int) -> None:
        notes.append(Note(q, 0.25, key, int(np.clip(vel + rng.integers(-8, 9), 1, 127)), DRUM_CHANNEL))

    meter = 3 if kind == "waltz" else 4
    for bar in range(bars):
        b = bar * meter
        if kind == "rock":
            for i in range(8):
                hit(b + i / 2, HAT, 70 if i % 2 else 90)
            for q in (0, 2.5):
                hit(b + q, KICK, 110)
            for q in (1, 3):
                hit(b + q, SNARE, 105)
        elif kind == "funk":
            for i in range(16):
                hit(b + i / 4, HAT, 85 if i % 4 == 0 else 55)
            for q in (0, 0.75, 2.5):
                hit(b + q, KICK, 110)
            for q in (1, 3):
                hit(b + q, SNARE, 110)
            hit(b + 3.75, SNARE, 60)
        elif kind == "halftime":
            for i in range(4):
                hit(b + i, RIDE, 80)
            hit(b, KICK, 115)
            hit(b + 2, SNARE, 110)
            hit(b + 3.5, KICK, 90)
        elif kind == "waltz":
            hit(b, KICK, 110)
            hit(b + 1, SIDE_STICK, 85)
            hit(b + 2, SIDE_STICK, 85)
            for i in range(6):
                hit(b + i / 2, HAT, 60)
        elif kind == "dnb":
            for i in range(8):
                hit(b + i / 2, HAT, 75)
            for q in (0, 2.5):
                hit(b + q, KICK, 115)
            for q in (1, 3):
                hit(b + q, SNARE, 115)
        elif kind == "clicks":
            hit(b, METRONOME_BELL, 110)
            for q in (1, 2, 3):
                hit(b + q, METRONOME_CLICK, 100)
        else:
            raise ValueError(kind)
    return notes, meter


def drums(name: str, kind: str, bpm: float, rng: np.random.Generator, category: str = "drums") -> Score:
    bars = int(np.ceil(PIECE_S * bpm / 60.0 / 4)) + 1
    notes, meter = drum_pattern(kind, bars, rng)
    return Score(name, category, notes, [(0.0, bpm)], meter=meter)


def band(name: str, piece: str, kind: str, tempo_map: list[tuple[float, float]], rng: np.random.Generator,
         category: str = "band") -> Score:
    """Drums + a bass guitar on the chorale's bass voice + piano/guitar on its upper voices."""
    voices, pickup = chorale_voices(piece)
    voices = repeat(voices, pickup, max(bpm for _, bpm in tempo_map))
    notes: list[Note] = []
    for v, channel in ((voices[0], 1), (voices[1], 2), (voices[2], 2), (voices[3], 3)):
        for n in v:
            pitch = n.pitch - 12 if channel == 3 else n.pitch
            notes.append(Note(n.start_q + pickup, n.length_q, pitch, int(rng.integers(60, 95)), channel))
    length_q = max(n.start_q + n.length_q for n in notes)
    drum_notes, _ = drum_pattern(kind, int(np.ceil(length_q / 4)), rng)
    notes += drum_notes
    return Score(name, category, notes, tempo_map, {1: 0, 2: 25, 3: 33})


# variant -> (random seed, ten music21 chorales, tempi in BPM per kind of piece)
VARIANTS = {
    "tuning": (2026,
               ["bach/bwv66.6", "bach/bwv253", "bach/bwv1.6", "bach/bwv10.7", "bach/bwv11.6",
                "bach/bwv110.7", "bach/bwv117.4", "bach/bwv122.6", "bach/bwv127.5", "bach/bwv13.6"],
               dict(piano=(72, 116), organ=84, harpsichord=132, guitar=100, harp=126, pizzicato=92, strings=70,
                    pad=90, choir=108, rock=(120, 180), funk=96, halftime=70, waltz=150, dnb=174,
                    band=(128, 104, 176, 144), change=((100, 132), (150, 118)), clicks=(100, 160),
                    slow=(88, 92))),
    "validation": (77,
                   ["bach/bwv140.7", "bach/bwv144.3", "bach/bwv145.5", "bach/bwv146.8", "bach/bwv148.6",
                    "bach/bwv151.5", "bach/bwv153.1", "bach/bwv154.3", "bach/bwv155.5", "bach/bwv156.6"],
                   dict(piano=(80, 140), organ=96, harpsichord=120, guitar=88, harp=110, pizzicato=104, strings=76,
                        pad=84, choir=96, rock=(108, 164), funk=112, halftime=78, waltz=138, dnb=168,
                        band=(136, 96, 170, 120), change=((90, 120), (140, 112)), clicks=(90, 140),
                        slow=(92, 86))),
    # Held out from every choice made on the other two: run once per decision, never tuned on.
    "test": (4242,
             ["bach/bwv161.6", "bach/bwv164.6", "bach/bwv165.6", "bach/bwv166.6", "bach/bwv168.6",
              "bach/bwv169.7", "bach/bwv171.6", "bach/bwv172.6", "bach/bwv174.5", "bach/bwv176.6"],
             dict(piano=(76, 128), organ=90, harpsichord=126, guitar=94, harp=118, pizzicato=98, strings=72,
                  pad=80, choir=102, rock=(114, 172), funk=100, halftime=74, waltz=144, dnb=170,
                  band=(124, 100, 160, 132), change=((96, 126), (144, 108)), clicks=(96, 150),
                  slow=(84, 96))),
}


def scores(variant: str = "tuning") -> list[Score]:
    """The pieces of one variant of the set: "tuning" (the analyzer's constants were chosen on it),
    "validation" (other chorales, tempi and voicings, to check that the choice generalises) or
    "test" (held out from both, to settle a choice the first two disagree on)."""
    import analysis_styles

    if variant in analysis_styles.STYLES:
        return analysis_styles.scores(variant)
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: {', '.join(variant_names())}")
    seed, c, t = VARIANTS[variant]
    rng = np.random.default_rng(seed)
    band_kinds = ("rock", "funk", "dnb", "rock")
    out = [
        chorale(f"piano-{t['piano'][0]}", "piano/organ", c[0], 0, t["piano"][0], rng),
        chorale(f"piano-{t['piano'][1]}", "piano/organ", c[1], 0, t["piano"][1], rng),
        chorale(f"organ-{t['organ']}", "piano/organ", c[2], 19, t["organ"], rng),
        chorale(f"harpsichord-{t['harpsichord']}", "piano/organ", c[3], 6, t["harpsichord"], rng),
        chorale(f"guitar-{t['guitar']}", "plucked", c[4], 24, t["guitar"], rng),
        chorale(f"harp-{t['harp']}", "plucked", c[5], 46, t["harp"], rng),
        chorale(f"pizzicato-{t['pizzicato']}", "plucked", c[6], 45, t["pizzicato"], rng),
        chorale(f"strings-{t['strings']}", "strings/pads", c[7], 48, t["strings"], rng),
        chorale(f"pad-{t['pad']}", "strings/pads", c[8], 89, t["pad"], rng),
        chorale(f"choir-{t['choir']}", "strings/pads", c[9], 52, t["choir"], rng),
        drums(f"rock-{t['rock'][0]}", "rock", t["rock"][0], rng),
        drums(f"funk-{t['funk']}", "funk", t["funk"], rng),
        drums(f"halftime-{t['halftime']}", "halftime", t["halftime"], rng),
        drums(f"waltz-{t['waltz']}", "waltz", t["waltz"], rng),
        drums(f"dnb-{t['dnb']}", "dnb", t["dnb"], rng),
        drums(f"rock-{t['rock'][1]}", "rock", t["rock"][1], rng),
    ]
    for k, (kind, bpm) in enumerate(zip(band_kinds, t["band"])):
        out.append(band(f"band-{kind}-{bpm}", c[(0, 3, 4, 8)[k]], kind, [(0.0, bpm)], rng))
    (a0, a1), (b0, b1) = t["change"]
    out.append(band(f"band-change-{a0}-{a1}", c[1], "rock", [(0.0, a0), (28.0, a1)], rng, category="tempo change"))
    out.append(band(f"band-change-{b0}-{b1}", c[5], "funk", [(0.0, b0), (40.0, b1)], rng, category="tempo change"))
    out += [drums(f"clicks-{bpm}", "clicks", bpm, rng, category="clicks") for bpm in t["clicks"]]
    # Rock at 84-96 BPM (set version 4): as common as it gets, and the slow side of the double-or-half
    # ambiguity that the fast drums (164-180 BPM) sit on the other side of. (Last, so the pieces
    # above keep their random draws.)
    out.append(drums(f"rock-{t['slow'][0]}", "rock", t["slow"][0], rng))
    out.append(band(f"band-rock-{t['slow'][1]}", c[6], "rock", [(0.0, t["slow"][1])], rng))
    return out


# ----------------------------------------------------------------------------- rendering


def write_midi(score: Score, path: Path) -> None:
    import mido

    mid = mido.MidiFile(ticks_per_beat=TICKS)
    meta = mido.MidiTrack()
    mid.tracks.append(meta)
    meta.append(mido.MetaMessage("time_signature", numerator=score.meter, denominator=4, time=0))
    events: list[tuple[int, int, mido.Message]] = []
    for q, bpm in score.tempo_map:
        events.append((round(q * TICKS), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    for channel, program in score.programs.items():
        events.append((0, 1, mido.Message("program_change", channel=channel, program=program)))
    for n in score.notes:
        on = round(n.start_q * TICKS)
        off = max(on + 1, round((n.start_q + n.length_q) * TICKS) - 1)
        events.append((on, 3, mido.Message("note_on", channel=n.channel, note=n.pitch, velocity=n.velocity)))
        events.append((off, 2, mido.Message("note_off", channel=n.channel, note=n.pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    now = 0
    for tick, _, msg in events:
        meta.append(msg.copy(time=tick - now))
        now = tick
    mid.save(str(path))


def ground_truth(path: Path, duration_s: float) -> tuple[list[float], list[float], list[float], list]:
    """Onsets, beats, downbeats and tempo map (s, bpm), read back from a MIDI file."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    starts = np.sort(np.concatenate([[n.start for n in inst.notes] for inst in pm.instruments]))
    onsets: list[float] = []
    for t in starts:
        if not onsets or t - onsets[-1] >= MERGE_S:
            onsets.append(float(t))
    end = duration_s - 0.05
    beats = [float(b) for b in pm.get_beats() if b < end]
    downbeats = [float(b) for b in pm.get_downbeats() if b < end]
    change_times, tempi = pm.get_tempo_changes()
    tempo_map = [(float(t), float(b)) for t, b in zip(change_times, tempi)]
    return [t for t in onsets if t < end], beats, downbeats, tempo_map


def render(midi: Path, wav: Path, duration_s: float) -> None:
    import soundfile as sf

    raw = wav.with_suffix(".raw.wav")
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SAMPLE_RATE), "-F", str(raw),
                    str(SOUNDFONT), str(midi)], check=True, stdout=subprocess.DEVNULL)
    audio, sr = sf.read(raw, dtype="float32", always_2d=True)
    raw.unlink()
    audio = audio[: int(duration_s * sr)]
    peak = float(np.abs(audio).max()) or 1.0
    sf.write(wav, audio * (0.7 / peak), sr, subtype="PCM_16")


def noise_pieces(out: Path) -> list[Piece]:
    import soundfile as sf

    rng = np.random.default_rng(7)
    n = int(20.0 * SAMPLE_RATE)
    pieces = []
    for name, audio in (("silence", np.zeros(n, np.float32)),
                        ("white-noise", (0.1 * rng.standard_normal(n)).astype(np.float32))):
        sf.write(out / f"{name}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
        pieces.append(Piece(name, "silence/noise", f"{name}.wav", 20.0, [], [], [], [], True))
    return pieces


RECORDINGS_PACKAGE = "frozen-bubble-data"   # DFSG-free game music, three OGG tracks of 1.5-3 min
RECORDINGS = ("frozen-mainzik-1p.ogg", "frozen-mainzik-2p.ogg", "introzik.ogg")


def recordings(out: Path) -> list[Piece]:
    """Real recordings without labels (throughput and sanity): Debian's Frozen Bubble music.

    Fetched with ``apt-get download`` (no root needed) and unpacked with ``dpkg-deb``; skipped
    with a note when the package cannot be downloaded.
    """
    import soundfile as sf

    pieces = []
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(["apt-get", "download", RECORDINGS_PACKAGE], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob("*.deb"))
        if got.returncode != 0 or not debs:
            print(f"  (skipping real recordings: apt-get download {RECORDINGS_PACKAGE} failed)", flush=True)
            return []
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), tmp], check=True)
        for name in RECORDINGS:
            found = list(Path(tmp).rglob(name))
            if not found:
                continue
            target = out / name
            shutil.copyfile(found[0], target)
            duration = sf.info(str(target)).duration
            pieces.append(Piece(Path(name).stem, "recordings", name, duration, [], [], [], [], True))
            print(f"  {name}: {duration:.0f} s (no labels)", flush=True)
    return pieces


def variant_names() -> tuple[str, ...]:
    """Every variant: this module's and ``analysis_styles``'s (imported here, as in ``scores``: it
    imports this module)."""
    import analysis_styles

    return (*VARIANTS, *analysis_styles.STYLES)


def build(out: Path, variant: str = "tuning") -> list[Piece]:
    """Writes the whole set under ``out`` (skips it when ``index.json`` is already there)."""
    index = out / "index.json"
    if index.exists():
        return load(out)
    if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
        raise SystemExit("error: the evaluation set needs FluidSynth and its GM soundfont; "
                         "install them with: apt-get install fluidsynth fluid-soundfont-gm")
    out.mkdir(parents=True, exist_ok=True)
    pieces = []
    with tempfile.TemporaryDirectory() as tmp:
        for score in scores(variant):
            midi = Path(tmp) / f"{score.name}.mid"
            write_midi(score, midi)
            wav = out / f"{score.name}.wav"
            render(midi, wav, PIECE_S)
            onsets, beats, downbeats, tempo_map = ground_truth(midi, PIECE_S)
            pieces.append(Piece(score.name, score.category, wav.name, PIECE_S, onsets, beats, downbeats,
                                tempo_map, steady=len(tempo_map) == 1))
            print(f"  {score.name}: {len(onsets)} onsets, {len(beats)} beats", flush=True)
    pieces += noise_pieces(out)
    if variant == "tuning":
        pieces += recordings(out)
    index.write_text(json.dumps([asdict(p) for p in pieces], indent=1))
    return pieces


def load(out: Path) -> list[Piece]:
    return [Piece(**p) for p in json.loads((out / "index.json").read_text())]


def default_dir(variant: str = "tuning") -> Path:
    return Path.home() / ".cache" / "visualizer" / f"analysis-set-{variant}-v{SET_VERSION}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=variant_names(), default="tuning")
    parser.add_argument("--out", type=Path, help="folder (default ~/.cache/visualizer/analysis-set-VARIANT-vN)")
    args = parser.parse_args()
    args.out = args.out or default_dir(args.variant)
    pieces = build(args.out, args.variant)
    print(f"{len(pieces)} pieces in {args.out}")


if __name__ == "__main__":
    main()
