"""The settings schema: every knob, its default, its unit and its documentation.

Settings are read from one TOML file. Anything the file leaves out keeps the default
given here; an unknown key or a bad value is refused with a message naming the key
(and the nearest known key, for typos). ``visualizer --print-settings`` writes this
schema out as a commented TOML file.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

from visualizer.errors import UserError
from visualizer.listen.tags import QUALITIES, TAGS

# What each mapping source reads, all 0..1 (the analyzer's features; docs/analysis-json.md has the details).
SOURCE_DOCS = {
    "loudness": "overall level, adaptively normalised",
    "bass": "level below analysis.bass_max_hz",
    "mid": "level between the bass and treble bands",
    "treble": "level above analysis.treble_min_hz",
    "onset": "strength of a note or hit as it starts (one frame), else 0",
    "flux": "spectral flux: how fast the spectrum is changing",
    "centroid": "brightness: spectral centroid from 100 Hz (0) to 8 kHz (1)",
    "percussive": "loudness times the share of the drum-like (broadband, short) part of the sound",
    "harmonic": "loudness times the share of the tonal (sustained) part of the sound",
    "beat": "1 on each tracked beat (one frame), else 0",
    "beat_phase": "position within the beat: 0 on the beat, rising to 1 just before the next",
    "bar": "1 on the first beat of each bar, once the meter is clear (one frame), else 0",
    "tempo": "tempo: 60 BPM (or none yet) reads 0, 180 BPM and faster read 1",
}
FEATURE_SOURCES = tuple(SOURCE_DOCS)
UNIFORM_TARGETS = ("flash", "zoom", "warp", "hue", "grain")
# 'jump' moves the walk on to the next keyframe each time its value rises through 0.5
# (map 'bar' or 'beat' to it to change the picture on the music's own clock); 'noise' scales a
# layered generator's (StyleGAN's) per-pixel noise by 1 + value.
LATENT_TARGETS = ("pulse", "speed", "jump", "noise")
CURVES = ("linear", "sqrt", "square", "smoothstep")
# Groups of a layered generator's (StyleGAN's) layers, by the resolution they work at.
LAYER_GROUPS = ("all", "coarse", "middle", "fine")
LAYERS_PATTERN = r"(all|coarse|middle|fine|\d+(-\d+)?)"
WALK_MODES = ("listen", "loop")
ATTRIBUTE_SOURCES = FEATURE_SOURCES + TAGS


class SettingsError(UserError):
    """The settings file has an unknown key, a bad value, or is not valid TOML."""


def _opt(default: Any, doc: str, *, lo: float | None = None, hi: float | None = None,
         choices: tuple[str, ...] | None = None, pattern: str | None = None) -> Any:
    meta = {"doc": doc, "min": lo, "max": hi, "choices": choices, "pattern": pattern}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


FITS = ("cover", "mirror", "zoom-blur", "wide")


@dataclass(frozen=True)
class RenderSettings:
    """Offline rendering to a video file."""

    size: int = _opt(512, "output width and height in pixels of a square video (when width and height are 0)",
                     lo=16, hi=4096)
    width: int = _opt(0, "video width in pixels (--size WxH); 0 = render.size", lo=0, hi=7680)
    height: int = _opt(0, "video height in pixels; 0 = render.size; effects.fit says how the square picture "
                          "fills a frame of another shape", lo=0, hi=7680)
    fps: float = _opt(30.0, "video frame rate in frames per second", lo=1, hi=240)
    seed: int = _opt(7, "seed for the keyframe latents; same seed, same video", lo=0)
    batch: int = _opt(8, "frames per generator call when rendering offline", lo=1, hi=256)
    inbetweens: int = _opt(3, "most frames in a row drawn as a cross-fade of the generated frames either side "
                              "(where the latent path runs straight, as the live window blends); 0 generates "
                              "every frame", lo=0, hi=30)
    inbetween_tolerance: float = _opt(0.03, "how far the latent path may bend under an in-between, as a fraction of "
                                            "the keyframes' typical distance from the centre; smaller is more exact",
                                      lo=0, hi=1)
    crf: int = _opt(16, "H.264 quality (0 lossless .. 51 worst)", lo=0, hi=51)
    # ultrafast at crf 16 keeps superfast at crf 18's quality (YUV PSNR within 1 dB, at 52-53 dB without
    # grain and 46 dB with it; about the same size) for under half of x264's CPU time.
    preset: str = _opt("ultrafast", "x264 speed preset; slower presets make smaller files for more CPU time",
                       choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                                "slow", "slower", "veryslow"))
    encoder_threads: int = _opt(0, "x264 threads; 0 takes a quarter of the CPU cores (at least 1), leaving the rest "
                                   "to the generator and the shaders", lo=0, hi=64)
    audio_bitrate_kbps: int = _opt(192, "AAC bitrate of the muxed audio in kbit/s", lo=32, hi=512)
    chunk_s: float = _opt(0.0, "split a video render into chunks of this many seconds, drawn by Ray workers and "
                               "joined without encoding again (0: one piece; --chunks N gives the count)",
                          lo=0, hi=36000)

    def frame_size(self) -> tuple[int, int]:
        """The video's (width, height) in pixels; a UserError for a side of 1-15 pixels."""
        for name in ("width", "height"):
            if 0 < getattr(self, name) < 16:
                raise UserError(f"render.{name} {getattr(self, name)} is too small: give 16 pixels or more "
                                "(or 0 for render.size)")
        return self.width or self.size, self.height or self.size


