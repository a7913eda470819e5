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


def test_reanalysis_measures_the_same_windows_again_and_keeps_the_embeddings(click_wav, listener, tmp_path):
    from visualizer.audio.sources import AudioError
    from visualizer.listen.corpus import Corpus, reanalysed

    every, thinned = hear_file(click_wav, listener), hear_file(click_wav, listener, max_windows=3)
    both = every + thinned
    stale = Corpus(both.embeddings, both.acoustic[:, :22] * 0, both.sources)  # as a corpus made before the timbre
    again = reanalysed(stale, [click_wav, click_wav], log=lambda m: None)
    np.testing.assert_array_equal(again.embeddings, both.embeddings)
    np.testing.assert_allclose(again.acoustic, both.acoustic, atol=1e-6)
    assert again.acoustic.shape[1] == 34
    first, unheard = tmp_path / "first.wav", tmp_path / "unheard.wav"
    first.write_bytes(click_wav.read_bytes())
    unheard.write_bytes(click_wav.read_bytes())
    renamed = Corpus(stale.embeddings, stale.acoustic, ["first.wav"] * 6 + ["clicks.wav"] * 3)
    with pytest.raises(AudioError, match="not the corpus's next file"):
        reanalysed(renamed, [click_wav, first], log=lambda m: None)
    said = []  # a file the builder could not read is not in the corpus: passed over, as it was then
    np.testing.assert_allclose(reanalysed(renamed, [first, unheard, click_wav], log=said.append).acoustic,
                               again.acoustic, atol=1e-6)
    assert any(line.startswith(f"skipped {unheard}") for line in said)
    with pytest.raises(AudioError, match="6 of the corpus's 9 windows"):
        reanalysed(stale, [click_wav], log=lambda m: None)


def test_rehearing_hears_the_same_windows_again_and_keeps_the_summaries(click_wav, listener):
    from visualizer.listen.corpus import Corpus, reanalysed

    every, thinned = hear_file(click_wav, listener), hear_file(click_wav, listener, max_windows=3)
    both = every + thinned
    stale = Corpus(both.embeddings * 0, both.acoustic, both.sources)  # as heard by another listener
    again = reanalysed(stale, [click_wav, click_wav], log=lambda m: None, listener=listener)
    np.testing.assert_allclose(again.embeddings, both.embeddings, atol=1e-5)
    np.testing.assert_array_equal(again.acoustic, both.acoustic)
