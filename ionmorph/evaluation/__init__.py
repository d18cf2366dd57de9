"""Judging a picker or a classifier: mSCF1, classification metrics, real-data folders."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports_of, lazy_exports

if TYPE_CHECKING:  # the exports: type checkers read these imports, exports_of reads them into _EXPORTS
    from .classification import classification_metrics, confusion_figure, confusion_matrix
    from .metrics import MSCF1Result, mscf1
    from .realdata import find_folders, load_folder, score_folder

_EXPORTS = exports_of(__name__, __file__)
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
