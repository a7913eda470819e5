"""Convert the musicnn weights (TensorFlow checkpoints inside the musicnn 0.1.0 wheel, ISC licence) to
our torch port, once; the runtime never needs TensorFlow.

Step 1 runs in a throwaway virtual environment with TensorFlow and the original package:

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install "tensorflow-cpu==2.21.*" tf-keras librosa
    /tmp/tf/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 /tmp/tf/bin/python -m visualizer.tools.convert_musicnn export MTT_musicnn mtt.npz

It writes every variable of the checkpoint and, as a reference, the original network's tags and
penultimate features for a batch of test spectrograms. Step 2 runs in our environment:

    .venv/bin/python -m visualizer.tools.convert_musicnn build mtt.npz checkpoints/musicnn-mtt.safetensors

It loads the variables into ``visualizer.listen.musicnn.Musicnn``, checks that it reproduces the
reference outputs, and saves float16 weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

# Where each torch parameter comes from: the tf.compat.v1.layers names, numbered in the order the
# original graph creates its layers (input norm; timbral 7x38 and 7x67; temporal 128, 64, 32; three
# mid-end convolutions; the pooled features' norm; the dense layer and its norm; the output layer).
CONVS = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2", "midend.0", "midend.1", "midend.2"]
NORMS = ["input_bn", "timbral_bn.0", "timbral_bn.1", "temporal_bn.0", "temporal_bn.1", "temporal_bn.2",
         "midend_bn.0", "midend_bn.1", "midend_bn.2", "pool_bn", "dense_bn"]
DENSES = ["dense", "logits"]
TAGS = {"MTT": "MTT_LABELS", "MSD": "MSD_LABELS"}


def _suffix(i: int) -> str:
    return "" if i == 0 else f"_{i}"


def variable_map() -> dict[str, str]:
    """torch state-dict key -> TensorFlow variable name."""
    out = {}
    for i, name in enumerate(CONVS):
        out[f"{name}.weight"] = f"conv2d{_suffix(i)}/kernel"
        out[f"{name}.bias"] = f"conv2d{_suffix(i)}/bias"
    for i, name in enumerate(NORMS):
        tf = f"batch_normalization{_suffix(i)}"
        out.update({f"{name}.weight": f"{tf}/gamma", f"{name}.bias": f"{tf}/beta",
                    f"{name}.running_mean": f"{tf}/moving_mean", f"{name}.running_var": f"{tf}/moving_variance"})
    for i, name in enumerate(DENSES):
        out[f"{name}.weight"] = f"dense{_suffix(i)}/kernel"
        out[f"{name}.bias"] = f"dense{_suffix(i)}/bias"
    return out


def test_spectrograms(count: int = 6, seed: int = 0) -> np.ndarray:
    """Log-mel batches [count, 187, 96] of synthetic sound (tones, noise bursts, clicks) to compare outputs on."""
    import librosa

    rng = np.random.default_rng(seed)
    sr, n = 16000, 48128
    t = np.arange(n) / sr
    out = []
    for k in range(count):
        y = 0.3 * np.sin(2 * np.pi * (110 * 2 ** (k / 3)) * t) * (1 + np.sin(2 * np.pi * (k + 1) * t))
        y += 0.1 * rng.standard_normal(n) * (np.sin(2 * np.pi * 2 * t) > 0.5 - 0.2 * k)
        y[:: sr // (k + 2)] += 0.8
        y *= 0.25 / np.abs(y).max()  # well inside float16, whose overflow the original's features would hit
        mel = librosa.feature.melspectrogram(y=y.astype(np.float32), sr=sr, hop_length=256, n_fft=512, n_mels=96).T
        # float16 storage as the original, but the log taken in float32 (10000 x overflows float16 past x = 6.5)
        out.append(np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)[:187])
    return np.stack(out).astype(np.float32)


def export(model: str, out: Path) -> None:
    """(TensorFlow side) every variable of ``model``'s checkpoint plus reference outputs, to an .npz."""
    import musicnn
    import tensorflow as tf
    from musicnn import configuration, models

    tf.compat.v1.disable_eager_execution()
    labels = getattr(configuration, TAGS[model[:3]])
    ckpt = str(Path(musicnn.__file__).parent / model) + "/"
    reader = tf.compat.v1.train.NewCheckpointReader(ckpt)  # the prefix itself: the stored "checkpoint" file points elsewhere
    variables = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
                 if "Adam" not in name and not name.endswith("_power")}
    mel = test_spectrograms()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
        training = tf.compat.v1.placeholder(tf.bool)
        logits, *_, penultimate = models.define_model(x, training, model, len(labels))
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, ckpt)
        ref_logits, ref_embedding = sess.run([logits, penultimate], {x: mel, training: False})
    np.savez(out, **{f"var:{k}": v for k, v in variables.items()}, mel=mel, logits=ref_logits,
             embedding=ref_embedding, tags=np.array(labels), model=np.array(model))
    print(f"wrote {out}: {len(variables)} variables, reference outputs of {len(mel)} windows", file=sys.stderr)


