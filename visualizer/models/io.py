"""Loading and saving generators; nothing here executes code from a file.

Our own format is one safetensors file: the tensors, plus a JSON header in the
safetensors metadata that names the model family and its architecture.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from visualizer.errors import first_line
from visualizer.models.base import CheckpointError, Generator
from visualizer.resources import data_dir

VISVAE_FORMAT = "visualizer-visvae"
FASTGAN_FORMAT = "visualizer-fastgan"
STYLEGAN2_FORMAT = "visualizer-stylegan2"
STYLEGAN3_FORMAT = "visualizer-stylegan3"
CHECKPOINT_DIR = data_dir("checkpoints")
# The bundled models by the names --model takes; the first is the default.
BUNDLED = {
    "cosmos": "fastgan-cosmos-256.safetensors",
    "flames": "fastgan-flames-256.safetensors",
    "visvae": "visvae-wallpapers-256.safetensors",
}
DEFAULT_MODEL = next(iter(BUNDLED))
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / BUNDLED[DEFAULT_MODEL]


def bundled_path(name: str) -> Path | None:
    """The file of the bundled model called ``name`` (e.g. "cosmos"), or None for another name."""
    return CHECKPOINT_DIR / BUNDLED[name] if name in BUNDLED else None


def resolve_checkpoint(path: str | Path | None) -> Path:
    """The file a --model value names: the default model for None or "", a bundled model by its name, else the path."""
    if not path:
        return DEFAULT_CHECKPOINT
    if not Path(path).is_file() and bundled_path(str(path)) is not None:
        return bundled_path(str(path))
    return Path(path)


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a safetensors file atomically: to a temporary file beside it, synced, then renamed over
    ``path``, so an interruption or a full disk never leaves a half-written checkpoint under that name."""
    import os

    from safetensors.torch import save

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(save(tensors, metadata=metadata))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as exc:
        raise CheckpointError(f"cannot write {path} ({exc.strerror or exc}); free some space or choose another "
                              "output file") from None
    finally:
        tmp.unlink(missing_ok=True)


def save_visvae(path: Path, model, latent_mean: torch.Tensor, latent_chol: torch.Tensor,
                training: dict | None = None, dtype: torch.dtype = torch.float16) -> None:
    """Write a VisVAE (encoder + decoder) and its latent prior to ``path`` (safetensors).

    ``latent_mean`` [D] and ``latent_chol`` [D, D] describe the Gaussian fitted to the
    encoder's posterior means over the training set; keyframes are drawn from it.
    """
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    tensors["prior.mean"] = latent_mean.detach().float().contiguous()
    tensors["prior.chol"] = latent_chol.detach().float().contiguous()
    metadata = {
        "format": VISVAE_FORMAT,
        "config": json.dumps(model.cfg.to_dict()),
        "training": json.dumps(training or {}),
    }
    write_safetensors(path, tensors, metadata)


def save_fastgan(path: Path, net, training: dict | None = None, dtype: torch.dtype = torch.float16) -> None:
    """Write a trained FastGAN generator (eval-mode batch-norm statistics included) to ``path``.

    Weights are stored in ``dtype`` (float16 halves the file; the pictures differ by less than a grey
    level); batch-norm statistics stay float32; ``training`` is the training record (data, steps,
    CPU time, metrics) kept in the metadata as JSON.
    """
    tensors = {k: (v.detach().to(dtype) if v.is_floating_point() and "running_" not in k else v.detach()).contiguous()
               for k, v in net.state_dict().items()}
    metadata = {"format": FASTGAN_FORMAT, "config": json.dumps(net.cfg.to_dict()),
                "training": json.dumps(training or {})}
    write_safetensors(path, tensors, metadata)


def fastgan_from_safetensors(path: Path, tensors: dict, metadata: dict):
    """The FastGAN network (float32, eval mode) stored in a checkpoint's tensors and metadata."""
    from visualizer.models.fastgan import FastGAN, FastGANConfig

    try:
        net = FastGAN(FastGANConfig.from_dict(json.loads(metadata["config"])))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, strict=True)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} is damaged: {first_line(exc)[:200]}") from None
    return net.eval()


def save_stylegan(path: Path, net, source: str = "", dtype: torch.dtype = torch.float32) -> None:
    """Write a StyleGAN2 or StyleGAN3 network in our format: its tensors by name + the config as JSON."""
    from visualizer.models.stylegan3 import StyleGAN3

    tensors = {k: v.detach().to(dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in net.state_dict().items()}
    family = STYLEGAN3_FORMAT if isinstance(net, StyleGAN3) else STYLEGAN2_FORMAT
    metadata = {"format": family, "config": json.dumps(net.cfg.to_dict()), "source": str(source)}
    write_safetensors(Path(path), tensors, metadata)


def stylegan_from_pickle(path: Path):
    """Our StyleGAN2 or StyleGAN3 network with the weights of an NVlabs network pickle's G_ema (read as
    data only); which one is told by the tensors (a StyleGAN3 synthesis starts with Fourier features)."""
    from visualizer.models.pickles import network_from_pickle
    from visualizer.models.stylegan2 import StyleGAN2, StyleGAN2Config
    from visualizer.models.stylegan3 import StyleGAN3, StyleGAN3Config

    record = network_from_pickle(path)
    state = record.state_dict()
    third = any(k.startswith("synthesis.input.") for k in state)
    family = "StyleGAN3" if third else "StyleGAN2"
    try:
        if third:
            net = StyleGAN3(StyleGAN3Config.from_nvlabs_kwargs(record.init_kwargs))
        else:
            net = StyleGAN2(StyleGAN2Config.from_nvlabs_kwargs(record.init_kwargs))
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{path} is not a {family} generator we can read: {first_line(exc)[:200]}") from None
    return net


def stylegan_from_safetensors(path: Path, tensors: dict, metadata: dict):
    from visualizer.models.stylegan2 import StyleGAN2, StyleGAN2Config
    from visualizer.models.stylegan3 import StyleGAN3, StyleGAN3Config

    try:
        config = json.loads(metadata["config"])
        if metadata.get("format") == STYLEGAN3_FORMAT:
            net = StyleGAN3(StyleGAN3Config.from_dict(config))
        else:
            net = StyleGAN2(StyleGAN2Config.from_dict(config))
        net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} is damaged: {first_line(exc)[:200]}") from None
    return net


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, or a CheckpointError saying what is wrong."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a safetensors file ({exc})") from None
    return tensors, metadata


