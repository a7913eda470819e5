"""The Mapper: audio features in, a latent vector and shader uniforms out, once per frame."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from visualizer.audio.features import Features
from visualizer.listen.listener import MusicState
from visualizer.mapping.envelopes import Envelope, VectorSmoother, one_pole_coefficient, shape
from visualizer.mapping.follow import PlaceFollower
from visualizer.mapping.walk import Keyframes, slerp
from visualizer.settings import LATENT_TARGETS, UNIFORM_TARGETS, Mapping, Settings


@dataclass(frozen=True)
class Uniforms:
    """Values the post-processing shader reads, by uniform name."""

    time_s: float          # frame time in seconds
    flash: float           # 0 = none, 1 = a full flash of ``flash_color``
    zoom: float            # magnification (1 = none)
    warp: float            # strength of the flowing distortion, 0..~1
    hue: float             # hue rotation in turns (1 = 360 degrees)
    vignette: float        # corner darkening 0..1
    grain: float           # film grain amplitude
    flash_color: tuple[float, float, float]

    def as_dict(self) -> dict[str, float | tuple[float, ...]]:
        return {
            "u_time": self.time_s, "u_flash": self.flash, "u_zoom": self.zoom, "u_warp": self.warp,
            "u_hue_matrix": hue_rotation(self.hue), "u_vignette": self.vignette, "u_grain": self.grain,
            "u_flash_color": self.flash_color,
        }


_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def hue_rotation(turns: float) -> tuple[float, ...]:
    """The 3x3 RGB matrix that rotates hue by ``turns`` (chroma turns around the luma axis in YIQ
    space, luma unchanged), column-major as a GLSL ``mat3`` uniform takes it."""
    c, s = np.cos(2 * np.pi * turns), np.sin(2 * np.pi * turns)
    rotate = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    return tuple((_YIQ_TO_RGB @ rotate @ _RGB_TO_YIQ).T.ravel().tolist())


class _Route:
    """One settings mapping with its envelope state."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.envelope = Envelope(mapping.attack_s, mapping.release_s)

    def step(self, features: Features, dt: float) -> float:
        m = self.mapping
        return m.gain * self.envelope.step(shape(features.value(m.source), m.curve), dt)


