"""An install as users get it: a wheel, installed away from the source tree, renders the demo."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_built_wheel_installed_elsewhere_renders_the_demo(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("neural_music_visualizer-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    # The dependencies (torch and the rest) come from this environment, the package only from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import visualizer; print(visualizer.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=True).stdout
    assert Path(where.strip()).is_relative_to(site), where
    for init in (ROOT / "visualizer").rglob("__init__.py"):  # every subpackage made it into the wheel
        assert (site / init.relative_to(ROOT)).is_file(), init.relative_to(ROOT)
    out = tmp_path / "demo.mp4"
    proc = subprocess.run([str(venv / "bin" / "visualizer"), "demo", "--output", str(out), "--bars", "1",
                           "--size", "32", "--fps", "10", "--quiet"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 20
