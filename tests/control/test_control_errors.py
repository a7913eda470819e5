"""Show-control mistakes as a user makes them: one clear line each, never a traceback."""

import os
import socket
import subprocess
import sys

import pytest

from tests.live_fixtures import virtual_display, virtual_mic, virtual_midi  # noqa: F401 (fixtures)
from tests.test_cli import assert_one_line_error


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "visualizer", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def live_env(virtual_display, virtual_mic):
    return dict(virtual_mic, DISPLAY=virtual_display)


def test_an_osc_port_in_use_is_named(live_env):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", 0))
        port = taken.getsockname()[1]
        proc = run("--input", "mic", "--device", "pulse", "--osc", port, "--duration", "1", env=live_env)
    assert_one_line_error(proc, f"OSC port {port} is in use", "--osc PORT")


def test_a_bad_osc_out_address_is_named(live_env):
    proc = run("--input", "mic", "--osc-out", "127.0.0.1:notaport", "--duration", "1", env=live_env)
    assert_one_line_error(proc, "--osc-out", "HOST:PORT")


def test_an_unknown_midi_port_lists_the_ports(live_env, virtual_midi):
    import mido

    os.environ["JACK_DEFAULT_SERVER"] = virtual_midi["JACK_DEFAULT_SERVER"]
    try:
        port = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).open_output("pads", virtual=True)
        proc = run("--input", "mic", "--midi", "nanoKONTROL", "--duration", "1", env=dict(live_env, **virtual_midi))
        listing = run("--list-midi", env=dict(live_env, **virtual_midi))
        port.close()
    finally:
        del os.environ["JACK_DEFAULT_SERVER"]
    assert_one_line_error(proc, "no MIDI input port 'nanoKONTROL'", "pads")
    assert listing.returncode == 0 and "pads" in listing.stdout


def test_a_midi_binding_to_an_unknown_key_is_refused(tmp_path, live_env):
    settings = tmp_path / "show.toml"
    settings.write_text('[[midi]]\ncc = 7\nkey = "effects.zooom"\n')
    proc = run("--input", "mic", "--settings", settings, "--duration", "1", env=live_env)
    assert_one_line_error(proc, "midi[0].key", "did you mean 'effects.zoom'")


def test_a_missing_scene_folder_and_a_bad_scene_file_are_named(tmp_path, live_env):
    proc = run("--input", "mic", "--scenes", tmp_path / "nowhere", "--duration", "1", env=live_env)
    assert_one_line_error(proc, "scene folder not found")
    (tmp_path / "bad.toml").write_text("[effects]\nzoom = 9\n")
    proc = run("--input", "mic", "--scenes", tmp_path, "--duration", "1", env=live_env)
    assert_one_line_error(proc, "bad.toml", "effects.zoom")


def test_system_input_without_a_sound_server_says_what_to_start(live_env, tmp_path):
    env = dict(live_env, XDG_RUNTIME_DIR=str(tmp_path), PULSE_RUNTIME_PATH=str(tmp_path / "none"),
               PULSE_SERVER="unix:" + str(tmp_path / "none"))
    proc = run("--input", "system", "--duration", "1", env=env)
    assert_one_line_error(proc, "--input system needs PulseAudio or PipeWire running")
