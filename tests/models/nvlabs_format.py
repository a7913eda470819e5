"""Writing network pickles the way NVlabs' torch_utils.persistence does, without its code.

Each network module is pickled as a call of ``torch_utils.persistence._reconstruct_persistent_obj``
with its class name, a stand-in for the module source, and its state; only the names of
those globals are borrowed (a stand-in module is registered while pickling).
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections import OrderedDict

import torch

EVIL_SOURCE = "import os\nos.system('touch PWNED')\n"


class Persistent:
    """Pickles as NVlabs' persistent objects do."""

    def __init__(self, class_name: str, state: dict) -> None:
        self.class_name, self.state = class_name, state

    def __reduce__(self):
        hook = sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj
        meta = dict(type="class", version=6, module_src=EVIL_SOURCE, class_name=self.class_name, state=self.state)
        return hook, (meta,)


@contextlib.contextmanager
def nvlabs_module_names():
    """Register stand-ins for torch_utils.persistence so that pickle can name its hook."""
    package = types.ModuleType("torch_utils")
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # what the official loader would run; never called here
        raise AssertionError("the reconstruct hook of the file must not run")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    saved = {name: sys.modules.get(name) for name in ("torch_utils", "torch_utils.persistence")}
    sys.modules["torch_utils"], sys.modules["torch_utils.persistence"] = package, persistence
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def as_persistent(module: torch.nn.Module, init_kwargs: dict | None = None, class_name: str | None = None):
    """A module tree as NVlabs' pickles record it: parameters, buffers, sub-modules, init kwargs."""
    state = {
        "training": False,
        "_parameters": OrderedDict((k, v) for k, v in module._parameters.items()),
        "_buffers": OrderedDict((k, v) for k, v in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_modules": OrderedDict((k, as_persistent(v)) for k, v in module._modules.items()),
        "_init_args": (),
        "_init_kwargs": init_kwargs or {},
    }
    return Persistent(class_name or type(module).__name__, state)


def write_network_pickle(path, contents: dict) -> None:
    with nvlabs_module_names(), open(path, "wb") as fh:
        pickle.dump(contents, fh)
