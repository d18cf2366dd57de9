"""IonMorphNet as an ONNX graph: exported from the safetensors on first use, checked, run without torch.

The graph of an IonMorphNet weights folder is the fp32 graph of its ``model.safetensors`` (which
stay the source of truth) with a dynamic batch axis, input ``images`` (n, 1, S, S) and output
``logits`` (n, classes). Weights folders no longer carry it (56 MB per version in git): it is
exported once per machine into :func:`graph_cache_dir` (``$IONMORPH_CACHE/onnx``, at most
:data:`MAX_ONNX_EXPORTS` graphs, least recently used go first), the first time a CPU run asks for
it (or when ``ionmorph weights import`` places the weights), and every later run on this machine
loads it with numpy and onnxruntime only.

What is checked:

- Publishing (:func:`add_onnx`) exports the graph, compares its class probabilities with eager
  fp32, and records in config.json's ``onnx`` block its sha256, the sha256 of the safetensors it
  came from, the opset, the measured difference and the torch / onnx versions that exported it;
  :func:`ionmorph.models.hub.register_weights` copies the graph hash into the registry
  (``onnx_sha256``).
- A first-use export (:func:`cached_graph`) is always compared with eager fp32 on
  :func:`check_images` (a graph off by more than :data:`PROB_TOLERANCE` is not kept), and its
  sha256 with the recorded one. The TorchScript exporter is byte-deterministic for the same torch
  and onnx versions: on the build machine the export of v0.4.1 reproduces the published hash
  exactly. Other versions may serialise the same graph differently, so a different hash is not
  an error there: the export is trusted on the numerical check, a warning says so once, and the
  hash of the graph *as exported on this machine* is kept in a record beside it
  (``<key>.json``). Every later load checks the cached file against that record (and re-exports
  it, with a warning, when it was changed or corrupted).
- A folder that still ships ``model.onnx`` (published before v0.5, or a user's) is checked against
  the registry and config.json and run when it is the graph of the folder's safetensors.

:func:`load_onnx` gives an :class:`OnnxIonMorphNet` for a weights name or folder. Exporting needs
torch and timm; running does not.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WeightsError, warn_external
from ..fileio import atomic_path, atomic_write_text, user_cache_dir
from .hub import (CONFIG_FILE, ONNX_FILE, WEIGHTS_FILE, _check_folder, _one_line, _read_config,
                  recorded_onnx_sha256, resolve_weights, sha256_file, verify_sha256)
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
    """The inference side of an IonMorphNet, running the ONNX graph of its weights.

    Has IonMorphNet's ``architecture``, ``classes``, ``informative``, ``version``,
    ``preprocess_config``, ``input_size``, :meth:`prepare`, :meth:`check_input` and
    :meth:`predict_proba`; made by :func:`load_onnx`.

    Parameters
    ----------
    folder : path-like
        The weights folder (its config.json).
    config : dict
        Its config.json content.
    threads : int, optional
        onnxruntime intra-op threads (default :func:`default_threads`).
    graph : path-like, optional
        The checked ONNX graph (default: the folder's ``model.onnx``).
    """

    def __init__(self, folder: str | os.PathLike, config: dict[str, Any], threads: int | None = None,
                 graph: str | os.PathLike | None = None) -> None:
        settings = settings_from_config(config)
        self.folder = Path(folder)
        self.graph = Path(graph) if graph is not None else self.folder / ONNX_FILE
        self.architecture: str = settings["architecture"]
        self.classes: tuple[str, ...] = settings["classes"]
        self.informative: tuple[str, ...] = settings["informative"]
        self.version: str = settings["version"]
        self.preprocess_config = settings["preprocess"]
        self.ranking_head = settings["ranking_head"]
        self.session = open_session(self.graph, threads)

    @property
    def input_size(self) -> int:
        """Side length S of the square model input."""
        return self.preprocess_config.size

    def prepare(self, images: np.ndarray, mask: np.ndarray | None = None, each_normalised=None) -> np.ndarray:
        """Raw ion images (n, H, W) -> model input (n, 1, S, S) with this model's preprocessing
        (``each_normalised``: see :func:`ionmorph.models.preprocessing.preprocess`)."""
        return preprocess(images, mask, self.preprocess_config, each_normalised=each_normalised)

    def check_input(self, x: np.ndarray) -> None:
        """Raise :class:`ionmorph.errors.InputError` unless ``x`` is (n, 1, S, S) of this model's size."""
        check_input(x, self.input_size)

    def predict_proba(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities, float32 (n, classes), of preprocessed images (n, 1, S, S)."""
        self.check_input(images)
        return session_proba(self.session, images, batch_size)


def load_onnx(name_or_path: str | os.PathLike, revision: str | None = None, threads: int | None = None,
              model: Any = None, int8: bool = False) -> OnnxIonMorphNet | None:
    """The checked ONNX graph of IonMorphNet weights, exported into the cache on first use.

    Parameters
    ----------
    name_or_path : str or path-like
        Folder, registered name or Hub id, as for ``IonMorphNet.from_pretrained``.
    revision : str, optional
        Revision tag.
    threads : int, optional
        onnxruntime intra-op threads.
    model : IonMorphNet, optional
        These weights already loaded with torch: a first export uses it instead of loading them again.
    int8 : bool
        Run the int8 graph of the checked fp32 graph instead (:func:`ionmorph.models.onnx_int8.int8_graph`,
        made into the cache on first use).

    Returns
    -------
    OnnxIonMorphNet or None
        None (the caller then loads the safetensors with torch) for another model family, or when
        no fp32 graph can be exported here (a warning says why).

    Raises
    ------
    WeightsError
        The weights are not found, model.safetensors / a shipped model.onnx fail their sha256, or
        a new int8 graph fails its check.
    InputError
        ``int8`` and the int8 graph is not cached and cannot be made here (no ``onnx`` package).
    """
    found = resolve_weights(name_or_path, revision)
    _check_folder(found.folder)
    config = _read_config(found.folder)
    if config.get("family") != FAMILY:
        return None
    weights_sha = verify_sha256(found.folder, found.sha256)
    published = found.onnx_sha256 or recorded_onnx_sha256(found.folder, weights_sha)
    graph = _shipped_graph(found.folder, found.onnx_sha256, published)
    if graph is None:
        try:
            graph = cached_graph(found.folder, published, model=model)
        except Exception as exc:  # noqa: BLE001 - no graph here (export or check failed): torch runs instead
            warn_external(f"{found.folder}: no ONNX graph of these weights on this machine ({_one_line(exc)}); "
                          "using the safetensors with torch")
            return None
    if int8:
        from .onnx_int8 import int8_graph

        record = graph_record(graph) if graph.parent == graph_cache_dir() else None
        graph = int8_graph(graph, record["sha256"] if record else None)   # a cached graph was just checked
    return OnnxIonMorphNet(found.folder, config, threads, graph=graph)


def _shipped_graph(folder: Path, registry_sha256: str | None, published: str | None) -> Path | None:
    """The folder's own ``model.onnx`` when it is the checked graph of its safetensors, else None.

    Raises
    ------
    WeightsError
        The file fails the registry's or config.json's sha256 (changed or corrupted).
    """
    if not (folder / ONNX_FILE).is_file():
        return None
    sha = verify_sha256(folder, registry_sha256, ONNX_FILE)
    if published is not None and sha == published:
        return folder / ONNX_FILE
    warn_external(f"{folder / ONNX_FILE}: not the graph of this folder's {WEIGHTS_FILE} (config.json records "
                  "other hashes); exporting the safetensors' own graph into the cache")
    return None


# ----------------------------------------------------------------------------- the graph cache
#: ONNX graphs kept in :func:`graph_cache_dir` (one per weights; the least recently used go first).
MAX_ONNX_EXPORTS = 4


def graph_cache_dir() -> Path:
    """Where exported graphs are kept: :func:`ionmorph.fileio.user_cache_dir` ``/onnx``."""
    return user_cache_dir("onnx")


def graph_cache_path(folder: str | os.PathLike) -> Path:
    """The cache file of a weights folder's graph, named by its safetensors' sha256 and its config.

    The config (without its ``onnx`` block) is part of the name because it fixes the architecture
    and input size the graph is exported with.
    """
    folder = Path(folder)
    config = {k: v for k, v in _read_config(folder).items() if k != "onnx"}
    key = hashlib.sha256((sha256_file(folder / WEIGHTS_FILE) + json.dumps(config, sort_keys=True)).encode())
    return graph_cache_dir() / f"{key.hexdigest()[:24]}.onnx"


def _record_path(graph: Path) -> Path:
    return graph.with_suffix(".json")


def graph_record(graph: str | os.PathLike) -> dict[str, Any] | None:
    """The record written beside a cached graph when it was exported and checked (None if none)."""
    try:
        record = json.loads(_record_path(Path(graph)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("sha256") else None


def evict_graphs(keep: int = MAX_ONNX_EXPORTS) -> None:
    """Delete all but the ``keep`` most recently used fp32 graphs of the cache, and all but the ``keep``
    most recently used int8 graphs (:mod:`ionmorph.models.onnx_int8`), with their records."""
    from .onnx_int8 import INT8_SUFFIX

    graphs = sorted(graph_cache_dir().glob("*.onnx"), key=lambda p: p.stat().st_mtime)
    for kind in (False, True):
        same = [g for g in graphs if g.name.endswith(INT8_SUFFIX) == kind]
        for old in same[:-keep] if keep else same:
            old.unlink(missing_ok=True)
            _record_path(old).unlink(missing_ok=True)


def cached_graph(folder: str | os.PathLike, published: str | None = None, model: Any = None) -> Path:
    """The checked graph of a weights folder's safetensors in the cache: exported on first use.

    A cached graph is used when its sha256 equals the one recorded when it was exported here;
    otherwise (absent, or changed since) it is exported from the folder's safetensors, compared
    with eager fp32 on :func:`check_images`, and its hash compared with ``published`` (the module
    docs say why a different hash only warns).

    Parameters
    ----------
    folder : path-like
        The weights folder (its safetensors already checked by the caller).
    published : str, optional
        The graph sha256 the registry or config.json records for these safetensors.
    model : IonMorphNet, optional
        The folder's weights already loaded (else loaded here, with torch).

    Returns
    -------
    pathlib.Path
        The graph in :func:`graph_cache_dir`.

    Raises
    ------
    WeightsError
        The exported graph differs from eager fp32 by more than :data:`PROB_TOLERANCE` (not kept).
    """
    folder = Path(folder)
    path = graph_cache_path(folder)
    record = graph_record(path)
    if path.is_file() and record is not None:
        if sha256_file(path) == record["sha256"]:
            os.utime(path)
            return path
        warn_external(f"{path}: the cached ONNX graph was changed or corrupted since it was exported "
                      f"(sha256 {record['sha256'][:16]}... recorded); exporting it again")
    if model is None:
        from .model import IonMorphNet

        model = IonMorphNet.from_pretrained(folder, verify=False)   # the caller checked the safetensors
    images = check_images(model.input_size)
    block = _export_checked(model, path, images, PROB_TOLERANCE)
    block.update(source=str(folder), published_sha256=published,
                 matches_published=published is not None and block["sha256"] == published)
    if published is not None and not block["matches_published"]:
        warn_external(f"{path}: the ONNX graph exported here (torch {block['exported_with']['torch']}, onnx "
                      f"{block['exported_with']['onnx']}) has sha256 {block['sha256'][:16]}..., not the published "
                      f"{published[:16]}...; kept because its class probabilities match eager fp32 within "
                      f"{block['max_abs_prob_diff']:.1e}")
    atomic_write_text(_record_path(path), json.dumps(block, indent=2) + "\n")
    evict_graphs()
    return path


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


def _export_checked(model, path: Path, images: np.ndarray, tolerance: float) -> dict[str, Any]:
    """Export ``model`` to ``path`` and compare it with eager fp32 on ``images``; returns the check's record.

    Raises
    ------
    WeightsError
        The graph differs by more than ``tolerance`` (``path`` is removed).
    """
    import onnx
    import torch

    export_onnx(model, path)
    diff = max_prob_diff(model, path, images)
    if not diff <= tolerance:
        path.unlink(missing_ok=True)
        raise WeightsError(f"{path}: exported graph differs from eager fp32 by {diff:.2e} in class probability "
                           f"(tolerance {tolerance:g}); not kept")
    weights = getattr(getattr(model, "weights_source", None), "folder", None)
    return {"sha256": sha256_file(path),
            "weights_sha256": sha256_file(weights / WEIGHTS_FILE) if weights is not None else None,
            "opset": ONNX_OPSET, "max_abs_prob_diff": diff, "check_images": len(images),
            "exported_with": {"torch": torch.__version__.split("+")[0], "onnx": onnx.__version__}}


def add_onnx(folder: str | os.PathLike, images: np.ndarray | None = None,
             tolerance: float | None = None) -> dict[str, Any]:
    """Export an IonMorphNet weights folder's safetensors as an ONNX graph, check it and record its hash.

    Publishing step. The model is loaded from the folder as users load it (fp16 storage -> fp32),
    exported with a dynamic batch axis into the graph cache (:func:`graph_cache_path`; the folder
    itself gets no ``model.onnx``: users export it on first use, :func:`cached_graph`), and its
    class probabilities compared with eager fp32. config.json gets an ``onnx`` block: sha256,
    ``weights_sha256`` (of model.safetensors), opset, the measured ``max_abs_prob_diff`` and
    ``exported_with`` (torch and onnx versions). Run :func:`ionmorph.models.hub.register_weights`
    afterwards to list the hash.

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
        The graph's probabilities differ by more than ``tolerance`` (no graph is kept).
    """
    from .model import IonMorphNet

    folder = Path(folder)
    tolerance = PROB_TOLERANCE if tolerance is None else tolerance
    model = IonMorphNet.from_pretrained(folder)
    images = check_images(model.input_size) if images is None else images
    path = graph_cache_path(folder)
    block = _export_checked(model, path, images, tolerance)
    config = _read_config(folder)
    config["onnx"] = block
    atomic_write_text(folder / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    record = {**block, "source": str(folder), "published_sha256": block["sha256"], "matches_published": True}
    atomic_write_text(_record_path(path), json.dumps(record, indent=2) + "\n")
    evict_graphs()
    return block