class Mapper:
    """Turns each frame's Features into (latent [D] float32, Uniforms); deterministic given its inputs.

    With 'pulse' mappings restricted to some layers of a layered generator, the latent is one
    per layer, [layers, D], and the generator maps each layer's own.

    State: the envelopes of every mapping, the smoothed chroma and loudness, the walk
    position (in keyframes), the current pulse direction and whether 'jump' is armed.
    """

    def __init__(self, settings: Settings, keyframes: Keyframes,
                 layer_groups: dict[str, tuple[int, int]] | None = None,
                 follower: PlaceFollower | None = None,
                 to_offset: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """``layer_groups`` (a layered generator's, e.g. StyleGAN's) maps "all", "coarse", "middle" and
        "fine" to layer index ranges [lo, hi); with it, 'pulse' mappings can move some layers only.

        ``follower`` (walk.mode "listen") gives the place the music asks for, in standard-normal
        coordinates; ``to_offset`` turns those into a latent offset from the prior's centre (the
        generator's ``from_normal`` less its mean). Without a follower the walk loops, as in "loop" mode.
        """
        self.keyframes = keyframes
        self.follower = follower
        self.to_offset = to_offset or (lambda eps: eps)
        self.layer_groups = layer_groups
        self.noise_scale: np.ndarray | None = None  # [layers] after each step, for a layered generator
        self.position = 0.0
        self.place: np.ndarray | None = None  # listen mode: the music's place, standard-normal coordinates [D]
        self.time_s = 0.0
        self._pulse_index = 0
        self._jump_armed = True
        self._loudness = 0.0
        self._sway_phase = 0.0  # sway cycles so far, listen mode
        self._sway_axes = _orthogonal_pair(keyframes.pulses[0], keyframes.pulses[1 % len(keyframes.pulses)])
        self.settings = settings
        self._routes = [_Route(m) for m in settings.mappings]
        self._chroma = VectorSmoother(12, settings.walk.chroma_smoothing_s)

    @property
    def listening(self) -> bool:
        """Whether the music map places the picture (walk.mode "listen" and a map to do it)."""
        return self.follower is not None and self.settings.walk.mode == "listen"

    def update_settings(self, settings: Settings) -> None:
        """Switch to new settings mid-stream; mappings that did not change keep their envelopes."""
        kept: dict[Mapping, _Route] = {}
        for route in self._routes:
            kept.setdefault(route.mapping, route)
        self._routes = [kept.pop(m) if m in kept else _Route(m) for m in settings.mappings]
        self._chroma.time_constant_s = settings.walk.chroma_smoothing_s
        self.settings = settings
        if self.follower is not None:
            self.follower.settings = settings

    def targets(self, features: Features, dt: float) -> tuple[dict[str, float], np.ndarray | None]:
        """Step every mapping's envelope and sum the contributions per target; the second value is
        the per-layer 'pulse' [layers] of mappings restricted to some layers (None when there are none).
        'noise' mappings set ``noise_scale`` [layers] (1 + their sum, per layer)."""
        totals = {name: 0.0 for name in UNIFORM_TARGETS + LATENT_TARGETS}
        layered = None
        self.noise_scale = np.ones(self.layer_groups["all"][1]) if self.layer_groups else None
        for route in self._routes:
            value = route.step(features, dt)
            m = route.mapping
            if m.target == "noise":
                if self.noise_scale is not None:
                    lo, hi = self.layer_range(m.layers)
                    self.noise_scale[lo:hi] += value
            elif m.target == "pulse" and m.layers != "all" and self.layer_groups:
                if layered is None:
                    layered = np.zeros(self.layer_groups["all"][1])
                lo, hi = self.layer_range(m.layers)
                layered[lo:hi] += value
            else:
                totals[m.target] += value
        return totals, layered

    def layer_range(self, layers: str) -> tuple[int, int]:
        """Layer indices [lo, hi) of a settings 'layers' value ("fine", "2-5", ...)."""
        count = self.layer_groups["all"][1]
        if layers in self.layer_groups:
            return self.layer_groups[layers]
        first, _, last = layers.partition("-")
        lo = min(int(first), count - 1)
        return lo, min(int(last or first), count - 1) + 1

    def step(self, features: Features, dt: float, music: MusicState | None = None) -> tuple[np.ndarray, Uniforms]:
        """Advance by ``dt`` seconds with the features heard during that time (and, in listen mode, the
        newest listener state, when there is a new one)."""
        walk, fx = self.settings.walk, self.settings.effects
        self.time_s += dt
        totals, layered = self.targets(features, dt)

        speed = max(0.0, totals["speed"])
        self.position += (walk.base_speed + walk.max_speed * speed) * dt
        if totals["jump"] >= 0.5 and self._jump_armed:
            self.position = math.floor(self.position) + 1.0
        self._jump_armed = totals["jump"] < 0.5
        z = self.keyframes.at(self.position)

        chroma = self._chroma.step(np.asarray(features.chroma, np.float64), dt)
        self._loudness += (features.loudness - self._loudness) * one_pole_coefficient(dt, walk.chroma_smoothing_s)
        if self.listening:
            # The place is the music's; the walk only roams around it (chroma is in the place already).
            listen = self.settings.listen
            self.place = self.follower.step(features, dt, music)
            z = slerp(self.to_offset(self.place), z, listen.wander)
            # A sway of a beat's period comes back within the listener's window: motion that keeps the place.
            self._sway_phase += dt * (features.tempo_bpm or 120.0) / 60.0 / listen.sway_beats
            angle = 2.0 * math.pi * self._sway_phase
            amplitude = listen.sway * (0.3 + 0.7 * min(1.0, self._loudness))
            z = z + amplitude * (math.cos(angle) * self._sway_axes[0] + math.sin(angle) * self._sway_axes[1])
        else:
            harmonic = self.keyframes.chroma_blend(chroma)
            # Chroma means little in near-silence, so the blend fades in with the level.
            mix = walk.chroma_weight * min(1.0, 1.5 * self._loudness)
            if mix > 0.0 and np.any(harmonic):
                z = slerp(z, harmonic, mix)

        if features.onset > 0.0:
            self._pulse_index = (self._pulse_index + 1) % len(self.keyframes.pulses)
        strength = walk.pulse_strength * (self.settings.listen.pulse_scale if self.listening else 1.0)
        direction = strength * self.keyframes.pulses[self._pulse_index]
        if layered is None:
            z = z + totals["pulse"] * direction
        else:  # one latent per layer [layers, D]: the layered pulses move only their layers
            z = z[None, :] + (totals["pulse"] + layered)[:, None] * direction[None, :]
        latent = self.keyframes.mean + walk.truncation * z

        uniforms = Uniforms(
            time_s=self.time_s,
            flash=min(1.5, max(0.0, totals["flash"])),
            zoom=fx.zoom * (1.0 + max(-0.5, totals["zoom"])),
            warp=max(0.0, totals["warp"]),
            hue=(fx.hue_drift_deg_per_s * self.time_s / 360.0 + totals["hue"]) % 1.0,
            vignette=fx.vignette,
            grain=min(1.0, fx.grain + max(0.0, totals["grain"])),
            flash_color=tuple(float(c) for c in fx.flash_color),
        )
        return latent.astype(np.float32), uniforms


def _orthogonal_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two orthogonal directions [D] of ``a``'s length, from prior draws ``a`` and ``b`` (the sway's plane)."""
    b = b - a * (a @ b) / (a @ a)
    return a, b * (np.linalg.norm(a) / max(np.linalg.norm(b), 1e-12))