@dataclass(frozen=True)
class ModelSettings:
    """Which generator to run, and where."""

    checkpoint: str = _opt("", "generator checkpoint file (relative paths start at the settings file's folder); "
                               "empty for the bundled default model")
    device: str = _opt("auto", "auto (CUDA when there is a GPU), cpu, cuda or cuda:N")
    precision: str = _opt("auto", "number format of a StyleGAN synthesis network: auto (fp16 on CUDA, fp32 on "
                                  "the CPU), fp32, fp16 or bf16; the mapping network always runs in fp32",
                          choices=("auto", "fp32", "fp16", "bf16"))


@dataclass(frozen=True)
class AnalysisSettings:
    """The streaming audio analyzer (the same for live input and files)."""

    sample_rate: int = _opt(22050, "analysis sample rate in Hz; input is resampled to it", lo=8000, hi=96000)
    n_fft: int = _opt(1024, "FFT window length in samples", lo=256, hi=8192)
    hop_length: int = _opt(256, "samples between analysis frames", lo=32, hi=4096)
    n_mels: int = _opt(64, "mel bands for the onset function", lo=16, hi=256)
    bass_max_hz: float = _opt(250.0, "upper edge of the bass band in Hz", lo=20, hi=2000)
    treble_min_hz: float = _opt(4000.0, "lower edge of the treble band in Hz", lo=500, hi=16000)
    norm_release_s: float = _opt(10.0, "how fast the adaptive normalisation forgets a loud peak, seconds",
                                 lo=0.5, hi=600)
    onset_threshold: float = _opt(0.02, "weakest onset reported, as a fraction (0..1) of the recent strongest; "
                                        "raise it to react to strong hits only", lo=0, hi=1)
    onset_min_gap_s: float = _opt(0.06, "shortest time between two onsets in seconds", lo=0, hi=2)


@dataclass(frozen=True)
class WalkSettings:
    """The walk through the generator's latent space."""

    mode: str = _opt("listen", "what places the picture: listen (the music map puts it where what is heard "
                               "now belongs, so a passage heard again comes back to the same picture; the walk "
                               "below only roams around that place, see listen.wander) or loop (the picture walks "
                               "a loop of keyframes at the music's pace, whatever is heard)", choices=WALK_MODES)

    keyframes: int = _opt(12, "keyframe latents drawn from the seed; the walk loops through them", lo=2, hi=256)
    base_speed: float = _opt(0.04, "keyframes per second travelled in silence", lo=0, hi=10)
    max_speed: float = _opt(0.5, "extra keyframes per second when the 'speed' target is 1", lo=0, hi=20)
    chroma_weight: float = _opt(0.35, "how far the harmonic (chroma-weighted) keyframe blend pulls the walk, 0..1",
                                lo=0, hi=1)
    chroma_smoothing_s: float = _opt(0.75, "time constant of the chroma used for the blend, seconds", lo=0, hi=30)
    pulse_strength: float = _opt(0.9, "latent displacement (in prior standard deviations) at pulse 1", lo=0, hi=10)
    truncation: float = _opt(0.85, "pull toward the average latent: 1 = none, 0 = always the average", lo=0, hi=2)


