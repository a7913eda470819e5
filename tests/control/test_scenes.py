"""Scene folders: validated at start and on every change; a bad or deleted file keeps its last good version."""

import os

import pytest

from visualizer.control.scenes import SceneBook, SceneError


def write(path, text, bump=[0]):
    path.write_text(text)
    bump[0] += 1
    os.utime(path, ns=(10**18 + bump[0], 10**18 + bump[0]))  # a new mtime even within one clock tick


def test_scenes_by_name_and_number_in_name_order(tmp_path):
    write(tmp_path / "b-wild.toml", "[effects]\nzoom = 2.0\n")
    write(tmp_path / "a-calm.toml", "")
    book = SceneBook(tmp_path)
    assert book.names == ["a-calm", "b-wild"]
    assert book.find(2).name == "b-wild" and book.find("2").name == "b-wild" and book.find("a-calm").name == "a-calm"
    assert book.neighbour("b-wild", 1).name == "a-calm" and book.neighbour(None, -1).name == "b-wild"
    with pytest.raises(SceneError, match="scenes are 1..2"):
        book.find(3)
    with pytest.raises(SceneError, match="unknown scene 'x'"):
        book.find("x")


def test_changes_are_validated_and_bad_or_deleted_files_keep_their_last_good_settings(tmp_path):
    write(tmp_path / "one.toml", "[effects]\nzoom = 1.5\n")
    book = SceneBook(tmp_path, poll_s=0.0)
    write(tmp_path / "one.toml", "[effects]\nzoom = 1.8\n")
    messages, changed = book.poll(1.0)
    assert [s.name for s in changed] == ["one"] and book.find("one").settings.effects.zoom == 1.8
    write(tmp_path / "one.toml", "[effects]\nzoom = 'x'\n")
    messages, changed = book.poll(2.0)
    assert changed == [] and "keeping its last good settings" in messages[0]
    assert book.find("one").settings.effects.zoom == 1.8
    (tmp_path / "one.toml").unlink()
    messages, _ = book.poll(3.0)
    assert "was removed" in messages[0] and book.find("one").settings.effects.zoom == 1.8
    write(tmp_path / "two.toml", "[effects]\nzoom = 'y'\n")
    messages, _ = book.poll(4.0)
    assert "new scene two" in messages[0] and book.names == ["one"]
    assert book.poll(5.0) == ([], [])  # said once
    write(tmp_path / "two.toml", "")
    messages, _ = book.poll(6.0)
    assert messages == ["new scene two"] and book.names == ["one", "two"]


def test_a_folder_without_scenes_is_refused(tmp_path):
    with pytest.raises(SceneError, match="no scene files"):
        SceneBook(tmp_path)
