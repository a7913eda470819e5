"""The music corpus maps are trained on: built from audio files, extended, thinned per file, read back."""

import subprocess
import sys

import numpy as np
import pytest

from visualizer.listen.corpus import hear_file, load_corpus
from visualizer.listen.listener import Listener


@pytest.fixture(scope="module")
def listener():
    return Listener.bundled()


def test_a_file_gives_a_window_a_second_and_at_most_max_windows_spread_over_it(click_wav, listener):
    every = hear_file(click_wav, listener)
    assert len(every) == 6 and every.sources == ["clicks.wav"] * 6
    thinned = hear_file(click_wav, listener, max_windows=3)
    assert len(thinned) == 3
    # The first, a middle and the last window: the same rows as the full file's
    np.testing.assert_allclose(thinned.embeddings, every.embeddings[[0, 2, 5]], atol=1e-5)
    np.testing.assert_allclose(thinned.acoustic, every.acoustic[[0, 2, 5]], atol=1e-5)


def test_the_builder_extends_a_corpus_and_names_bad_input_in_one_line(click_wav, tmp_path):
    first, both = tmp_path / "first.safetensors", tmp_path / "both.safetensors"
    run = lambda *args: subprocess.run([sys.executable, "-m", "visualizer.listen.corpus", *map(str, args)],
                                       capture_output=True, text=True)
    assert run("--out", first, "--max-windows", 4, click_wav).returncode == 0
    assert run("--add", first, "--out", both, click_wav).returncode == 0
    assert len(load_corpus(first)) == 4 and len(load_corpus(both)) == 4 + 6
    for bad in (["--add", tmp_path / "none.safetensors", "--out", both, click_wav], ["--out", both, tmp_path]):
        result = run(*bad)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