@dataclass(frozen=True)
class ListenSettings:
    """The listener (a music-tagging network) and the music map that turns what it hears into a place."""

    update_s: float = _opt(0.5, "seconds between two listener updates, each hearing the 3 s before it",
                           lo=0.1, hi=10)
    smoothing_s: float = _opt(0.5, "how slowly the place follows what is heard (time constant, seconds); longer "
                                   "holds a section's picture steadier", lo=0, hi=60)
    wander: float = _opt(0.05, "how far the picture roams around its place along the walk's keyframes (0 = it "
                               "stays, 1 = as far as loop mode goes)", lo=0, hi=1)
    map: str = _opt("", "music map file (relative paths start at the settings file's folder); empty: the bundled "
                        "model's own, or MODEL.map.safetensors beside a model file (visualizer train-map)")
    keyframes: list[str] = _opt([], "pictures (files or folders) that take over the place when what is heard lands near "
                               "them; --keyframes sets it too")
    keyframe_pull: float = _opt(0.8, "how fully the nearest keyframe picture takes over the place (0..1)", lo=0, hi=1)
    sway: float = _opt(0.15, "how far the picture sways around its place, in the prior's standard deviations at full "
                             "loudness: a motion on the beat that comes back, so the place still says what is "
                             "heard (0 = none)", lo=0, hi=5)
    sway_beats: float = _opt(1.0, "beats per sway cycle (at 120 BPM while the tempo is unknown)", lo=0.25, hi=64)
    pulse_scale: float = _opt(0.25, "a pulse moves the picture this share of walk.pulse_strength in listen mode, so "
                                   "a hit shakes the picture without carrying it away from its place", lo=0, hi=1)


@dataclass(frozen=True)
class Attribute:
    """A music quality tied to a picture quality: the listener's tag (or an audio feature) pushes the place
    along the generator's direction for that picture quality."""

    source: str = _opt("sad", "a listener tag (sad, happy, electronic, piano, ...: docs/synesthesia.md lists them) "
                              "or an audio feature (loudness, bass, ...)", choices=ATTRIBUTE_SOURCES)
    target: str = _opt("dark", "picture quality", choices=tuple(QUALITIES))
    gain: float = _opt(1.0, "how far the place moves at source 1, in the prior's standard deviations", lo=-20, hi=20)


@dataclass(frozen=True)
class EffectsSettings:
    """Post-processing shaders applied to every generated frame (window and video alike)."""

    zoom: float = _opt(1.0, "base zoom factor (>1 zooms in)", lo=0.25, hi=4)
    hue_drift_deg_per_s: float = _opt(2.0, "slow constant hue rotation in degrees per second", lo=-360, hi=360)
    flash_color: list = _opt([1.0, 0.95, 0.85], "RGB colour added at flash 1, each 0..1")
    vignette: float = _opt(0.25, "darkening toward the corners, 0..1", lo=0, hi=1)
    fit: str = _opt("cover", "how the generator's square picture fills a video or window of another shape: cover "
                             "(enlarged to fill it, the overflow cropped), mirror (all of it in the middle, "
                             "mirrored copies filling the sides seamlessly), zoom-blur (all of it in the middle, "
                             "over a blurred enlarged copy) or wide (StyleGAN2/3 models draw a picture of about "
                             "the output's shape, the square one in its middle, at the cost of its extra pixels; "
                             "other models work as cover)", choices=FITS)
    grain: float = _opt(0.0, "film grain always present (amplitude, 0..1; grain makes videos much larger); "
                             "the 'grain' target adds to it",
                        lo=0, hi=1)


