"""IonMorphNet as an ONNX graph: exported beside the safetensors when publishing, run without torch.

A weights folder may hold ``model.onnx`` (:data:`ionmorph.models.hub.ONNX_FILE`): the fp32 graph of its
``model.safetensors`` (which stay the source of truth) with a dynamic batch axis, input
``images`` (n, 1, S, S) and output ``logits`` (n, classes). :func:`add_onnx` exports it, checks it
against eager fp32 and records in config.json's ``onnx`` block its sha256 and the sha256 of the
safetensors it came from; :func:`ionmorph.models.hub.register_weights` then lists it in the registry.

:func:`load_onnx` gives an :class:`OnnxIonMorphNet` for a weights name or folder whose graph is
present, intact (registry hash) and current (exported from the folder's safetensors): CPU
inference with numpy and onnxruntime only. Exporting needs torch; running does not.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WeightsError, warn_external
from ..fileio import atomic_path, atomic_write_text
from .hub import (CONFIG_FILE, ONNX_FILE, WEIGHTS_FILE, _check_folder, _read_config, resolve_weights,
                  sha256_file, verify_sha256)
from .model_config import FAMILY, PROB_TOLERANCE, check_input, settings_from_config
from .preprocessing import preprocess

ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "images", "logits"


# ----------------------------------------------------------------------------- running (numpy + onnxruntime)
def default_threads() -> int:
    """onnxruntime intra-op threads: ``$OMP_NUM_THREADS`` when set (as torch does), else 0 (one per core)."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


def open_session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU session of the graph at ``path`` with ``threads`` intra-op threads (default
    :func:`default_threads`).

    onnxruntime's memory-pattern planning is off: it pre-plans one block per input shape, which a
    dynamic batch axis defeats, and it kept about 80 MiB more resident at batch 64 for the same speed
    (``benchmarks/results/pick_peaks_speed.md``). The CPU memory arena stays on (without it the
    peak rose). fp16-stored weights cost about 20 MiB more resident than an fp32 file (the Casts
    are folded into one fp32 copy at load); converting them in memory before loading costs more.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = default_threads() if threads is None else threads
    opts.inter_op_num_threads = 1
    opts.enable_mem_pattern = False
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, float32."""
    z = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def session_proba(session, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Class probabilities, float32 (n, classes), of a dynamic-batch session on images (n, 1, S, S)."""
    out = []
    for start in range(0, len(images), batch_size):
        chunk = np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32)
        out.append(softmax(session.run(None, {INPUT_NAME: chunk})[0]))
    n_classes = session.get_outputs()[0].shape[1]
    return np.concatenate(out) if out else np.zeros((0, n_classes), dtype=np.float32)


