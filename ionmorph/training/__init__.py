"""Making IonMorphNet: labelled sections, the ion-image cache, augmentation and the training loop."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports_of, lazy_exports

if TYPE_CHECKING:  # the exports: type checkers read these imports, exports_of reads them into _EXPORTS
    from .augment import Augmenter
    from .dataset import IonImageDataset, build_cache, find_sections, split_sections
    from .train import TrainConfig

_EXPORTS = exports_of(__name__, __file__)
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