@dataclass(frozen=True)
class LiveSettings:
    """The live window."""

    render_scale: float = _opt(0.4, "effects are computed at this fraction of the window's resolution, then "
                                    "scaled up; lower is faster on weak GPUs (read at start)", lo=0.1, hi=1.0)
    upscale: str = _opt("bilinear", "how the window enlarges generated frames: bilinear (one GPU tap, fast) or "
                                    "bicubic (sharper, as in videos; 16 taps per pixel)",
                        choices=("bilinear", "bicubic"))
    window_filter: str = _opt("auto", "how the window scales the effects (render_scale of its size) up to its own "
                                      "size: bilinear (smooth), nearest (half the cost where OpenGL runs on the CPU, "
                                      "blockier on sharp edges), or auto: nearest on a software renderer (llvmpipe, "
                                      "softpipe, SwiftShader), bilinear on a GPU (read at start)",
                              choices=("auto", "bilinear", "nearest"))
    cpu_generator_fps: float = _opt(12.0, "most frames per second a generator on the CPU may make (0 = no limit); "
                                         "a low limit leaves more of a weak CPU to the display, which cross-fades "
                                         "between generated frames (read at start)", lo=0, hi=240)
    cpu_generator_nice: int = _opt(10, "niceness of a CPU generator's thread (Linux; 0 = as the rest of the "
                                       "show): it then yields the cores to the display and the audio analysis "
                                       "when they need them, which cuts audio-to-photon latency on a busy CPU "
                                       "(read at start)", lo=0, hi=19)
    cpu_threads: int = _opt(0, "torch threads for a CPU generator in live mode; 0 = half the cores, leaving "
                               "the rest to the display and audio (read at start)", lo=0, hi=256)
    hop_length: int = _opt(128, "analysis hop in live mode, in samples at analysis.sample_rate (0 = analysis."
                                "hop_length); half the render's hop hears an onset up to 6 ms sooner for a "
                                "negligible cost (read at start)", lo=0, hi=4096)


@dataclass(frozen=True)
class ShowSettings:
    """Show control: OSC, MIDI, an outside tempo and scenes (docs/show-control.md)."""

    osc_port: int = _opt(0, "UDP port the show listens on for OSC (/visualizer/set KEY VALUE, /visualizer/scene NAME, "
                            "...); 0 = off; --osc PORT sets it (read at start)", lo=0, hi=65535)
    osc_out: str = _opt("", "HOST:PORT to send what the analyzer hears to over OSC (/onset, /beat, /bar, /tempo, "
                            "/levels, /tags); empty = off; --osc-out sets it (read at start)")
    osc_levels_hz: float = _opt(30.0, "how often /levels is sent, per second", lo=1, hi=200)
    osc_tags_s: float = _opt(1.0, "seconds between two /tags messages (the listener's tags)", lo=0.1, hi=60)
    midi_input: str = _opt("", "MIDI input port to open (a part of its name); empty = none; --midi sets it "
                               "(read at start)")
    midi_api: str = _opt("auto", "MIDI system: alsa, jack, or auto (ALSA's sequencer where the machine has one, "
                                 "else JACK) (read at start)", choices=("auto", "alsa", "jack"))
    scene_fade_s: float = _opt(2.0, "seconds a scene change cross-fades the picture and the mappings over",
                               lo=0, hi=60)
    scene_on_bar: bool = _opt(True, "a scene change waits for the next bar (the next beat while the meter is "
                                    "unclear; at once while no tempo is known)")
    tap_hold_s: float = _opt(30.0, "seconds a tapped tempo keeps the beat clock after the last tap; then the "
                                   "tracker takes over again", lo=1, hi=3600)
    clock_timeout_s: float = _opt(0.5, "seconds without MIDI clock pulses after which the clock counts as stopped "
                                       "and the tracker takes over again", lo=0.05, hi=10)


MIDI_ACTIONS = ("freeze", "keyframes-next", "tap", "scene-next", "scene-previous")


@dataclass(frozen=True)
class MidiBinding:
    """A MIDI control or note bound to a setting (scaled into min..max through a curve) or to an action."""

    cc: int = _opt(-1, "control change number 0-127 that drives it (-1 = none; give cc or note)", lo=-1, hi=127)
    note: int = _opt(-1, "note number 0-127 whose key press triggers it, its velocity the value (-1 = none)",
                     lo=-1, hi=127)
    channel: int = _opt(0, "MIDI channel 1-16; 0 = any", lo=0, hi=16)
    key: str = _opt("", "the setting it moves, as in a settings file: effects.zoom, walk.base_speed, "
                        "mappings.2.gain, ... (or give action)")
    action: str = _opt("", "instead of a key: freeze, keyframes-next, tap, scene-next, scene-previous or "
                           "scene:NAME (a scene file's name)")
    min: float = _opt(0.0, "value of the setting at controller 0", lo=-1e6, hi=1e6)
    max: float = _opt(1.0, "value of the setting at controller 127", lo=-1e6, hi=1e6)
    curve: str = _opt("linear", "shaping of the 0..1 controller before scaling", choices=CURVES)