class OnnxIonMorphNet:
    """The inference side of an IonMorphNet, running its weights folder's ``model.onnx``.

    Has IonMorphNet's ``architecture``, ``classes``, ``informative``, ``version``,
    ``preprocess_config``, ``input_size``, :meth:`prepare`, :meth:`check_input` and
    :meth:`predict_proba`; made by :func:`load_onnx`.

    Parameters
    ----------
    folder : path-like
        The weights folder (config.json and model.onnx).
    config : dict
        Its config.json content.
    threads : int, optional
        onnxruntime intra-op threads (default :func:`default_threads`).
    """

    def __init__(self, folder: str | os.PathLike, config: dict[str, Any], threads: int | None = None) -> None:
        settings = settings_from_config(config)
        self.folder = Path(folder)
        self.architecture: str = settings["architecture"]
        self.classes: tuple[str, ...] = settings["classes"]
        self.informative: tuple[str, ...] = settings["informative"]
        self.version: str = settings["version"]
        self.preprocess_config = settings["preprocess"]
        self.session = open_session(self.folder / ONNX_FILE, threads)

    @property
    def input_size(self) -> int:
        """Side length S of the square model input."""
        return self.preprocess_config.size

    def prepare(self, images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Raw ion images (n, H, W) -> model input (n, 1, S, S) with this model's preprocessing."""
        return preprocess(images, mask, self.preprocess_config)

    def check_input(self, x: np.ndarray) -> None:
        """Raise :class:`ionmorph.errors.InputError` unless ``x`` is (n, 1, S, S) of this model's size."""
        check_input(x, self.input_size)

    def predict_proba(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities, float32 (n, classes), of preprocessed images (n, 1, S, S)."""
        self.check_input(images)
        return session_proba(self.session, images, batch_size)


def load_onnx(name_or_path: str | os.PathLike, revision: str | None = None,
              threads: int | None = None) -> OnnxIonMorphNet | None:
    """The shipped ONNX graph of IonMorphNet weights, or None where it cannot stand in for them.

    None (the caller then loads the safetensors with torch) when the folder has no model.onnx or
    no ``onnx`` block in config.json, holds another model family, or its graph was not exported
    from its current model.safetensors (a warning says so).

    Parameters
    ----------
    name_or_path : str or path-like
        Folder, registered name or Hub id, as for ``IonMorphNet.from_pretrained``.
    revision : str, optional
        Revision tag.
    threads : int, optional
        onnxruntime intra-op threads.

    Raises
    ------
    WeightsError
        The weights are not found, or model.safetensors / model.onnx fail the registry's sha256.
    """
    found = resolve_weights(name_or_path, revision)
    _check_folder(found.folder)
    config = _read_config(found.folder)
    meta = config.get("onnx")
    if config.get("family") != FAMILY or not isinstance(meta, dict) or not (found.folder / ONNX_FILE).is_file():
        return None
    weights_sha = verify_sha256(found.folder, found.sha256)
    onnx_sha = verify_sha256(found.folder, found.onnx_sha256, ONNX_FILE)
    if (meta.get("sha256"), meta.get("weights_sha256")) != (onnx_sha, weights_sha):
        warn_external(f"{found.folder / ONNX_FILE}: not the graph of this folder's {WEIGHTS_FILE} (config.json "
                      "records other hashes); using the safetensors with torch. Re-export it with "
                      "ionmorph.models.onnx_model.add_onnx")
        return None
    return OnnxIonMorphNet(found.folder, config, threads)


# ----------------------------------------------------------------------------- exporting (torch)
def export_onnx(model, path: str | os.PathLike, batch_size: int | None = None) -> Path:
    """Export an IonMorphNet (eval mode, fp32, on the CPU) as an ONNX graph, atomically.

    Parameters
    ----------
    model : IonMorphNet
        The model.
    path : path-like
        Destination ``.onnx`` file.
    batch_size : int, optional
        A fixed batch size; None gives a dynamic batch axis.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import torch

    s = model.input_size
    dynamic = None if batch_size else {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    example = torch.zeros(batch_size or 2, 1, s, s)
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(model.eval(), (example,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          opset_version=ONNX_OPSET, dynamic_axes=dynamic, dynamo=False)
        store_half_exact(tmp)
    return Path(path)


def store_half_exact(path: str | os.PathLike) -> int:
    """Store the graph's fp32 weights that fp16 holds exactly as fp16 plus a Cast to fp32, in place.

    Published weights are saved as fp16 safetensors, so their fp32 graph holds fp16 values: stored
    as fp16 they take half the space and the graph computes exactly the same (onnxruntime folds the
    Casts when it loads the graph). Weights fp16 cannot hold exactly stay fp32. Returns the number
    of weights converted.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    casts, converted = [], 0
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if values.size < 16 or not np.array_equal(half.astype(np.float32), values):
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(half, name=f"{name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=TensorProto.FLOAT))
        converted += 1
    if converted:
        nodes = list(graph.node)
        del graph.node[:]
        graph.node.extend(casts + nodes)
        onnx.save(graph_model, str(path))
    return converted


def check_images(size: int, n: int = 32, seed: int = 0) -> np.ndarray:
    """Deterministic model inputs (n, 1, size, size) in [0, 1]: Gaussian blobs, uniform noise, one blank."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    cy, cx, r = rng.random(n), rng.random(n), rng.uniform(0.05, 0.4, n)
    blobs = np.exp(-((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2) / (2 * r[:, None, None] ** 2))
    images = np.where((np.arange(n) % 2 == 0)[:, None, None], blobs, rng.random((n, size, size)))
    images[0] = 0.0
    return images[:, None].astype(np.float32)


def max_prob_diff(model, path: str | os.PathLike, images: np.ndarray, batch_size: int = 32) -> float:
    """Largest |p_onnx - p_eager_fp32| of the graph at ``path`` against ``model`` on preprocessed ``images``."""
    ref = model.predict_proba(images, batch_size=batch_size)
    return float(np.abs(session_proba(open_session(path), images, batch_size) - ref).max())


def add_onnx(folder: str | os.PathLike, images: np.ndarray | None = None,
             tolerance: float | None = None) -> dict[str, Any]:
    """Export an IonMorphNet weights folder's safetensors as its ``model.onnx`` and check it.

    The model is loaded from the folder as users load it (fp16 storage -> fp32), exported with a
    dynamic batch axis, and its class probabilities compared with eager fp32. config.json gets an
    ``onnx`` block: file, sha256, ``weights_sha256`` (of model.safetensors), opset and the measured
    ``max_abs_prob_diff``. Run :func:`ionmorph.models.hub.register_weights` afterwards to list the hash.

    Parameters
    ----------
    folder : path-like
        The weights folder.
    images : array (n, 1, S, S), optional
        Preprocessed check inputs (default :func:`check_images`).
    tolerance : float, optional
        Largest allowed probability difference (default :data:`ionmorph.models.model_config.PROB_TOLERANCE`).

    Returns
    -------
    dict
        The ``onnx`` block written to config.json.

    Raises
    ------
    WeightsError
        The graph's probabilities differ by more than ``tolerance`` (no model.onnx is left).
    """
    from .model import IonMorphNet

    folder = Path(folder)
    tolerance = PROB_TOLERANCE if tolerance is None else tolerance
    model = IonMorphNet.from_pretrained(folder)
    images = check_images(model.input_size) if images is None else images
    path = export_onnx(model, folder / ONNX_FILE)
    diff = max_prob_diff(model, path, images)
    if not diff <= tolerance:
        path.unlink()
        raise WeightsError(f"{path}: exported graph differs from eager fp32 by {diff:.2e} in class probability "
                           f"(tolerance {tolerance:g}); not kept")
    config = _read_config(folder)
    config["onnx"] = {"file": ONNX_FILE, "sha256": sha256_file(path), "weights_sha256": sha256_file(folder / WEIGHTS_FILE),
                      "opset": ONNX_OPSET, "max_abs_prob_diff": diff, "check_images": len(images)}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return config["onnx"]
