"""The command line as a user meets it: one clear line on stderr for every mistake, never a traceback."""

import os
import subprocess
import sys

import av
import numpy as np
import pytest

from visualizer.audio.demo import write_wav
from tests.conftest import tone

SMALL = ["--size", "32", "--fps", "10", "--quiet"]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "visualizer", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def assert_one_line_error(proc, *words):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("visualizer: error: ")
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("cli") / "tone.wav", tone(1.0, 44100), 44100)


def test_print_settings_is_a_loadable_settings_file(tmp_path):
    proc = run("--print-settings")
    assert proc.returncode == 0 and "[[mappings]]" in proc.stdout
    path = tmp_path / "s.toml"
    path.write_text(proc.stdout)
    from visualizer.settings import Settings, load_settings

    assert load_settings(path) == Settings()


def test_missing_audio(tmp_path):
    assert_one_line_error(run("--input", tmp_path / "nope.mp3", "--output", tmp_path / "o.mp4"), "not found")


def test_non_audio_file(tmp_path):
    bogus = tmp_path / "song.mp3"
    bogus.write_bytes(os.urandom(4000))
    assert_one_line_error(run("--input", bogus, "--output", tmp_path / "o.mp4"), "song.mp3")
    assert not (tmp_path / "o.mp4").exists()


def test_unwritable_output_fails_before_rendering(tmp_path, wav):
    proc = run("--input", wav, "--output", tmp_path / "missing" / "o.mp4")
    assert_one_line_error(proc, "does not exist")
    assert_one_line_error(run("--input", wav, "--output", "/sys/o.mp4"), "permission denied")


def test_bad_settings_key_and_value(tmp_path, wav):
    bad_key = tmp_path / "key.toml"
    bad_key.write_text("[walk]\nchroma_wieght = 0.5\n")
    assert_one_line_error(run("--input", wav, "--output", tmp_path / "o.mp4", "--settings", bad_key),
                          "walk.chroma_wieght", "walk.chroma_weight")
    bad_value = tmp_path / "value.toml"
    bad_value.write_text("[render]\ncrf = 99\n")
    assert_one_line_error(run("--input", wav, "--output", tmp_path / "o.mp4", "--settings", bad_value),
                          "render.crf")
    assert_one_line_error(run("--input", wav, "--output", tmp_path / "o.mp4", "--settings", tmp_path / "x.toml"),
                          "not found")


def test_corrupt_checkpoint(tmp_path, wav):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x00" * 64)
    assert_one_line_error(run("--input", wav, "--output", tmp_path / "o.mp4", "--model", bad), "corrupt")


def test_live_mode_without_a_display_suggests_a_video(wav):
    assert_one_line_error(run("--input", "mic"), "--output")


@pytest.mark.parametrize("args, words", [
    (["--size", "0x0"], ["--size 0x0", "out of range"]),
    (["--size", "wide"], ["--size 'wide'", "not a number"]),
    (["--window-size", "12x"], ["--window-size '12x'", "WxH"]),
    (["--window-size", "20x20"], ["--window-size 20x20", "out of range"]),
])
def test_a_bad_window_size_names_the_option_typed(args, words):
    assert_one_line_error(run("--input", "mic", *args), *words)


@pytest.mark.parametrize("args, words", [
    (["--size", "0x5"], ["--size 0x5", "out of range", "1920x1080"]),
    (["--size", "100x"], ["--size '100x'", "not WxH"]),
    (["--size", "5000"], ["--size 5000", "out of range"]),
])
def test_a_bad_video_size_is_one_line(tmp_path, wav, args, words):
    assert_one_line_error(run("--input", wav, "--output", tmp_path / "out.mp4", *args), *words)
    assert not (tmp_path / "out.mp4").exists()


def test_a_too_small_side_in_the_settings_file_is_one_line(tmp_path, wav):
    (tmp_path / "s.toml").write_text("[render]\nwidth = 5\n")
    assert_one_line_error(run("--input", wav, "--output", tmp_path / "out.mp4", "--settings", tmp_path / "s.toml"),
                          "render.width 5", "16 pixels or more")


