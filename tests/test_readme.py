"""Every command README.md shows runs as written: each one parses with the CLI's own parsers, the cheap
ones run for real on the demo audio, and the TOML example is a valid settings file."""

import shlex
from pathlib import Path

import pytest

from visualizer.audio.demo import demo_loop, write_wav
from visualizer.cli import PARSERS, main
from visualizer.settings import load_settings

README = Path(__file__).resolve().parents[1] / "README.md"
AUDIO_NAMES = ("song.mp3", "song.wav", "song.flac")


def fenced(lang: str = "") -> list[str]:
    """The fenced blocks of README.md whose info string is ``lang``."""
    blocks, info, body = [], None, []
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            if info is None:
                info, body = line[3:].strip(), []
            else:
                if info == lang:
                    blocks.append("\n".join(body) + "\n")
                info = None
        elif info is not None:
            body.append(line)
    return blocks


def commands() -> list[list[str]]:
    """The argument lists of the `.venv/bin/visualizer` commands, without the program and any redirect."""
    out = []
    for block in fenced():
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part.strip(), comments=True)
                if words and words[0] == ".venv/bin/visualizer":
                    out.append(words[1:words.index(">")] if ">" in words else words[1:])
    return out


def test_readme_is_short_and_names_its_commands():
    assert len(README.read_text().splitlines()) <= 150
    argvs = commands()
    assert ["demo", "--output", "demo.mp4"] in argvs
    assert any(a[:2] == ["--input", "mic"] for a in argvs)
    assert any(a and a[0] == "analyze" for a in argvs)


@pytest.mark.parametrize("argv", commands(), ids=lambda a: " ".join(a)[:60])
def test_every_command_parses(argv):
    sub = argv[0] if argv and argv[0] in PARSERS and argv[0] else ""
    rest = argv[1:] if sub else argv
    try:
        PARSERS[sub]().parse_args(rest)
    except SystemExit as exc:
        pytest.fail(f"README command does not parse ({exc.code}): visualizer {' '.join(argv)}")


def test_the_toml_example_is_valid_settings(tmp_path):
    (block,) = fenced("toml")
    path = tmp_path / "example.toml"
    path.write_text(block)
    settings = load_settings(path)
    assert [m.target for m in settings.mappings] == ["pulse", "jump"]
    assert [(a.source, a.target) for a in settings.attributes] == [("sad", "dark")]


def _with_demo_audio(argv: list[str], tmp_path: Path) -> list[str]:
    song = tmp_path / "song.wav"
    if not song.exists():
        write_wav(song, demo_loop(bars=2), 44100)
    return [str(song) if a in AUDIO_NAMES else str(tmp_path / a) if a.endswith((".json", ".mp4")) else a
            for a in argv]


def test_print_settings_writes_a_file_that_loads(tmp_path, capsys):
    (argv,) = [a for a in commands() if a == ["--print-settings"]]
    assert main(argv) == 0
    path = tmp_path / "show.toml"
    path.write_text(capsys.readouterr().out)
    assert load_settings(path) is not None


def test_analyze_runs_on_the_demo_audio(tmp_path):
    (argv,) = [a for a in commands() if a and a[0] == "analyze"]
    assert main(_with_demo_audio(argv, tmp_path)) == 0
    assert (tmp_path / "song.json").stat().st_size > 0


@pytest.mark.slow
def test_the_render_command_runs_on_the_demo_audio(tmp_path):
    (argv,) = [a for a in commands() if "--output" in a and "--input" in a]
    assert main(_with_demo_audio(argv, tmp_path) + ["--quiet"]) == 0
    assert (tmp_path / "song.mp4").stat().st_size > 0
