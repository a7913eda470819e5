"""Reading NVlabs StyleGAN network pickles without running anything they contain.

The official loaders (stylegan2-ada-pytorch, stylegan3) unpickle ``network-*.pkl`` with
the standard unpickler: every network module in the file is rebuilt by
``torch_utils.persistence._reconstruct_persistent_obj``, which *executes the Python source*
stored in the pickle. A pickle can name any other callable too (``os.system``, ``eval``).

``read_network_pickle`` uses an unpickler that knows a short list of globals and nothing
else: plain containers, tensors and storages (read back with ``torch.load(weights_only=True)``),
numpy arrays, and the persistent-object hook, which here only records the class name and
the state (parameters, buffers, sub-modules, the recorded init kwargs) as plain data. The
stored source code is kept as text and never compiled. Any other global refuses the file
with an error naming it.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from visualizer.models.base import CheckpointError

PICKLE_MAGIC = b"\x80"  # protocol 2+ pickles start with the PROTO opcode


class UntrustedPickleError(CheckpointError):
    """The pickle asks for something outside the allowed set (code, or an unknown object)."""


@dataclass
class PersistentRecord:
    """What the persistent-object hook would have rebuilt, as data: never instantiated.

    ``class_name`` is the network class (e.g. "Generator"), ``state`` its ``__dict__``
    (for an ``nn.Module``: ``_parameters``, ``_buffers``, ``_modules``, ``_init_kwargs``, ...),
    ``module_src`` the stored source, as text only.
    """

    class_name: str
    state: dict
    module_src: str = ""

    @property
    def init_kwargs(self) -> dict:
        """The keyword arguments the network was built with (resolution, channels, w_dim, ...)."""
        return dict(self.state.get("_init_kwargs") or {})

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers by dotted name, as ``nn.Module.state_dict`` names them."""
        out: dict[str, torch.Tensor] = {}
        non_persistent = set(self.state.get("_non_persistent_buffers_set") or ())
        for name, value in (self.state.get("_parameters") or {}).items():
            if value is not None:
                out[prefix + name] = value.detach()
        for name, value in (self.state.get("_buffers") or {}).items():
            if value is not None and name not in non_persistent:
                out[prefix + name] = value
        for name, child in (self.state.get("_modules") or {}).items():
            if isinstance(child, PersistentRecord):
                out.update(child.state_dict(f"{prefix}{name}."))
            elif isinstance(child, torch.nn.Module):
                out.update({f"{prefix}{name}.{k}": v for k, v in child.state_dict().items()})
        return out


class _EasyDict(dict):
    """Stands in for dnnlib's EasyDict (a dict with attribute access) in pickled settings."""


def _persistent_record(meta: dict) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise UntrustedPickleError("the pickle holds a persistent object of an unknown kind")
    state = meta.get("state") or {}
    if not isinstance(state, dict):
        raise UntrustedPickleError(f"the pickled {meta['class_name']} has a state that is not plain data")
    return PersistentRecord(meta["class_name"], dict(state), str(meta.get("module_src", "")))


def _load_storage_bytes(data: bytes):
    """A storage pickled by torch as the bytes of a small torch.save file."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _allowed() -> dict[tuple[str, str], Any]:
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
        ("torch", "device"): torch.device,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_record,
        ("dnnlib.util", "EasyDict"): _EasyDict,
        ("dnnlib", "EasyDict"): _EasyDict,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for core in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(core, "_reconstruct")] = multiarray._reconstruct
        allowed[(core, "scalar")] = multiarray.scalar
    for name in ("float16", "float32", "float64", "bfloat16", "int64", "int32", "uint8", "bool"):
        if hasattr(torch, name):
            allowed[("torch", name)] = getattr(torch, name)
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``_allowed`` and refuses the rest."""

    def __init__(self, file, *, source: str) -> None:
        super().__init__(file)
        self._source = source
        self._allowed = _allowed()

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UntrustedPickleError(
                f"refusing to load {self._source}: it asks to run {module}.{name}, which is not part of a "
                "StyleGAN network (only tensors, settings and network records are read; no code is run)"
            ) from None

    def persistent_load(self, pid):
        raise UntrustedPickleError(f"refusing to load {self._source}: it refers to outside objects ({pid!r:.60})")


def is_pickle(path: str | Path) -> bool:
    """Whether the file starts like a binary pickle (NVlabs network-*.pkl files do).

    A safetensors file starts with its header's length (8 bytes, little-endian) and then "{",
    which a pickle never has at that place; its first bytes alone could look like a pickle's.
    """
    with open(path, "rb") as fh:
        head = fh.read(9)
    return head[:1] == PICKLE_MAGIC and 2 <= head[1:2][0] <= 5 and head[8:9] != b"{" if len(head) >= 2 else False


def read_network_pickle(path: str | Path) -> Any:
    """The contents of a network pickle as data (``PersistentRecord`` for each network object)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, source=str(path)).load()
    except UntrustedPickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RuntimeError, MemoryError, OverflowError) as exc:  # a damaged frame may claim a huge length
        raise CheckpointError(f"checkpoint {path} is a damaged pickle ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:120] if str(exc) else 'no detail'})") from None


def network_from_pickle(path: str | Path, key: str = "G_ema") -> PersistentRecord:
    """The record of one network (by default the generator's moving average) in an NVlabs pickle."""
    data = read_network_pickle(path)
    network = data.get(key) if isinstance(data, dict) else None
    if not isinstance(network, PersistentRecord):
        keys = ", ".join(sorted(map(str, data))) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"checkpoint {path} is a pickle without a '{key}' network (it holds: {keys[:120]}); "
                              "expected an NVlabs stylegan2-ada-pytorch or stylegan3 network-*.pkl")
    return network
