import os
import time

from visualizer.live import SettingsWatcher


def test_reload_keeps_the_last_good_settings_and_says_what_was_wrong(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text("[walk]\ntruncation = 0.6\n")
    good, errors = [], []
    watcher = SettingsWatcher(path, good.append, errors.append, poll_s=0.0)
    watcher.poll()
    assert good == [] and errors == []  # unchanged file: nothing to do

    path.write_text("[walk]\ntruncation = 0.4\n")
    os.utime(path, (time.time() + 1, time.time() + 1))
    watcher.poll()
    assert [s.walk.truncation for s in good] == [0.4]

    path.write_text("[walk]\ntruncation = 7\n")
    os.utime(path, (time.time() + 2, time.time() + 2))
    watcher.poll()
    assert len(good) == 1 and "walk.truncation" in errors[-1] and "keeping the previous" in errors[-1]

    path.unlink()
    watcher.reload()
    assert "not found" in errors[-1] and len(good) == 1


def test_without_a_file_reload_says_so():
    errors = []
    SettingsWatcher(None, lambda s: None, errors.append).reload()
    assert errors == ["no --settings file to reload"]
