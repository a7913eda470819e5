"""Styles the tuning, validation and test sets lack, as two more variants of the evaluation set.

    python benchmarks/analysis_set.py --variant styles|styles-test

The first three variants share their drum patterns and instruments, so a constant chosen on
them may fit those patterns rather than music. These pieces are grooves and voicings none of
them has, written for this check before any of it was run:

- electronic: house and disco (a kick on every beat), techno with a sixteenth-note arpeggio,
  trap (half-time snare, hi-hat rolls, a long 808 bass), a breakbeat at drum-and-bass tempo;
  harmony held for a bar, as dance music holds it;
- groove: swung hip-hop (boom bap), a blues shuffle (triplet feel), a reggae one drop
  (kick and rim on beat 3 only), a bossa nova (clave over two bars);
- tonal: chorales on electric piano, marimba, brass and vibraphone.

Harmony and bass lines come from music21 chorales (not those of the other variants), sampled
once per bar or half bar. "styles" is for looking at; "styles-test" (other seed, chorales and
tempi) is run once per change and never tuned on.
"""

from __future__ import annotations

import numpy as np

from analysis_set import (CLAP, DRUM_CHANNEL, HAT, KICK, OPEN_HAT, PIECE_S, RIDE, SIDE_STICK, SNARE, Note,
                          Score, chorale, chorale_voices, repeat)

T = 2.0 / 3.0      # the swung eighth: the last third of the beat

# One bar (or two, for bossa) of drums: (quarter position, GM drum key, velocity).
GROOVES: dict[str, tuple[float, list[tuple[float, int, int]]]] = {
    "house": (4, [*((q, KICK, 120) for q in range(4)), (1, CLAP, 100), (3, CLAP, 100),
                  *((q + 0.5, OPEN_HAT, 80) for q in range(4)), *((q + 0.25, HAT, 45) for q in range(4)),
                  *((q + 0.75, HAT, 45) for q in range(4))]),
    "disco": (4, [*((q, KICK, 115) for q in range(4)), (1, SNARE, 100), (3, SNARE, 100),
                  *((q + 0.5, OPEN_HAT, 85) for q in range(4)), *((q, HAT, 55) for q in range(4))]),
    "techno": (4, [*((q, KICK, 120) for q in range(4)), *((q + 0.5, HAT, 85) for q in range(4)),
                   *((q, RIDE, 55) for q in range(4)), (1.75, SIDE_STICK, 70), (3.25, SIDE_STICK, 70)]),
    "trap": (4, [(0, KICK, 115), (0.75, KICK, 95), (2.5, KICK, 105), (2, CLAP, 115), (2, SNARE, 100),
                 *((i / 2, HAT, 70) for i in range(6)), *((3 + i / 4, HAT, 60) for i in range(4))]),
    "breakbeat": (4, [(0, KICK, 115), (0.5, KICK, 95), (2.5, KICK, 110), (1, SNARE, 115), (1.75, SNARE, 55),
                      (3, SNARE, 115), (3.75, SNARE, 55), *((i / 2, HAT, 70) for i in range(8))]),
    "boom-bap": (4, [(0, KICK, 115), (2 + T, KICK, 100), (1, SNARE, 110), (3, SNARE, 110),
                     *((q, HAT, 75) for q in range(4)), *((q + T, HAT, 55) for q in range(4))]),
    "shuffle": (4, [(0, KICK, 105), (2, KICK, 105), (1, SNARE, 100), (3, SNARE, 100),
                    *((q, RIDE, 80) for q in range(4)), *((q + T, RIDE, 60) for q in range(4))]),
    "reggae": (4, [(2, KICK, 110), (2, SIDE_STICK, 100), *((q, HAT, 60) for q in range(4)),
                   *((q + 0.5, HAT, 45) for q in range(4))]),
    "bossa": (8, [*((b + q, KICK, k) for b in (0, 2, 4, 6) for q, k in ((0, 95), (1.5, 80))),
                  *((e / 2, SIDE_STICK, 90) for e in (0, 3, 6, 10, 13)), *((i / 2, HAT, 55) for i in range(16))]),
}

# Per style: (GM program, how the harmony plays) for chords, a lead (or None) and the bass.
# chords: "hold" the bar's chord, "skank" short chords on 2 and 4, "comp" on 1 and the and of 2;
# bass: "offbeat" eighths, "octaves", "kick" (808 on the kicks),
# "roots" on 1 and 3.
PARTS = {
    "house": dict(chords=(89, "hold"), bass=(38, "offbeat"), every=4),
    "disco": dict(chords=(48, "hold"), bass=(38, "octaves"), every=4),
    "techno": dict(chords=(90, "hold"), lead=(81, "arpeggio"), bass=(38, "roots"), every=4),
    "trap": dict(chords=(88, "hold"), bass=(38, "kick"), every=4),
    "breakbeat": dict(chords=(89, "hold"), bass=(38, "roots"), every=4),
    "boom-bap": dict(chords=(4, "comp"), bass=(33, "roots"), every=2),
    "shuffle": dict(chords=(27, "comp"), bass=(33, "roots"), every=2),
    "reggae": dict(chords=(16, "skank"), bass=(33, "roots"), every=2),
    "bossa": dict(chords=(24, "comp"), bass=(32, "roots"), every=2),
}

