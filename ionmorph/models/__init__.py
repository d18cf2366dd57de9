"""The network, its weights and how it runs: IonMorphNet, preprocessing, weights registry, inference backends."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports_of, lazy_exports

if TYPE_CHECKING:  # the exports: type checkers read these imports, exports_of reads them into _EXPORTS
    from .hub import PretrainedMixin, load_registry, register_weights, resolve_weights
    from .inference import Classifier, clear_cache, get_classifier
    from .model import IonMorphNet
    from .onnx_model import OnnxIonMorphNet, export_onnx, load_onnx
    from .preprocessing import PreprocessConfig, preprocess

_EXPORTS = exports_of(__name__, __file__)
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
