"""From ion images to a peak list: candidates, classification and ranking, ion groups, reduction, baselines."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports_of, lazy_exports

if TYPE_CHECKING:  # the exports: type checkers read these imports, exports_of reads them into _EXPORTS
    from .candidates import Candidates, candidate_mz, find_candidates
    from .image_stats import image_statistics
    from .ion_groups import group_ions
    from .pick import PickResult, pick_peaks, select
    from .reduction import ReducedCube, reduce

_EXPORTS = exports_of(__name__, __file__)
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