@dataclass(frozen=True)
class Mapping:
    """One route from an audio feature to a visual target, through an envelope and a curve."""

    source: str = _opt("onset", "audio feature", choices=FEATURE_SOURCES)
    target: str = _opt("flash", "visual target", choices=UNIFORM_TARGETS + LATENT_TARGETS)
    gain: float = _opt(1.0, "multiplier applied after the curve", lo=-100, hi=100)
    attack_s: float = _opt(0.0, "envelope rise time constant in seconds (0 = instant)", lo=0, hi=30)
    release_s: float = _opt(0.2, "envelope fall time constant in seconds (0 = instant)", lo=0, hi=30)
    curve: str = _opt("linear", "shaping of the 0..1 feature before the gain", choices=CURVES)
    layers: str = _opt("all", "for 'pulse' and 'noise' on a layered model (StyleGAN): the layers it moves: all, coarse (4-8 px: "
                              "pose, layout), middle (16-32 px: features), fine (64 px and up: texture, colour) or an "
                              "index range such as 0-3; models without layers (VisVAE) use all", pattern=LAYERS_PATTERN)


DEFAULT_MAPPINGS = [
    Mapping(source="onset", target="flash", gain=0.45, attack_s=0.0, release_s=0.12, curve="square"),
    Mapping(source="onset", target="pulse", gain=1.0, attack_s=0.0, release_s=0.3, curve="linear"),
    Mapping(source="loudness", target="speed", gain=1.0, attack_s=0.3, release_s=1.5, curve="smoothstep"),
    Mapping(source="bass", target="zoom", gain=0.08, attack_s=0.01, release_s=0.2, curve="square"),
    Mapping(source="treble", target="warp", gain=0.6, attack_s=0.05, release_s=0.4, curve="linear"),
    Mapping(source="centroid", target="hue", gain=0.25, attack_s=0.5, release_s=1.5, curve="linear"),
]


DEFAULT_ATTRIBUTES: list = []


