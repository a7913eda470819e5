"""NVlabs-style network pickles are read as data; anything that would run code is refused."""

import os
import pickle
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch

from tests.models.nvlabs_format import Persistent as _Persistent
from tests.models.nvlabs_format import nvlabs_module_names
from visualizer.models.base import CheckpointError
from visualizer.models.io import load_generator
from visualizer.models.pickles import PersistentRecord, UntrustedPickleError, network_from_pickle, read_network_pickle


def _module_state(params: dict, modules: dict | None = None, kwargs: dict | None = None) -> dict:
    return {"training": False, "_parameters": OrderedDict((k, torch.nn.Parameter(v)) for k, v in params.items()),
            "_buffers": OrderedDict(), "_non_persistent_buffers_set": set(), "_modules": OrderedDict(modules or {}),
            "_init_args": (), "_init_kwargs": kwargs or {}}


@pytest.fixture
def nvlabs_modules():
    with nvlabs_module_names():
        yield


def test_an_nvlabs_style_pickle_is_read_as_data_without_running_its_source(tmp_path, nvlabs_modules):
    torch.manual_seed(0)
    weights = {"fc.weight": torch.randn(8, 4), "fc.bias": torch.randn(8), "const": torch.randn(2, 4, 4)}
    mapping = _Persistent("MappingNetwork", _module_state({"weight": weights["fc.weight"], "bias": weights["fc.bias"]}))
    synthesis = _Persistent("SynthesisNetwork", _module_state({"const": weights["const"]}))
    kwargs = {"z_dim": 4, "w_dim": 8, "img_resolution": 16, "img_channels": 3}
    g_ema = _Persistent("Generator", _module_state({}, {"mapping": mapping, "synthesis": synthesis}, kwargs))
    path = tmp_path / "network-snapshot-000000.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"G_ema": g_ema, "training_set_kwargs": {"resolution": 16}, "augment_pipe": None}, fh)
    os.chdir(tmp_path)

    record = network_from_pickle(path)
    assert isinstance(record, PersistentRecord) and record.class_name == "Generator"
    assert record.init_kwargs == kwargs
    state = record.state_dict()
    torch.testing.assert_close(state["mapping.weight"], weights["fc.weight"])
    torch.testing.assert_close(state["synthesis.const"], weights["const"])
    assert "os.system" in record.state["_modules"]["mapping"].module_src  # kept as text only
    assert not (tmp_path / "PWNED").exists()
    # It is not a whole StyleGAN2 generator, and loading it says so in one line.
    with pytest.raises(CheckpointError, match="not a StyleGAN2 generator we can read"):
        load_generator(path, device="cpu")


class _RunsACommand:
    def __reduce__(self):
        return os.system, ("touch PWNED",)


class _Evaluates:
    def __reduce__(self):
        return eval, ("__import__('os').system('touch PWNED')",)


@pytest.mark.parametrize("payload, named", [(_RunsACommand(), "system"), (_Evaluates(), "builtins.eval")])
def test_a_malicious_pickle_is_refused_and_nothing_runs(tmp_path, payload, named):
    path = tmp_path / "network.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload}))
    os.chdir(tmp_path)
    with pytest.raises(UntrustedPickleError, match=named):
        read_network_pickle(path)
    assert not (tmp_path / "PWNED").exists()


def test_the_cli_refuses_a_malicious_model_in_one_line(tmp_path):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"G_ema": _RunsACommand()}))
    proc = subprocess.run([sys.executable, "-m", "visualizer", "analyze", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    song = tmp_path / "x.wav"
    from visualizer.audio.demo import click_track, write_wav

    write_wav(song, click_track([0.1], duration_s=0.5, sample_rate=22050), 22050)
    proc = subprocess.run([sys.executable, "-m", "visualizer", "--input", song, "--output", tmp_path / "o.mp4",
                           "--model", evil, "--quiet"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line and "refusing to load" in line and "system" in line, line
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "o.mp4").exists()


def test_a_truncated_pickle_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"G_ema": [1, 2, 3] * 100})[:40])
    with pytest.raises(CheckpointError, match="damaged pickle"):
        read_network_pickle(path)