CATEGORY = {"house": "electronic", "disco": "electronic", "techno": "electronic", "trap": "electronic",
            "breakbeat": "electronic"}

# variant -> (seed, chorales for the nine grooves then the four tonal pieces, tempi in BPM)
STYLES = {
    "styles": (3131,
               ["bach/bwv177.5", "bach/bwv18.5", "bach/bwv180.7", "bach/bwv183.5", "bach/bwv184.5",
                "bach/bwv194.6", "bach/bwv195.6", "bach/bwv2.6", "bach/bwv20.7", "bach/bwv24.6",
                "bach/bwv25.6", "bach/bwv26.6", "bach/bwv28.6"],
               dict(house=124, disco=118, techno=132, trap=140, breakbeat=172, **{"boom-bap": 90}, shuffle=108,
                    reggae=76, bossa=132, epiano=96, marimba=112, brass=84, vibraphone=100)),
    "styles-test": (5151,
                    ["bach/bwv3.6", "bach/bwv30.6", "bach/bwv32.6", "bach/bwv33.6", "bach/bwv36.4",
                     "bach/bwv37.6", "bach/bwv38.6", "bach/bwv39.7", "bach/bwv4.8", "bach/bwv40.3",
                     "bach/bwv183.5", "bach/bwv2.6", "bach/bwv24.6"],
                    dict(house=126, disco=122, techno=136, trap=144, breakbeat=168, **{"boom-bap": 86},
                         shuffle=112, reggae=72, bossa=128, epiano=92, marimba=104, brass=88, vibraphone=116)),
}
TONAL = {"epiano": 4, "marimba": 12, "brass": 61, "vibraphone": 11}


def chords(piece: str, bpm: float, every_q: float, length_q: float) -> list[tuple[float, list[int]]]:
    """The chorale's sounding pitches sampled every ``every_q`` quarters from 0 to ``length_q``
    (the last chord held where the chorale rests)."""
    voices, pickup = chorale_voices(piece)
    notes = [n for v in repeat(voices, pickup, bpm) for n in v]
    out: list[tuple[float, list[int]]] = []
    for q in np.arange(0.0, length_q, every_q):
        sounding = sorted({n.pitch for n in notes if n.start_q + pickup <= q + 1e-6 < n.start_q + pickup + n.length_q})
        out.append((float(q), sounding or (out[-1][1] if out else [60, 64, 67])))
    return out


def groove(name: str, style: str, piece: str, bpm: float, rng: np.random.Generator) -> Score:
    """Drums, bass and harmony (and a lead) of one style at ``bpm``, about ``PIECE_S`` long."""
    span, pattern = GROOVES[style]
    parts = PARTS[style]
    length_q = span * (int(np.ceil(PIECE_S * bpm / 60.0 / span)) + 1)
    notes: list[Note] = []

    def play(q: float, length: float, pitch: int, velocity: int, channel: int) -> None:
        notes.append(Note(q, length, pitch, int(np.clip(velocity + rng.integers(-8, 9), 1, 127)), channel))

    for start in np.arange(0.0, length_q, span):
        for q, key, vel in pattern:
            play(start + q, 0.25, key, vel, DRUM_CHANNEL)
    every = parts["every"]
    for q, chord in chords(piece, bpm, every, length_q):
        upper, root = chord[1:] or chord, chord[0] - 12
        kind = parts["chords"][1]
        hits = {"hold": [(0, every)], "comp": [(0, 0.9), (1.5, 0.4)], "skank": [(1, 0.3)]}[kind]
        for dq, length in hits:
            for p in upper:
                play(q + dq, length, p, 70, 0)
        if "lead" in parts:
            arp = sorted(upper) + [p + 12 for p in sorted(upper)]
            for i in range(int(every * 4)):
                play(q + i / 4, 0.2, arp[i % len(arp)], 75, 1)
        bass = parts["bass"][1]
        if bass == "offbeat":
            steps = [(b + 0.5, 0.4, root) for b in range(int(every))]
        elif bass == "octaves":
            steps = [(i / 2, 0.4, root + 12 * (i % 2)) for i in range(int(every * 2))]
        elif bass == "kick":
            steps = [(hq, 0.7, root - 12) for hq, key, _ in pattern if key == KICK and hq < every]
        else:
            steps = [(b, 0.9, root) for b in range(0, int(every), 2)]
        for dq, length, pitch in steps:
            play(q + dq, length, pitch, 90, 2)
    programs = {0: parts["chords"][0], 2: parts["bass"][0]}
    if "lead" in parts:
        programs[1] = parts["lead"][0]
    return Score(name, CATEGORY.get(style, "groove"), notes, [(0.0, bpm)], programs)


def scores(variant: str) -> list[Score]:
    seed, c, t = STYLES[variant]
    rng = np.random.default_rng(seed)
    out = [groove(f"{style}-{t[style]}", style, c[k], t[style], rng) for k, style in enumerate(GROOVES)]
    out += [chorale(f"{kind}-{t[kind]}", "tonal", c[len(GROOVES) + k], program, t[kind], rng)
            for k, (kind, program) in enumerate(TONAL.items())]
    return out