def load_visvae(path: str | Path) -> tuple["VisVAE", torch.Tensor, torch.Tensor]:
    """The whole VisVAE (encoder too, float32, CPU) and its prior (mean [D], Cholesky [D, D])."""
    from visualizer.models.visvae import VisVAE, VisVAEConfig

    path = Path(path)
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != VISVAE_FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a VisVAE checkpoint")
    model = VisVAE(VisVAEConfig.from_dict(json.loads(metadata["config"])))
    state = {k: v.float() for k, v in tensors.items() if not k.startswith("prior.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} is damaged: {str(exc).splitlines()[0][:200]}") from None
    return model.eval(), tensors["prior.mean"].float(), tensors["prior.chol"].float()


def load_generator(path: str | Path | None = None, *, device: str = "auto") -> Generator:
    """Load any supported checkpoint as a Generator; ``None`` loads the bundled default, and the name
    of a bundled model (``BUNDLED``: e.g. "cosmos", "visvae") loads that one.

    ``device`` is "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
    """
    from visualizer.models.fastgan import FastGANGenerator
    from visualizer.models.visvae import VisVAEGenerator

    path = resolve_checkpoint(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}; pass --model with an existing file or a bundled "
                              f"model's name ({', '.join(BUNDLED)})")
    resolved = resolve_device(device)
    from visualizer.models.pickles import is_pickle
    from visualizer.models.rosinality import is_torch_zip, stylegan2_from_rosinality
    from visualizer.models.stylegan2 import StyleGANGenerator

    if is_pickle(path):  # NVlabs network-*.pkl, read as data only (visualizer.models.pickles)
        return StyleGANGenerator(stylegan_from_pickle(path), device=resolved, source=str(path))
    if is_torch_zip(path):  # rosinality/stylegan2-pytorch .pt, read with torch.load(weights_only=True)
        return StyleGANGenerator(stylegan2_from_rosinality(path), device=resolved, source=str(path))
    tensors, metadata = read_safetensors(path)
    family = metadata.get("format")
    if family == VISVAE_FORMAT:
        return VisVAEGenerator.from_tensors(tensors, metadata, device=resolved, source=path)
    if family == FASTGAN_FORMAT:
        return FastGANGenerator(fastgan_from_safetensors(path, tensors, metadata), device=resolved, source=str(path))
    if family in (STYLEGAN2_FORMAT, STYLEGAN3_FORMAT):
        return StyleGANGenerator(stylegan_from_safetensors(path, tensors, metadata), device=resolved,
                                 source=str(path))
    raise CheckpointError(
        f"checkpoint {path} has unknown format {family!r}; expected a visualizer safetensors file (FastGAN, "
        "VisVAE, StyleGAN2 or StyleGAN3), an NVlabs StyleGAN2/StyleGAN3 network pickle or a rosinality StyleGAN2 "
        ".pt checkpoint"
    )


def convert_checkpoint(source: Path, target: Path) -> Path:
    """Write the StyleGAN network in ``source`` (NVlabs pickle, rosinality .pt or ours) to ``target`` in our format."""
    from visualizer.models.pickles import is_pickle
    from visualizer.models.rosinality import is_torch_zip, stylegan2_from_rosinality

    if not source.is_file():
        raise CheckpointError(f"checkpoint not found: {source}")
    if target.suffix != ".safetensors":
        raise CheckpointError(f"output {target} should end in .safetensors")
    if not target.parent.is_dir():
        raise CheckpointError(f"output folder {target.parent} does not exist; create it or choose another output")
    if is_pickle(source):
        net = stylegan_from_pickle(source)
    elif is_torch_zip(source):
        net = stylegan2_from_rosinality(source)
    else:
        tensors, metadata = read_safetensors(source)
        if metadata.get("format") not in (STYLEGAN2_FORMAT, STYLEGAN3_FORMAT):
            raise CheckpointError(f"{source} is already in our format ({metadata.get('format')}); nothing to convert")
        net = stylegan_from_safetensors(source, tensors, metadata)
    save_stylegan(target, net, source=source.name)
    return target


def apply_model_settings(generator: Generator, settings) -> None:
    """Hand a generator the settings its family reads while running: StyleGAN's truncation toward
    the average w (``walk.truncation``) and its synthesis precision (``model.precision``)."""
    if hasattr(generator, "truncation"):
        generator.truncation = settings.walk.truncation
    if hasattr(generator, "precision"):
        generator.precision = settings.model.precision


def load_configured(settings) -> Generator:
    """The generator the settings name (``model.checkpoint``, else the bundled default) on
    ``model.device``, with the settings it reads while running applied."""
    generator = load_generator(settings.model.checkpoint or None, device=settings.model.device)
    apply_model_settings(generator, settings)
    return generator


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; anything else is checked for availability."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise CheckpointError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CheckpointError("device 'cuda' requested but no CUDA GPU is available; use --device cpu")
    return dev
