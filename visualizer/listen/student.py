"""The small listener: a student network distilled from the two musicnn networks.

musicnn's front end (convolutions 7 frames by 38 or 67 bands, a thousand filters) costs about
48 ms a 3 s window on one core, a quarter of a 512 px render's time. The student hears the same
log-mel window [187 frames, 96 bands] with 1-D convolutions over time that see all 96 bands at
once (the first three strided, the last two dilated: about 2 s of context at the last), pools over
time (max and mean) and gives, in one pass, what both teachers give together: the 92 tag
probabilities (a tag both teachers know is their mean) and the 400-number embedding, in the
teachers' own units, so the descriptor and the music maps read it as they read musicnn's.
It was trained (``visualizer.listen.distill``) on the teachers' outputs for windows of the music
corpus's own music; its figures against them are in checkpoints/README.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from visualizer.listen.musicnn import N_MELS
from visualizer.models.base import ModelConfig

STUDENT_FORMAT = "visualizer-listen-student"


@dataclass(frozen=True)
class StudentConfig(ModelConfig):
    """Shape of a student and what it names: ``tags`` (its outputs' names), ``backend_units`` (its
    embedding's size, the teachers' together)."""

    tags: tuple[str, ...] = ()
    backend_units: int = 400
    width: int = 256
    hidden: int = 512

    @classmethod
    def from_dict(cls, data: dict) -> "StudentConfig":
        return cls(tags=tuple(data["tags"]), backend_units=int(data["backend_units"]), width=int(data["width"]),
                   hidden=int(data["hidden"]))


class Student(nn.Module):
    """log-mel windows [B, T, 96] -> (tag logits [B, tags], embedding [B, backend_units]).

    The embedding head predicts the teachers' embedding standardised (``target_mean``, ``target_std``
    [backend_units], buffers set at training) and gives it back in the teachers' units."""

    # (kernel, stride, dilation) of each convolution over time
    LAYERS = ((5, 2, 1), (5, 2, 1), (5, 2, 1), (3, 1, 2), (3, 1, 4))

    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.input_bn = nn.BatchNorm1d(N_MELS)
        self.convs = nn.ModuleList(nn.Conv1d(N_MELS if i == 0 else w, w, k, s, padding=d * (k // 2), dilation=d)
                                   for i, (k, s, d) in enumerate(self.LAYERS))
        self.norms = nn.ModuleList(nn.BatchNorm1d(w) for _ in self.LAYERS)
        self.hidden = nn.Linear(2 * w, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.backend_units + len(cfg.tags))
        self.register_buffer("target_mean", torch.zeros(cfg.backend_units))
        self.register_buffer("target_std", torch.ones(cfg.backend_units))

    def standardised(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        """(tag logits [B, tags], standardised embedding [B, backend_units]): what training compares."""
        x = self.input_bn(mel.transpose(1, 2))                           # [B, 96, T]
        for i, (conv, bn) in enumerate(zip(self.convs, self.norms)):
            h = F.relu(bn(conv(x)))
            x = h + x if i >= 3 else h                                   # residual on the dilated layers
        h = F.relu(self.hidden(torch.cat([x.amax(dim=2), x.mean(dim=2)], dim=1)))
        out = self.out(h)
        units = self.cfg.backend_units
        return out[:, units:], out[:, :units]

    def forward(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        logits, z = self.standardised(mel)
        return logits, z * self.target_std + self.target_mean


def save_student(path, net: Student, record: dict) -> None:
    """Write a student's weights (float16; batch-norm statistics and the target scale in float32)
    with its config and a record of its training."""
    from visualizer.listen.weights import save_net

    save_net(path, net, STUDENT_FORMAT, {"record": json.dumps(record)}, exact=("running_", "target_"))


def load_student(path) -> Student:
    """A student listener, float32, eval mode; a CheckpointError naming what is wrong."""
    from visualizer.listen.weights import load_net

    return load_net(path, STUDENT_FORMAT, "a student listener", lambda c: Student(StudentConfig.from_dict(c)))