def build(npz: Path, out: Path) -> None:
    """(our side) the torch port with the exported variables, checked against the reference, saved."""
    import torch

    from visualizer.listen.musicnn import Musicnn, MusicnnConfig, save_musicnn

    data = np.load(npz)
    net = Musicnn(MusicnnConfig(tags=tuple(str(t) for t in data["tags"]))).eval()
    state = net.state_dict()
    for key, tf_name in variable_map().items():
        value = torch.from_numpy(np.asarray(data[f"var:{tf_name}"], dtype=np.float32))
        if value.ndim == 4 and state[key].ndim == 3:
            # A mid-end conv spans the whole feature axis (kw) of a 1-channel map: Conv1d [out, kw, kh].
            value = value[:, :, 0, :].permute(2, 1, 0)
        elif value.ndim == 4:     # conv kernel [kh, kw, in, out] -> [out, in, kh, kw]
            value = value.permute(3, 2, 0, 1)
        elif value.ndim == 2:     # dense kernel [in, out] -> [out, in]
            value = value.T
        elif state[key].ndim == 1 and value.numel() == state[key].numel():
            value = value.reshape(state[key].shape)
        if value.shape != state[key].shape:
            raise SystemExit(f"{tf_name} has shape {tuple(value.shape)}, {key} wants {tuple(state[key].shape)}")
        state[key] = value.contiguous()
    net.load_state_dict(state)
    with torch.no_grad():
        logits, embedding = net(torch.from_numpy(data["mel"]))
    err_logits = float(np.abs(logits.numpy() - data["logits"]).max())
    err_embedding = float(np.abs(embedding.numpy() - data["embedding"]).max())
    print(f"largest difference from TensorFlow: logits {err_logits:.2e}, embedding {err_embedding:.2e}",
          file=sys.stderr)
    if not (err_logits <= 1e-3 and err_embedding <= 1e-3):  # NaN fails too
        raise SystemExit("the port does not reproduce the original network; not saved")
    save_musicnn(out, net, source=f"musicnn 0.1.0 (PyPI, ISC licence), {data['model']}")
    print(f"wrote {out}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="step", required=True)
    e = sub.add_parser("export", help="in a TensorFlow environment: checkpoint -> .npz")
    e.add_argument("model", choices=["MTT_musicnn", "MSD_musicnn"])
    e.add_argument("out", type=Path)
    b = sub.add_parser("build", help="in ours: .npz -> safetensors, checked against TensorFlow's outputs")
    b.add_argument("npz", type=Path)
    b.add_argument("out", type=Path)
    args = p.parse_args()
    if args.step == "export":
        export(args.model, args.out)
    else:
        build(args.npz, args.out)


if __name__ == "__main__":
    main()
