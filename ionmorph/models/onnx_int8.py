"""The int8 variant of an IonMorphNet ONNX graph: backend ``"onnx-int8"`` (opt-in, CPU only).

The int8 graph is :func:`onnxruntime.quantization.quantize_dynamic` of the checked fp32 graph
(:func:`ionmorph.models.onnx_model.load_onnx`): the MatMul / Gemm nodes (ConvNeXt's pointwise MLP
layers and the head; the depthwise convolutions and LayerNorms stay fp32) get int8 weights, one
scale per output channel, and their inputs are quantised to uint8 at run time, one scale per
tensor, i.e. **per batch**: an image's probabilities depend slightly on the other images of its
batch (and so on ``batch_size``). No calibration data are needed.

It is made once per machine, the first time it is asked for (a few seconds), and kept in the graph
cache (:func:`ionmorph.models.onnx_model.graph_cache_dir`) beside the fp32 graph, named by the
sha256 of the fp32 graph it was made from (``<sha[:24]>.int8.onnx``), so other weights, or a
re-exported fp32 graph, get another file. Like the fp32 graph it is checked when it is made: its
class probabilities on :func:`ionmorph.models.onnx_model.check_images` must stay within
:data:`INT8_PROB_TOLERANCE` of the fp32 graph's (else it is not kept), and a record beside it
(``<sha[:24]>.int8.json``) keeps its sha256, which every later load checks (a changed or corrupted
file is made again, with a warning). Making it needs the ``onnx`` package; running it needs numpy
and onnxruntime only, so a cached int8 graph runs without torch.

Whether it may replace the fp32 graph as the CPU default is judged by what users get (the top-k
picks and the real-data mSCF1 of the default score): ``benchmarks/int8_onnx.py``,
``benchmarks/results/int8_onnx.md``.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, WeightsError, warn_external
from ..fileio import atomic_path, atomic_write_text
from .hub import sha256_file

#: Largest allowed max-abs class-probability difference of the int8 graph from the fp32 graph on
#: :func:`ionmorph.models.onnx_model.check_images` when it is made. A sanity bar against a broken
#: quantisation (wrong scales, dropped nodes move probabilities by tenths), not an accuracy claim:
#: the int8 graph of weights v0.5.0 differs by 7e-3 on these images and by up to 2e-2 on simulated
#: ion images (benchmarks/results/int8_onnx.md); other weights get the same margin for their own
#: quantisation error. Whether the picks stay the same is judged by benchmarks/int8_onnx.py.
INT8_PROB_TOLERANCE = 0.1
#: What the int8 graph is (recorded beside it and in the benchmark report).
QUANTISATION = ("quantize_dynamic, MatMul/Gemm, int8 per-channel weights, uint8 activations quantised per batch "
                "(one scale per tensor)")
INT8_SUFFIX = ".int8.onnx"


def plain_fp32(src: str | os.PathLike, dst: str | os.PathLike) -> int:
    """Write the graph at ``src`` with its fp16-stored initializers (+ Cast) as plain fp32 initializers.

    The quantiser needs the MatMul weights as initializers, not as the outputs of Casts
    (:func:`ionmorph.models.onnx_model.store_half_exact`). The values are the same (fp16 -> fp32 is
    exact). Returns the number of initializers converted.
    """
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    keep, converted = [], 0
    for node in graph.node:
        if node.op_type == "Cast" and len(node.input) == 1 and node.input[0] in inits \
                and inits[node.input[0]].data_type == TensorProto.FLOAT16:
            half = inits.pop(node.input[0])
            inits[node.output[0]] = numpy_helper.from_array(numpy_helper.to_array(half).astype(np.float32),
                                                            name=node.output[0])
            converted += 1
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(inits.values())
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return converted


def prepare_fp32(src: str | os.PathLike, dst: str | os.PathLike) -> int:
    """:func:`plain_fp32` of ``src`` followed by onnxruntime's ``quant_pre_process`` (shape inference,
    graph optimisation), written to ``dst``: the input of every quantiser. Returns :func:`plain_fp32`'s count."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="ionmorph_int8_") as tmp:
        plain = Path(tmp) / "fp32.onnx"
        converted = plain_fp32(src, plain)
        quant_pre_process(str(plain), str(dst), skip_symbolic_shape=True)
    return converted