@pytest.mark.parametrize("args, words", [
    (["--start", "0:05"], ["--start 0:05.0 is after the end of the song (0:01.0)"]),
    (["--start", "0.5", "--end", "0.2"], ["--end 0:00.2 is not after --start 0:00.5"]),
    (["--start", "1:x"], ["--start", "'1:x' is not a time"]),
])
def test_a_bad_section_is_one_line(tmp_path, wav, args, words):
    assert_one_line_error(run("--input", wav, "--output", tmp_path / "out.mp4", *args), *words)
    assert not (tmp_path / "out.mp4").exists()


def test_a_preview_of_a_section_is_small_short_and_quick(tmp_path, wav):
    out = tmp_path / "preview.mp4"
    proc = run("--input", wav, "--output", out, "--size", "1920x1080", "--preview", "--start", "0.25", "--end", "0.75",
               "--quiet")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        video = c.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (384, 216)
        assert video.frames == 7 and float(video.average_rate) == 15  # frames round(0.25 x 15) to round(0.75 x 15)


def test_size_wxh_renders_a_video_of_that_shape(tmp_path, wav):
    out = tmp_path / "wide.mp4"
    proc = run("--input", wav, "--output", out, "--size", "64x36", "--fps", "10", "--quiet")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (64, 36)


def test_wide_fit_with_a_square_only_model_says_it_works_as_cover(tmp_path, wav):
    show = tmp_path / "show.toml"
    show.write_text('[effects]\nfit = "wide"\n')
    proc = run("--input", wav, "--output", tmp_path / "wide.mp4", "--settings", show, "--size", "64x36",
               "--fps", "10", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert 'effects.fit = "wide" works as "cover"' in proc.stderr and "StyleGAN" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("rate, channels", [(8000, 1), (96000, 2), (44100, 6), (22050, 3)])
def test_any_rate_and_channel_count_renders(tmp_path, rate, channels):
    audio = write_wav(tmp_path / "in.wav", tone(1.0, rate, channels), rate)
    out = tmp_path / "out.mp4"
    proc = run("--input", audio, "--output", out, *SMALL)
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 10
        a = c.streams.audio[0].codec_context
        assert a.sample_rate == rate and a.channels == (2 if channels == 3 else channels)


@pytest.mark.slow
def test_demo_renders_the_bundled_loop_and_a_sheet_shows_it(tmp_path):
    proc = run("demo", "--output", tmp_path / "demo.mp4", "--bars", "1", *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "demo.wav").exists()
    with av.open(str(tmp_path / "demo.mp4")) as c:
        assert c.streams.video[0].frames == 20  # one 4/4 bar at 120 BPM is 2 s, at 10 fps
    proc = run("sheet", tmp_path / "demo.mp4", "--count", "4")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "demo.png").stat().st_size > 1000


def test_sheet_of_a_missing_video(tmp_path):
    assert_one_line_error(run("sheet", tmp_path / "nope.mp4"), "not found")


