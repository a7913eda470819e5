"""The small listener: it hears what its musicnn teachers hear, is distilled by a tool anyone can run
again, and a damaged weights file is named in one line."""

import numpy as np
import pytest

from tests.listen.test_listener import drum_loop, pad_chords
from visualizer.audio.demo import demo_loop, write_wav
from visualizer.listen.listener import Listener, to_listener_rate
from visualizer.listen.musicnn import SAMPLE_RATE, WINDOW_SAMPLES
from visualizer.models.base import CheckpointError


@pytest.fixture(scope="module")
def both():
    return Listener.bundled(), Listener.teachers()


def windows(audio: np.ndarray, count: int) -> np.ndarray:
    ends = np.linspace(WINDOW_SAMPLES, len(audio), count).astype(int)
    return np.stack([audio[e - WINDOW_SAMPLES:e] for e in ends])


def test_the_student_hears_the_tags_and_the_distances_its_teachers_hear(both):
    student, teachers = both
    song = to_listener_rate(demo_loop(bars=8).mean(axis=0), 44100)
    audio = np.concatenate([pad_chords(6.0), drum_loop(6.0), 0.05 * drum_loop(6.0) + pad_chords(6.0), song])
    w = windows(audio, 16)
    s_tags, s_emb = student.hear_with(0, w)
    (p0, e0), (p1, e1) = teachers.hear_many([(0, w), (1, w)])
    t_tags, t_emb = teachers.tags_of(np.concatenate([p0, p1], 1)), np.concatenate([e0, e1], 1)
    assert np.corrcoef(s_tags.ravel(), t_tags.ravel())[0, 1] > 0.7
    # Which windows sound alike: the student's embedding distances follow the teachers'.
    d = lambda e: np.linalg.norm(e[:, None] - e[None], axis=2)[np.triu_indices(len(e), 1)]  # noqa: E731
    assert np.corrcoef(d(s_emb), d(t_emb))[0, 1] > 0.8


def test_distilling_writes_a_student_that_loads_and_hears_as_trained(tmp_path, both):
    from visualizer.listen.distill import hear_for_student, train_student
    from visualizer.listen.student import load_student, save_student

    _, teachers = both
    music = tmp_path / "music"
    music.mkdir()
    for i, y in enumerate([pad_chords(8.0), drum_loop(8.0), pad_chords(5.0) + drum_loop(5.0)]):
        write_wav(music / f"{i}.wav", y, SAMPLE_RATE)
    said = []
    hear_for_student([music], tmp_path / "cache", teachers, hop_s=1.0, log=said.append)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3 and len(said) == 3
    net, figures = train_student([tmp_path / "cache"], teachers, steps=40, width=32, hidden=32, log=lambda m: None)
    assert figures["windows"] > 0 and figures["held_out_windows"] > 0 and len(figures["axis_r2"]) == 8
    save_student(tmp_path / "small.safetensors", net, figures)
    loaded = load_student(tmp_path / "small.safetensors")
    mel = np.random.default_rng(0).random((2, 187, 96)).astype(np.float32) * 3
    import torch

    (a_logits, a_emb), (b_logits, b_emb) = net(torch.from_numpy(mel)), loaded(torch.from_numpy(mel))
    np.testing.assert_allclose(b_emb.numpy(), a_emb.numpy(), rtol=0.05, atol=0.05 * a_emb.abs().max().item())
    np.testing.assert_allclose(b_logits.numpy(), a_logits.numpy(), rtol=0.05, atol=0.05 * a_logits.abs().max().item())
    assert loaded.cfg.tags == teachers.tags


def test_damaged_student_weights_are_named_in_one_line(tmp_path):
    from visualizer.listen.student import load_student

    bad = tmp_path / "small.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as err:
        load_student(bad)
    assert "corrupt" in str(err.value) and "\n" not in str(err.value)
    from visualizer.models.io import CHECKPOINT_DIR

    with pytest.raises(CheckpointError, match="not a student listener"):  # a checkpoint of another kind
        load_student(CHECKPOINT_DIR / "musicnn-mtt.safetensors")