def quantise_dynamic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write the dynamic int8 graph (:data:`QUANTISATION`) of the fp32 graph at ``src`` to ``dst``, atomically.

    Raises
    ------
    InputError
        The ``onnx`` package, which the quantiser needs, is not installed.
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise InputError(f"the onnx-int8 backend makes its graph with onnxruntime.quantization, which needs the onnx "
                         f"package ({exc}): pip install onnx") from None
    with tempfile.TemporaryDirectory(prefix="ionmorph_int8_") as tmp, atomic_path(dst) as out:
        pre = Path(tmp) / "fp32_pre.onnx"
        prepare_fp32(src, pre)
        quantize_dynamic(str(pre), str(out), op_types_to_quantize=["MatMul", "Gemm"], per_channel=True,
                         weight_type=QuantType.QInt8)
    return Path(dst)


def int8_cache_path(fp32_sha256: str) -> Path:
    """The cache file of the int8 graph of the fp32 graph with sha256 ``fp32_sha256``."""
    from .onnx_model import graph_cache_dir

    return graph_cache_dir() / f"{fp32_sha256[:24]}{INT8_SUFFIX}"


def int8_graph(fp32: str | os.PathLike, fp32_sha256: str | None = None) -> Path:
    """The checked int8 graph of the (already checked) fp32 graph at ``fp32``: made on first use, then cached.

    Parameters
    ----------
    fp32 : path-like
        The fp32 graph (the cache's, a folder's shipped ``model.onnx`` or a model object's export).
    fp32_sha256 : str, optional
        Its sha256 when the caller has just checked it (else computed here).

    Returns
    -------
    pathlib.Path
        ``<graph cache>/<fp32 sha256[:24]>.int8.onnx``.

    Raises
    ------
    WeightsError
        The new int8 graph differs from the fp32 graph by more than :data:`INT8_PROB_TOLERANCE` in
        class probability on the check images (it is not kept).
    InputError
        The ``onnx`` package is missing (needed only to make the graph).
    """
    from .onnx_model import (_record_path, check_images, evict_graphs, graph_record, open_session,
                             session_proba)

    fp32 = Path(fp32)
    fp32_sha256 = fp32_sha256 or sha256_file(fp32)
    path = int8_cache_path(fp32_sha256)
    record = graph_record(path)
    if path.is_file() and record is not None and record.get("fp32_sha256") == fp32_sha256:
        if sha256_file(path) == record["sha256"]:
            os.utime(path)
            return path
        warn_external(f"{path}: the cached int8 ONNX graph was changed or corrupted since it was made "
                      f"(sha256 {record['sha256'][:16]}... recorded); making it again")
    quantise_dynamic(fp32, path)
    ref_session = open_session(fp32)
    size = int(ref_session.get_inputs()[0].shape[-1])
    images = check_images(size)
    diff = float(np.abs(session_proba(open_session(path), images, len(images))
                        - session_proba(ref_session, images, len(images))).max())
    if not diff <= INT8_PROB_TOLERANCE:
        path.unlink(missing_ok=True)
        raise WeightsError(f"{path}: int8 graph differs from its fp32 graph by {diff:.2e} in class probability "
                           f"(tolerance {INT8_PROB_TOLERANCE:g}); not kept")
    atomic_write_text(_record_path(path), json.dumps(int8_record(path, fp32, fp32_sha256, diff, len(images)),
                                                     indent=2) + "\n")
    evict_graphs()
    return path


def int8_record(path: Path, fp32: Path, fp32_sha256: str, diff: float, n_images: int) -> dict[str, Any]:
    """The record kept beside a new int8 graph (its sha256, its fp32 graph's, the check, the versions)."""
    import onnx
    import onnxruntime

    return {"sha256": sha256_file(path), "fp32_sha256": fp32_sha256, "source": str(fp32),
            "quantisation": QUANTISATION, "max_abs_prob_diff_vs_fp32": diff, "tolerance": INT8_PROB_TOLERANCE,
            "check_images": n_images, "batch": n_images,
            "made_with": {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}}