@dataclass(frozen=True)
class Settings:
    """All settings; each table of the TOML file is one field here."""

    render: RenderSettings = field(default_factory=RenderSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    walk: WalkSettings = field(default_factory=WalkSettings)
    listen: ListenSettings = field(default_factory=ListenSettings)
    effects: EffectsSettings = field(default_factory=EffectsSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    show: ShowSettings = field(default_factory=ShowSettings)
    mappings: list = field(default_factory=lambda: list(DEFAULT_MAPPINGS),
                           metadata={"doc": "feature -> target routes; a file's list replaces the default list"})
    attributes: list = field(default_factory=lambda: list(DEFAULT_ATTRIBUTES),
                             metadata={"doc": "music quality -> picture quality ties (walk.mode listen); a file's "
                                              "list replaces the default list"})
    midi: list = field(default_factory=list,
                       metadata={"doc": "MIDI controls and notes bound to settings or actions (show.midi_input)"})

    def with_overrides(self, **tables: dict[str, Any]) -> "Settings":
        """A copy with some fields replaced, e.g. ``with_overrides(render={"fps": 24})``; validated."""
        data = to_dict(self)
        for table, values in tables.items():
            data[table].update({k: v for k, v in values.items() if v is not None})
        return from_dict(data)

    def with_key(self, key: str, value: Any) -> "Settings":
        """A copy with one key set, named as in a settings file's tables ("effects.zoom", or "mappings.2.gain"
        for the third mapping); validated as a file is (a SettingsError names the key). An integral float
        is taken for an int key and 0/1 for a bool key, since OSC and MIDI send numbers."""
        data = to_dict(self)
        node, parts = data, key.split(".")
        for depth, part in enumerate(parts):
            here = ".".join(parts[:depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise SettingsError(f"settings key '{here}': '{parts[depth - 1]}' has entries 0..{len(node) - 1}")
                index: Any = int(part)
            elif part not in node:
                raise SettingsError(f"unknown settings key '{here}'"
                                    + _near(part, list(node), ".".join(parts[:depth])))
            else:
                index = part
            if depth == len(parts) - 1:
                old = node[index]
                if isinstance(old, (dict, list)) and not (isinstance(old, list) and old and not isinstance(old[0], dict)):
                    raise SettingsError(f"settings key '{key}' is a table; name one of its keys "
                                        f"(e.g. '{key}.{next(iter(old)) if isinstance(old, dict) else 0}')")
                node[index] = _coerced(old, value)
            else:
                node = node[index]
        return from_dict(data)


def _coerced(old: Any, value: Any) -> Any:
    """``value`` in the type of ``old`` where that loses nothing (1.0 for an int key, 0/1 for a bool key)."""
    if isinstance(old, bool) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    if isinstance(old, int) and not isinstance(old, bool) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def key_type(key: str) -> type:
    """The type of a settings key named as ``Settings.with_key`` takes ("effects.zoom", "mappings.2.gain"),
    from the schema alone; a SettingsError for a key the schema does not have."""
    cls, parts = Settings, key.split(".")
    i = 0
    while i < len(parts):
        known = [f.name for f in fields(cls)]
        prefix = ".".join(parts[:i])
        if parts[i] not in known:
            raise SettingsError(f"unknown settings key '{'.'.join(parts[:i + 1])}'" + _near(parts[i], known, prefix))
        hint = get_type_hints(cls)[parts[i]]
        if cls is Settings and parts[i] in LIST_TABLES:
            if i + 1 >= len(parts) or not parts[i + 1].isdigit():
                raise SettingsError(f"settings key '{key}': name an entry and its key, e.g. '{parts[i]}.0.gain'")
            cls, i = LIST_TABLES[parts[i]], i + 2
            continue
        if is_dataclass(hint):
            cls, i = hint, i + 1
            continue
        if i != len(parts) - 1:
            raise SettingsError(f"settings key '{'.'.join(parts[:i + 1])}' has no keys under it")
        return hint
    raise SettingsError(f"settings key '{key}' is a table; name one of its keys")


def _check_midi(binding: "MidiBinding", path: str) -> None:
    if (binding.cc >= 0) == (binding.note >= 0):
        raise SettingsError(f"settings '{path}' needs exactly one of cc = 0..127 or note = 0..127")
    if bool(binding.key) == bool(binding.action):
        raise SettingsError(f"settings '{path}' needs exactly one of key (a setting such as 'effects.zoom') "
                            "or action (" + ", ".join(MIDI_ACTIONS) + " or scene:NAME)")
    if binding.action and binding.action not in MIDI_ACTIONS and not binding.action.startswith("scene:"):
        raise SettingsError(f"settings key '{path}.action' is {binding.action!r}; choose one of "
                            + ", ".join(MIDI_ACTIONS) + " or scene:NAME" + _did_you_mean(binding.action, list(MIDI_ACTIONS)))
    if binding.key:
        try:
            hint = key_type(binding.key)
        except SettingsError as exc:
            raise SettingsError(f"settings key '{path}.key': {exc}") from None
        if hint not in (int, float, bool):
            raise SettingsError(f"settings key '{path}.key' names '{binding.key}', which is not a number; "
                                "bind a MIDI control to a numeric setting such as 'effects.zoom'")


def _did_you_mean(value: str, options: list[str], prefix: str = "") -> str:
    """" (did you mean 'prefix.x'?)" for the nearest of ``options``, else nothing."""
    match = difflib.get_close_matches(value, options, n=1, cutoff=0.5)
    if not match:
        return ""
    return f" (did you mean '{prefix}.{match[0]}'?)" if prefix else f" (did you mean '{match[0]}'?)"


def _near(key: str, known: list[str], prefix: str = "") -> str:
    """For an unknown key: the near one, or else every known key."""
    return _did_you_mean(key, known, prefix) or f" (known keys: {', '.join(known)})"


def _check_value(path: str, value: Any, hint: Any, meta: dict) -> Any:
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    elif hint is list:
        ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    elif hint == list[str]:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = True
    if not ok:
        raise SettingsError(f"settings key '{path}' must be {getattr(hint, '__name__', hint)}, got {value!r}")
    if meta.get("pattern") and not re.fullmatch(meta["pattern"], str(value)):
        raise SettingsError(f"settings key '{path}' is {value!r}; use all, coarse, middle, fine or a layer index "
                            "range such as 0-3" + _did_you_mean(str(value), list(LAYER_GROUPS)))
    if meta.get("choices") and value not in meta["choices"]:
        raise SettingsError(f"settings key '{path}' is {value!r}; choose one of {', '.join(meta['choices'])}"
                            + _did_you_mean(str(value), list(meta["choices"])))
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise SettingsError(f"settings key '{path}' is {value!r}; it must lie in "
                            f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]")
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise SettingsError(f"settings key '{prefix}' must be a table, got {data!r}")
    hints = get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    values = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in known:
            raise SettingsError(f"unknown settings key '{path}'" + _near(key, known, prefix))
        f = next(f for f in fields(cls) if f.name == key)
        hint = hints[key]
        if is_dataclass(hint):
            values[key] = _build(hint, value, path)
        elif key in LIST_TABLES and cls is Settings:
            if not isinstance(value, list):
                raise SettingsError(f"settings key '{key}' must be an array of tables ([[{key}]])")
            values[key] = [_build(LIST_TABLES[key], m, f"{key}[{i}]") for i, m in enumerate(value)]
        else:
            values[key] = _check_value(path, value, hint, f.metadata)
    obj = cls(**values)
    if cls is MidiBinding:
        _check_midi(obj, prefix)
    if cls is EffectsSettings and (len(obj.flash_color) != 3 or not all(0 <= c <= 1 for c in obj.flash_color)):
        raise SettingsError("settings key 'effects.flash_color' must be three numbers in 0..1")
    return obj


LIST_TABLES = {"mappings": Mapping, "attributes": Attribute, "midi": MidiBinding}


def from_dict(data: dict[str, Any]) -> Settings:
    """Validated Settings from a TOML-shaped dict; missing keys keep their defaults."""
    return _build(Settings, data, "")


def to_dict(settings: Any) -> Any:
    """The TOML-shaped dict of a Settings (or of any of its tables)."""
    if is_dataclass(settings):
        return {f.name: to_dict(getattr(settings, f.name)) for f in fields(settings)}
    if isinstance(settings, list):
        return [to_dict(v) for v in settings]
    return settings


def load_settings(path: str | Path | None) -> Settings:
    """Read a settings file; ``None`` gives the defaults."""
    if path is None:
        return Settings()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"settings file not found: {path}; "
                            "write one with 'visualizer --print-settings > settings.toml'") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    settings = from_dict(data)

    # Relative files are relative to the settings file, so a show folder can move as one.
    def here(name: str) -> str:
        return name if not name or Path(name).expanduser().is_absolute() else str(path.parent / Path(name).expanduser())

    return settings.with_overrides(model={"checkpoint": here(settings.model.checkpoint)},
                                   listen={"map": here(settings.listen.map),
                                           "keyframes": [here(k) for k in settings.listen.keyframes]})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _doc_line(meta: dict) -> str:
    doc = meta.get("doc", "")
    if meta.get("choices"):
        doc += f" [{' | '.join(meta['choices'])}]"
    return f"# {doc}" if doc else ""


def _table_lines(obj: Any) -> list[str]:
    lines = []
    for f in fields(obj):
        if f.metadata.get("doc"):
            lines.append(_doc_line(f.metadata))
        lines.append(f"{f.name} = {_toml_value(getattr(obj, f.name))}")
    return lines


def to_toml(settings: Settings, *, comments: bool = True) -> str:
    """The settings as a TOML document, each key with its documentation as a comment."""
    out = ["# visualizer settings. Every key is optional; missing keys keep the defaults shown here.", ""]
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name == "mappings":
            out.append("# " + f.metadata["doc"])
            out.append("# sources (each 0..1):")
            out += [f"#   {name:11s} {doc}" for name, doc in SOURCE_DOCS.items()]
            out.append("# targets: " + ", ".join(UNIFORM_TARGETS + LATENT_TARGETS)
                       + " ('jump' moves on to the next keyframe each time it rises through 0.5; 'noise' scales "
                         "StyleGAN's per-pixel noise by 1 + value)")
            for m in value:
                out += ["", "[[mappings]]"] + _table_lines(m)
            out.append("")
            continue
        if f.name == "midi":
            out.append("# " + f.metadata["doc"] + "; for example:")
            out += ["#", "# [[midi]]", "# cc = 1", '# key = "effects.zoom"', "# min = 1.0", "# max = 2.0", "#",
                    "# [[midi]]", "# note = 36", '# action = "scene:chorus"']
            for b in value:
                out += ["", "[[midi]]"] + _table_lines(b)
            out.append("")
            continue
        if f.name == "attributes":
            out.append("# " + f.metadata["doc"] + "; for example:")
            out += ["#", "# [[attributes]]", '# source = "sad"', '# target = "dark"', "# gain = 3.0"]
            out.append("# picture qualities: " + ", ".join(QUALITIES) + "; sources: the listener's tags "
                       "(docs/synesthesia.md) or the mapping sources above")
            for a in value:
                out += ["", "[[attributes]]"] + _table_lines(a)
            continue
        out += [f"[{f.name}]", f"# {type(value).__doc__.strip()}"] + _table_lines(value) + [""]
    text = "\n".join(out) + "\n"
    if not comments:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("#")) + "\n"
    return text



def _md_default(value: Any) -> str:
    text = _toml_value(value)
    return f"`{text}`" if text else ""


def _md_rows(obj: Any) -> list[str]:
    rows = []
    for f in fields(obj):
        meta = f.metadata
        doc = meta.get("doc", "")
        if meta.get("choices") and len(meta["choices"]) <= 12:
            doc += " (" + ", ".join(f"`{c}`" for c in meta["choices"]) + ")"
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and hi is not None:
            doc += f"; {lo} to {hi}"
        elif lo is not None or hi is not None:
            doc += f"; at least {lo}" if lo is not None else f"; at most {hi}"
        rows.append(f"| `{f.name}` | {_md_default(getattr(obj, f.name))} | {doc.replace('|', '/')} |")
    return rows


def to_markdown(settings: Settings | None = None) -> str:
    """The settings reference (docs/settings.md): every table and key with its default and documentation,
    made from this schema, so it says what ``--print-settings`` says."""
    settings = settings or Settings()
    out = ["# Settings reference", "",
           "Generated from `visualizer/settings.py` by `visualizer --print-settings --format markdown`; "
           "do not edit by hand (a test checks it is current). Write a settings file with every default "
           "and these comments with `visualizer --print-settings > show.toml`; keys you leave out keep their "
           "defaults, and a show reloads the file when it changes (docs/live.md).", ""]
    for f in fields(settings):
        value = getattr(settings, f.name)
        head = ["| key | default | what it does |", "|---|---|---|"]
        if f.name in LIST_TABLES:
            item = LIST_TABLES[f.name]()
            out += [f"## `[[{f.name}]]`", "", f.metadata["doc"][0].upper() + f.metadata["doc"][1:] + ". "
                    f"Each entry: {type(item).__doc__.strip()}", "", *head, *_md_rows(item), ""]
            if f.name == "mappings":
                out += ["Sources (each 0..1):", "", *[f"- `{n}`: {d}" for n, d in SOURCE_DOCS.items()], "",
                        "Targets: " + ", ".join(f"`{t}`" for t in UNIFORM_TARGETS + LATENT_TARGETS) + ".", ""]
                out += ["The default list:", "", "```toml"]
                for m in value:
                    out += ["[[mappings]]"] + [f"{k.name} = {_toml_value(getattr(m, k.name))}" for k in fields(m)] + [""]
                out += ["```", ""]
            elif f.name == "midi":
                out += ["For example, the modulation wheel zooms and a pad switches to the scene `chorus.toml` "
                        "(docs/show-control.md):", "", "```toml", "[[midi]]", "cc = 1", 'key = "effects.zoom"',
                        "min = 1.0", "max = 2.0", "", "[[midi]]", "note = 36", 'action = "scene:chorus"', "```", ""]
            else:
                out += ["Picture qualities: " + ", ".join(f"`{q}`" for q in QUALITIES) + ". Sources: an audio "
                        "feature above or one of the listener's tags: " + ", ".join(f"`{t}`" for t in TAGS) + ".", ""]
            continue
        out += [f"## `[{f.name}]`", "", type(value).__doc__.strip(), "", *head, *_md_rows(value), ""]
    return "\n".join(out).rstrip() + "\n"
