"""Where the picture belongs: the music map's place for what is heard now (walk.mode = "listen").

Per frame: the analyzer's features feed the acoustic summary; the newest listener state and that
summary make a music descriptor; the music map turns it into standard-normal latent coordinates;
attributes (music qualities tied to picture qualities) push it along measured directions; a user's
keyframe picture near it takes over; and the result follows with a one-pole lag of
``listen.smoothing_s`` along the sphere, so sections glide into each other and a passage heard
again settles where it settled before.
"""

from __future__ import annotations

import math

import numpy as np

from visualizer.audio.features import Features
from visualizer.listen.descriptor import AcousticSummary
from visualizer.listen.listener import MusicState
from visualizer.listen.place import MusicMap
from visualizer.listen.tags import QUALITIES, TAGS
from visualizer.mapping.envelopes import one_pole_coefficient
from visualizer.settings import Settings


def on_sphere(x: np.ndarray) -> np.ndarray:
    """``x`` [D] scaled to norm sqrt(D), where standard-normal draws live."""
    return x * (math.sqrt(len(x)) / max(np.linalg.norm(x), 1e-12))


class PlaceFollower:
    """Steps once per frame; ``place`` is the current place in standard-normal coordinates [D]."""

    def __init__(self, music_map: MusicMap, settings: Settings, keyframes: np.ndarray | None = None) -> None:
        """``keyframes`` [K, D]: a user's pictures placed in the same coordinates (``visualizer.listen.keyframes``)."""
        self.map = music_map
        self.settings = settings
        self.user_keyframes = None if keyframes is None or not len(keyframes) else \
            np.stack([on_sphere(k) for k in np.asarray(keyframes, np.float64)])
        self.reset()

    def reset(self) -> None:
        """Forget what was heard: the next ``step`` starts a song afresh."""
        self.acoustic = AcousticSummary()
        self.place: np.ndarray | None = None
        self._music: MusicState | None = None
        self._tags: np.ndarray | None = None

    def target(self, features: Features) -> np.ndarray:
        """The place the music asks for now, before smoothing [D]."""
        embedding = self._music.embedding if self._music is not None else self.map.basis.embedding_mean
        eps = self.map.place(embedding, self.acoustic.vector())
        for attribute in self.settings.attributes:
            measure, sign = QUALITIES[attribute.target]
            direction = self.map.attributes.get(measure)
            if direction is None:
                continue
            eps = eps + sign * attribute.gain * self._source(attribute.source, features) * direction
        eps = on_sphere(eps)
        if self.user_keyframes is not None:
            eps = self._pulled(eps)
        return eps

    def _source(self, name: str, features: Features) -> float:
        if name in TAGS:
            return float(self._music.tags[TAGS.index(name)]) if self._music is not None else 0.0
        return features.value(name)

    def _pulled(self, eps: np.ndarray) -> np.ndarray:
        """Toward the keyframes near ``eps``: a softmax over their cosine similarity, so the nearest one
        dominates and the hand-over between two is smooth."""
        d = len(eps)
        cos = self.user_keyframes @ eps / d
        w = np.exp((cos - cos.max()) / 0.05)
        blend = on_sphere(w @ self.user_keyframes)
        pull = self.settings.listen.keyframe_pull
        return on_sphere((1 - pull) * eps + pull * blend)

    def step(self, features: Features, dt: float, music: MusicState | None) -> np.ndarray:
        """Advance by ``dt`` seconds; returns the place [D] (standard-normal coordinates, on the sphere)."""
        self.acoustic.step(features, dt)
        if music is not None:
            self._music = music
        target = self.target(features)
        if self.place is None:
            self.place = target
        else:
            k = one_pole_coefficient(dt, self.settings.listen.smoothing_s)
            self.place = on_sphere(self.place + k * (target - self.place))
        return self.place
