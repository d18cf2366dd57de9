"""Batched IonMorphNet inference on preprocessed image stacks, with selectable backends.

Backends:

- ``"eager"``: PyTorch fp32 (the reference);
- ``"compile"``: ``torch.compile(dynamic=False)`` on a fixed batch shape (the last batch is padded);
- ``"bf16"``: bfloat16 autocast;
- ``"onnx"``: onnxruntime on an ONNX export (CPU only), exported once per weights, input size and
  batch size and cached under :func:`ionmorph.fileio.user_cache_dir` ``/onnx``;
- ``"auto"``: :data:`CPU_AUTO_BACKEND` on CPU (the fastest backend whose probabilities stay within
  :data:`PROB_TOLERANCE` of eager fp32, measured by ``benchmarks/pick_peaks_speed.py`` at the
  shipped input size; see ``benchmarks/results/pick_peaks_speed.md``), eager fp32 on a GPU. When
  onnxruntime is not installed, or the export of an unusual architecture fails, "auto" falls back
  to eager fp32 (``"compile"`` is not a fallback: its warm-up of about half a minute outweighs its
  gain for a few thousand images).

A :class:`Classifier` owns one input buffer of ``batch_size`` images that every batch is copied
into, so a long run allocates no new input tensors. :func:`get_classifier` caches classifiers per
process, keyed by model (name or object), revision, device, backend and batch size.
"""
from __future__ import annotations

import functools
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import InputError
from .fileio import atomic_path, user_cache_dir

BACKENDS: tuple[str, ...] = ("eager", "compile", "bf16", "onnx")
#: Largest allowed max-abs difference of class probabilities from eager fp32 for "auto" to pick a backend.
PROB_TOLERANCE = 1e-3
#: The CPU default of backend="auto" (measured: benchmarks/results/pick_peaks_speed.md).
CPU_AUTO_BACKEND = "onnx"
#: Backends that need one fixed input shape (the last batch is zero-padded).
_FIXED_SHAPE = frozenset({"compile", "onnx"})


def default_device(device: Any = None):
    """``device`` as a torch.device; None means the first GPU when present, else the CPU."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _have_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def resolve_backend(backend: str, device) -> str:
    """The concrete backend for ``backend`` (``"auto"`` or one of :data:`BACKENDS`) on ``device``."""
    if backend == "auto":
        if device.type != "cpu" or (CPU_AUTO_BACKEND == "onnx" and not _have_onnxruntime()):
            return "eager"
        return CPU_AUTO_BACKEND
    if backend not in BACKENDS:
        raise InputError(f"unknown inference backend {backend!r}; choose 'auto' or one of {', '.join(BACKENDS)}")
    if backend == "onnx" and device.type != "cpu":
        raise InputError(f"the onnx backend runs on the CPU only, not on {device}")
    return backend


def weights_fingerprint(model) -> str:
    """sha256 over the model's config and stored tensors (names, dtypes, shapes, bytes)."""
    import json

    import torch

    h = hashlib.sha256(json.dumps(model.hub_config(), sort_keys=True).encode())
    for key, t in model._weights_module().state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def onnx_export(model, batch_size: int, path: Path) -> Path:
    """Export ``model`` for a fixed (batch_size, 1, S, S) input to ``path`` (atomically)."""
    import torch

    s = model.input_size
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(model.eval(), (torch.zeros(batch_size, 1, s, s),), str(tmp), input_names=["images"],
                          output_names=["logits"], opset_version=17, dynamo=False)
    return path


def _eager(model, buf) -> Callable:
    return model


def _bf16(model, buf) -> Callable:
    import torch

    def run(x):
        with torch.autocast(buf.device.type, dtype=torch.bfloat16):
            return model(x)
    return run


def _compile(model, buf) -> Callable:
    import torch

    return torch.compile(model, dynamic=False)


def _onnx(model, buf) -> Callable:
    import onnxruntime as ort
    import torch

    path = user_cache_dir("onnx", f"{weights_fingerprint(model)[:24]}-b{len(buf)}.onnx")
    if not path.is_file():
        onnx_export(model, len(buf), path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x_np = buf.numpy()   # shares memory with the buffer: no copy per batch

    def run(x):
        return torch.from_numpy(session.run(None, {name: x_np})[0])
    return run


_BUILDERS: dict[str, Callable] = {"eager": _eager, "compile": _compile, "bf16": _bf16, "onnx": _onnx}


class Classifier:
    """An IonMorphNet bound to a device, a backend and a reusable input buffer.

    Parameters
    ----------
    model : IonMorphNet
        The model (put in eval mode and moved to ``device``).
    backend : str
        ``"auto"`` or one of :data:`BACKENDS`.
    device : str or torch.device, optional
        Default: a GPU when present, else the CPU.
    batch_size : int
        Images per forward pass (and size of the input buffer).
    """

    def __init__(self, model, backend: str = "auto", device: Any = None, batch_size: int = 64) -> None:
        import torch

        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.device = default_device(device)
        self.backend = resolve_backend(backend, self.device)
        self.model = model.eval().to(self.device)
        self.batch_size = batch_size
        s = model.input_size
        self._buf = torch.zeros((batch_size, 1, s, s), dtype=torch.float32, device=self.device)
        try:
            self._run = _BUILDERS[self.backend](self.model, self._buf)
        except Exception as exc:  # noqa: BLE001 - any export/session failure; only "auto" recovers
            if backend != "auto":
                raise
            warnings.warn(f"{self.backend} backend unavailable ({type(exc).__name__}: {exc}); using eager fp32",
                          stacklevel=2)
            self.backend, self._run = "eager", _eager(self.model, self._buf)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names of the output columns."""
        return self.model.classes

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, float32 (n, classes), of preprocessed images (n, 1, S, S)."""
        import torch

        self.model.check_input(images)
        out = np.empty((len(images), len(self.classes)), dtype=np.float32)
        fixed = self.backend in _FIXED_SHAPE
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                chunk = np.asarray(images[start:start + self.batch_size], dtype=np.float32)
                k = len(chunk)
                self._buf[:k].copy_(torch.from_numpy(chunk))
                if fixed and k < self.batch_size:
                    self._buf[k:].zero_()
                logits = self._run(self._buf if fixed else self._buf[:k])[:k]
                out[start:start + k] = torch.softmax(logits.float(), dim=1).cpu().numpy()
        return out


@functools.lru_cache(maxsize=8)
def _cached(model: Any, revision: str | None, device: str, backend: str, batch_size: int) -> Classifier:
    if isinstance(model, str):
        from .model import IonMorphNet

        model = IonMorphNet.from_pretrained(model, revision=revision)
    return Classifier(model, backend, device, batch_size)


def get_classifier(model: Any = "ionmorphnet-convnextv2-tiny", revision: str | None = None, device: Any = None,
                   backend: str = "auto", batch_size: int = 64) -> Classifier:
    """A cached :class:`Classifier` for a weights name/path (loaded once per process) or an IonMorphNet."""
    dev = default_device(device)
    key = str(model) if isinstance(model, (str, os.PathLike)) else model
    return _cached(key, revision, str(dev), resolve_backend(backend, dev), int(batch_size))


def clear_cache() -> None:
    """Forget the cached classifiers (and the models they hold)."""
    _cached.cache_clear()
