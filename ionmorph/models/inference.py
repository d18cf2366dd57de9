"""Batched IonMorphNet inference on preprocessed image stacks, with selectable backends.

Backends:

- ``"eager"``: PyTorch fp32 (the reference);
- ``"compile"``: ``torch.compile(dynamic=False)`` on a fixed batch shape (the last batch is padded);
- ``"bf16"``: bfloat16 autocast;
- ``"onnx"``: onnxruntime on an ONNX graph (CPU only). For weights given by name or folder, the
  checked graph of their safetensors (:func:`ionmorph.models.onnx_model.load_onnx`: exported into
  the cache on first use) runs without torch or timm being imported once it is cached
  (:class:`OnnxClassifier`); a model object runs the graph of the folder it was loaded from, or is
  exported once per weights (dynamic batch axis) into the same cache,
  :func:`ionmorph.models.onnx_model.graph_cache_dir` (at most :data:`MAX_ONNX_EXPORTS` graphs);
- ``"onnx-int8"`` (opt-in): the same, on the dynamic int8 graph of that fp32 graph
  (:mod:`ionmorph.models.onnx_int8`: int8 MatMul/Gemm weights, activations quantised per batch),
  made once per machine into the same cache and run without torch once cached. 1.1-1.7x the
  fp32 graph's speed depending on the CPU (``benchmarks/results/int8_onnx.md``); its probabilities
  differ from fp32 by up to about 2e-2 and depend on the other images of a batch (activations are
  quantised per batch), so ``"auto"`` keeps fp32 although the real-data picks were unchanged but
  one of 30;
- ``"auto"``: :data:`CPU_AUTO_BACKEND` on CPU (the fastest backend whose probabilities stay within
  :data:`PROB_TOLERANCE` of eager fp32, measured by ``benchmarks/pick_peaks_speed.py`` at the
  shipped input size; see ``benchmarks/results/pick_peaks_speed.md``), eager fp32 on a GPU. When
  onnxruntime is not installed, or the export of an unusual architecture fails, "auto" falls back
  to eager fp32 (``"compile"`` is not a fallback: its warm-up of about half a minute outweighs its
  gain for a few thousand images).

Devices are named by strings ("cpu", "cuda:1") or torch devices. With ``device=None`` torch is
asked for a GPU only where a GPU driver is visible (:func:`device_name`), so CPU inference on a
shipped graph never imports torch.

A :class:`Classifier` owns one input buffer of ``batch_size`` images that every batch is copied
into, so a long run allocates no new input tensors. :func:`get_classifier` caches classifiers per
process, keyed by model (name or object), revision, device, backend and batch size.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
from typing import Any, Callable

import numpy as np

from ..errors import InputError, warn_external
from .model_config import PROB_TOLERANCE  # noqa: F401  (re-exported: the tolerance "auto" uses)
from .onnx_model import MAX_ONNX_EXPORTS  # noqa: F401  (re-exported: graphs kept in the cache)

BACKENDS: tuple[str, ...] = ("eager", "compile", "bf16", "onnx", "onnx-int8")
#: The CPU default of backend="auto" (measured: benchmarks/results/pick_peaks_speed.md).
CPU_AUTO_BACKEND = "onnx"
#: Backends that need one fixed input shape (the last batch is zero-padded).
_FIXED_SHAPE = frozenset({"compile", "onnx", "onnx-int8"})
#: Backends that run an ONNX graph with onnxruntime on the CPU.
ONNX_BACKENDS = frozenset({"onnx", "onnx-int8"})


#: Device files of GPU drivers (NVIDIA, AMD ROCm, WSL); without any of them torch sees no GPU on Linux.
_GPU_DEVICE_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


def _may_have_gpu() -> bool:
    """False where no GPU can be present (Linux without GPU driver files), so torch need not be asked."""
    return sys.platform != "linux" or any(os.path.exists(p) for p in _GPU_DEVICE_FILES)


def device_name(device: Any = None) -> str:
    """``device`` as a string; None means ``"cuda"`` when torch sees a GPU, else ``"cpu"``.

    torch is imported only where a GPU driver is visible (:func:`_may_have_gpu`).
    """
    if device is not None:
        return str(device)
    if _may_have_gpu():
        import torch

        if torch.cuda.is_available():
            return "cuda"
    return "cpu"


def _device_type(device: Any) -> str:
    """"cpu", "cuda", ... of a device string or torch.device."""
    return getattr(device, "type", None) or str(device).split(":")[0]


def default_device(device: Any = None):
    """``device`` as a torch.device; None means the first GPU when present, else the CPU."""
    import torch

    return torch.device(device_name(device))


def _have_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "meta")


def check_device(device: Any = None) -> str:
    """:func:`device_name` of ``device``, refused in one line when this machine cannot run on it.

    Raises
    ------
    InputError
        An unknown device type, or a GPU device on a machine (or torch build) without one.
    """
    name = device_name(device)
    kind, _, index = name.partition(":")
    if kind not in _DEVICE_TYPES or (index and not index.isdigit()):
        raise InputError(f"unknown device {name!r}; use cpu, cuda or cuda:N (or leave --device out)")
    if kind in ("cpu", "meta"):
        return name
    if kind == "cuda" and not _may_have_gpu():
        raise InputError(f"device {name!r}: this machine has no GPU driver; use --device cpu (or leave it out)")
    import torch

    backend = getattr(torch, kind, None) if kind != "mps" else getattr(torch.backends, "mps", None)
    if backend is None or not backend.is_available():
        raise InputError(f"device {name!r} is not available to torch {torch.__version__} here; use --device cpu "
                         "(for NVIDIA GPUs install a CUDA build of torch)")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise InputError(f"device {name!r}: torch sees {torch.cuda.device_count()} GPU(s), numbered from 0")
    return name


def _check_batch_size(batch_size: Any) -> None:
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")


def resolve_backend(backend: str, device: Any) -> str:
    """The concrete backend for ``backend`` (``"auto"`` or one of :data:`BACKENDS`) on ``device``."""
    on_cpu = _device_type(device) == "cpu"
    if backend == "auto":
        if not on_cpu or (CPU_AUTO_BACKEND == "onnx" and not _have_onnxruntime()):
            return "eager"
        return CPU_AUTO_BACKEND
    if backend not in BACKENDS:
        raise InputError(f"unknown inference backend {backend!r}; choose 'auto' or one of {', '.join(BACKENDS)}")
    if backend in ONNX_BACKENDS and not on_cpu:
        raise InputError(f"the {backend} backend runs on the CPU only, not on {device}; use --device cpu "
                         "(or --backend auto)")
    if backend in ONNX_BACKENDS and not _have_onnxruntime():
        raise InputError(f"the {backend} backend needs onnxruntime: pip install onnxruntime (or use --backend auto)")
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


def onnx_graph_session(model, threads: int, int8: bool = False):
    """An onnxruntime session for ``model``: the checked graph of its weights folder, else one cached export.

    A model loaded from a weights folder runs that folder's graph
    (:func:`ionmorph.models.onnx_model.load_onnx`, exported from the folder's safetensors on first
    use). Any other model is exported once per weights (dynamic batch axis, so every batch size
    shares it) into :func:`ionmorph.models.onnx_model.graph_cache_dir`, which keeps the
    :data:`MAX_ONNX_EXPORTS` most recently used graphs. With ``int8`` the session runs the int8
    graph of that graph (:func:`ionmorph.models.onnx_int8.int8_graph`).
    """
    from .onnx_int8 import int8_graph
    from .onnx_model import evict_graphs, export_onnx, graph_cache_dir, load_onnx, open_session

    source = getattr(model, "weights_source", None)
    shipped = load_onnx(source.folder, threads=threads, model=model, int8=int8) if source is not None else None
    if shipped is not None:
        return shipped.session
    path = graph_cache_dir() / f"{weights_fingerprint(model)[:24]}.onnx"
    if path.is_file():
        os.utime(path)
    else:
        export_onnx(model, path)
        evict_graphs()
    return open_session(int8_graph(path) if int8 else path, threads)


def _onnx(model, buf, int8: bool = False) -> Callable:
    import torch

    session = onnx_graph_session(model, torch.get_num_threads(), int8=int8)
    name = session.get_inputs()[0].name
    x_np = buf.numpy()   # shares memory with the buffer: no copy per batch

    def run(x):
        return torch.from_numpy(session.run(None, {name: x_np})[0])
    return run


_BUILDERS: dict[str, Callable] = {"eager": _eager, "compile": _compile, "bf16": _bf16, "onnx": _onnx,
                                  "onnx-int8": functools.partial(_onnx, int8=True)}


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

        _check_batch_size(batch_size)
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
            warn_external(f"{self.backend} backend unavailable ({type(exc).__name__}: {exc}); using eager fp32")
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


class OnnxClassifier:
    """A weights folder's checked ONNX graph on the CPU: :class:`Classifier`'s interface without torch.

    Parameters
    ----------
    model : OnnxIonMorphNet
        The graph (:func:`ionmorph.models.onnx_model.load_onnx`).
    batch_size : int
        Images per forward pass.
    backend : {"onnx", "onnx-int8"}
        Which graph ``model`` runs (recorded, as :class:`Classifier` records its backend).
    """

    device = "cpu"

    def __init__(self, model, batch_size: int = 64, backend: str = "onnx") -> None:
        _check_batch_size(batch_size)
        self.model = model
        self.batch_size = batch_size
        self.backend = backend

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names of the output columns."""
        return self.model.classes

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, float32 (n, classes), of preprocessed images (n, 1, S, S)."""
        return self.model.predict_proba(images, self.batch_size)


@functools.lru_cache(maxsize=8)
def _cached(model: Any, revision: str | None, device: str, backend: str,
            batch_size: int) -> Classifier | OnnxClassifier:
    if isinstance(model, str):
        if backend in ONNX_BACKENDS:
            from .onnx_model import load_onnx

            shipped = load_onnx(model, revision, int8=backend == "onnx-int8")
            if shipped is not None:
                return OnnxClassifier(shipped, batch_size, backend)
        from .model import IonMorphNet

        model = IonMorphNet.from_pretrained(model, revision=revision)
    return Classifier(model, backend, device, batch_size)


def get_classifier(model: Any = "ionmorphnet-convnextv2-tiny", revision: str | None = None, device: Any = None,
                   backend: str = "auto", batch_size: int = 64) -> Classifier | OnnxClassifier:
    """A cached classifier for a weights name/path (loaded once per process) or an IonMorphNet.

    A name or path on the CPU with an onnx backend runs the checked graph of its weights (the int8
    graph for ``"onnx-int8"``; :class:`OnnxClassifier`, no torch once cached); everything else gets
    a :class:`Classifier`.
    """
    dev = check_device(device)
    key = str(model) if isinstance(model, (str, os.PathLike)) else model
    return _cached(key, revision, dev, resolve_backend(backend, dev), int(batch_size))


def clear_cache() -> None:
    """Forget the cached classifiers (and the models they hold)."""
    _cached.cache_clear()
