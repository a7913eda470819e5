"""Renders on a real Ray cluster (a head node with two worker slots, in a network namespace of its
own, so Ray talks over loopback only): a catalogue of songs, one song in chunks, a corrupt song, a
worker killed mid-task, an unreachable cluster. Each video is checked against a render on this
machine, decoded frame by frame."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from visualizer.audio.demo import demo_loop, write_wav
from visualizer.engine import render_file
from visualizer.settings import Settings
from visualizer.tools.ray_netns import can_make_namespaces, ray_cluster
from tests.conftest import video_frames as decoded

pytestmark = pytest.mark.skipif(not can_make_namespaces(), reason="needs root to make a network namespace "
                                                                    "(CI runs as root)")
VISUALIZER = [sys.executable, "-m", "visualizer"]
SMALL = ["--size", "64", "--fps", "10", "--quiet"]


@pytest.fixture(scope="module")
def cluster():
    with ray_cluster(cpus=2) as c:
        yield c


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        return float(stream.duration * stream.time_base)


def song(folder: Path, name: str, bars: int, seed: int) -> Path:
    audio = demo_loop(bars=bars)
    # Each song a little different: another level and a few samples' offset.
    audio = np.roll(audio, 97 * seed, axis=1) * (0.6 + 0.1 * seed)
    return write_wav(folder / name, audio.astype(np.float32), 44100)


def single(path: Path, out: Path, settings: Settings) -> np.ndarray:
    render_file(path, out, settings, progress=False)
    return decoded(out)


def test_a_catalogue_renders_song_by_song_as_on_one_machine(cluster, tmp_path):
    songs = [song(tmp_path, f"song{i}.wav", bars=1 + i % 2, seed=i) for i in range(3)]
    corrupt = tmp_path / "broken.mp3"
    corrupt.write_bytes(os.urandom(4000))
    out = tmp_path / "videos"
    run = cluster.run([*VISUALIZER, "render-many", *map(str, songs), str(corrupt), "--out-dir", str(out),
                       "--address", cluster.address, "--cpus-per-song", "1", *SMALL],
                      capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr  # one song failed
    assert "broken.mp3 failed" in run.stderr and "Traceback" not in run.stderr
    assert "3 rendered, 0 already there, 1 failed" in run.stdout
    settings = Settings().with_overrides(render={"size": 64, "fps": 10})
    for s in songs:
        video = out / f"{s.stem}.mp4"
        np.testing.assert_array_equal(decoded(video), single(s, tmp_path / f"{s.stem}-here.mp4", settings))
        assert abs(audio_seconds(video) - audio_seconds(tmp_path / f"{s.stem}-here.mp4")) < 1e-3
    assert sorted(p.name for p in out.iterdir()) == ["song0.mp4", "song1.mp4", "song2.mp4"]  # nothing half-written
    # A rerun skips what is there and renders only what is missing.
    (out / "song1.mp4").unlink()
    before = (out / "song0.mp4").stat().st_mtime_ns
    again = cluster.run([*VISUALIZER, "render-many", *map(str, songs), "--out-dir", str(out),
                         "--address", cluster.address, "--cpus-per-song", "1", *SMALL],
                        capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "1 rendered, 2 already there, 0 failed" in again.stdout
    assert (out / "song0.mp4").stat().st_mtime_ns == before and (out / "song1.mp4").is_file()


def test_a_song_in_four_chunks_equals_its_single_render_frame_for_frame(cluster, tmp_path):
    wav = song(tmp_path, "minute.wav", bars=30, seed=1)  # 60 s at 120 BPM
    lossless = tmp_path / "lossless.toml"
    lossless.write_text("[render]\ncrf = 0\n")  # frame for frame: no encoder noise in the comparison
    out = tmp_path / "chunked.mp4"
    run = cluster.run([*VISUALIZER, "--input", str(wav), "--output", str(out), "--chunks", "4", "--settings",
                       str(lossless), "--address", cluster.address, "--cpus-per-chunk", "1", *SMALL],
                      capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    settings = Settings().with_overrides(render={"size": 64, "fps": 10, "crf": 0})
    here = single(wav, tmp_path / "single.mp4", settings)
    joined = decoded(out)
    assert len(joined) == len(here) == 600
    np.testing.assert_array_equal(joined, here)
    assert abs(audio_seconds(out) - 60.0) < 0.05
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # chunks cleaned up


def test_a_killed_worker_s_song_is_rendered_again(cluster, tmp_path):
    wav = song(tmp_path, "long.wav", bars=12, seed=2)
    out = tmp_path / "videos"
    driver = cluster.popen([*VISUALIZER, "render-many", str(wav), "--out-dir", str(out), "--address",
                            cluster.address, "--cpus-per-song", "1", "--size", "128", "--fps", "10", "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and driver.poll() is None:
        for pid in cluster.pids():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::render_song_task"):
                time.sleep(3)  # well into its song
                os.kill(pid, signal.SIGKILL)
                killed = pid
                break
        time.sleep(0.2)
    stdout, stderr = driver.communicate(timeout=600)
    assert killed is not None, stderr
    assert driver.returncode == 0, stderr
    assert "1 rendered" in stdout
    settings = Settings().with_overrides(render={"size": 128, "fps": 10})
    np.testing.assert_array_equal(decoded(out / "long.mp4"), single(wav, tmp_path / "here.mp4", settings))


def test_an_unreachable_cluster_is_one_line(cluster, tmp_path):
    wav = song(tmp_path, "a.wav", bars=1, seed=0)
    run = cluster.run([*VISUALIZER, "render-many", str(wav), "--out-dir", str(tmp_path / "v"),
                       "--address", "127.0.0.1:1", *SMALL], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in run.stderr
    assert not (tmp_path / "v").exists() or not any((tmp_path / "v").iterdir())