def test_analyze_prints_what_it_heard_and_writes_json(tmp_path):
    import json

    from visualizer.audio.demo import demo_loop

    song = write_wav(tmp_path / "loop.wav", demo_loop(sample_rate=22050, bpm=120.0, bars=8), 22050)
    out = tmp_path / "analysis.json"
    proc = run("analyze", song, "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "tempo: 120" in proc.stdout and "beats:" in proc.stdout
    data = json.loads(out.read_text())
    assert data["schema"] == "visualizer-analysis/1"
    frames = data["frames"]
    assert len(frames["time_s"]) == len(frames["beat_phase"]) == len(frames["chroma"]) > 1000
    beats = np.array([b["time_s"] for b in data["beats"]])
    assert len(beats) > 20 and np.allclose(np.diff(beats[-10:]), 0.5, atol=0.03)
    assert all(0 <= o["strength"] <= 1 for o in data["onsets"]) and len(data["onsets"]) > 40
    assert abs(data["tempo"][-1]["bpm"] - 120.0) < 2.4


def test_analyze_errors(tmp_path, wav):
    assert_one_line_error(run("analyze", tmp_path / "nope.wav"), "not found")
    assert_one_line_error(run("analyze", wav, "--json", tmp_path / "no" / "such" / "dir.json"), "does not exist")


def picture_folder(folder, count=8, size=48):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def train_args(tmp_path, *extra):
    return ["train", "--resolution", "32", "--batch-size", "4", "--cache", tmp_path / "cache",
            "--state", tmp_path / "run.pt", "--out", tmp_path / "model.safetensors", *extra]


def test_train_refuses_bad_data_and_bad_resume_files_in_one_line(tmp_path, tiny_checkpoint):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run(*train_args(tmp_path, "--data", tmp_path / "empty")), "no pictures")
    assert_one_line_error(run(*train_args(tmp_path, "--data", tmp_path / "nowhere")), "no such folder")
    assert_one_line_error(run(*train_args(tmp_path, "--resume", tmp_path / "gone.pt")), "not found")
    assert_one_line_error(run(*train_args(tmp_path, "--resume", tiny_checkpoint)), "is a model")
    (tmp_path / "bad.pt").write_bytes(b"not a training state " * 150)  # fixed bytes: random ones made torch warn now and then
    assert_one_line_error(run(*train_args(tmp_path, "--resume", tmp_path / "bad.pt")), "corrupt")
    assert_one_line_error(run(*train_args(tmp_path, "--resolution", "100")), "--resolution")
    assert not (tmp_path / "model.safetensors").exists() and not (tmp_path / "run.pt").exists()


@pytest.mark.slow
def test_an_interrupted_training_run_saves_first_and_resumes(tmp_path):
    import signal
    import time

    from visualizer.models import load_generator
    from visualizer.train.gan import GANTrainConfig, load_state

    pics = picture_folder(tmp_path / "pics")
    proc = subprocess.Popen([sys.executable, "-m", "visualizer",
                             *map(str, train_args(tmp_path, "--data", pics, "--minutes", "10"))],
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # wait until the loop runs, then stop it as Ctrl-C would
        if "Ctrl-C saves" in line:
            break
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, rest
    assert "stopping: saving the state first" in rest and "Traceback" not in rest
    steps = load_state(tmp_path / "run.pt", GANTrainConfig()).step
    assert steps >= 1
    assert load_generator(tmp_path / "model.safetensors", device="cpu").resolution == 32
    # Starting afresh over the saved state would lose it: refused, with the way on.
    assert_one_line_error(run(*train_args(tmp_path, "--data", pics)), "--resume")
    resumed = run(*train_args(tmp_path, "--resume", tmp_path / "run.pt", "--steps", steps + 2))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {tmp_path / 'run.pt'}: step {steps}" in resumed.stderr
    assert load_state(tmp_path / "run.pt", GANTrainConfig()).step == steps + 2


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")
def test_a_full_disk_leaves_no_half_written_model_and_keeps_the_state(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        pics = picture_folder(tmp_path / "pics")
        args = train_args(tmp_path, "--data", pics, "--steps", "1")
        args[args.index("--out") + 1] = small / "model.safetensors"
        proc = run(*args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]  # after the run's progress lines
        assert last.startswith("visualizer: error: cannot write") and "model.safetensors" in last, last
        assert list(small.iterdir()) == []  # neither the model nor a temporary file
        assert (tmp_path / "run.pt").exists()  # the run itself is not lost
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_disk_that_fills_up_mid_render_is_one_line_and_leaves_nothing(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(small)], check=True)
    try:
        song = write_wav(tmp_path / "song.wav", tone(4.0, 44100), 44100)
        proc = run("--input", song, "--output", small / "video.mp4", "--size", "256", "--fps", "15", "--quiet")
        assert_one_line_error(proc, "cannot write", "video.mp4", "No space left on device")
        assert list(small.iterdir()) == []  # neither the video nor its temporary file
    finally:
        subprocess.run(["umount", str(small)], check=True)
