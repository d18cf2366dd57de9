"""Reading and writing MSI files and outputs: imzML in, ion-image stacks and reduced imzML out."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports_of, lazy_exports

if TYPE_CHECKING:  # the exports: type checkers read these imports, exports_of reads them into _EXPORTS
    from .cube import Cube, read_cube
    from .export import save_ion_images, write_reduced_imzml
    from .metadata import AcquisitionInfo, read_acquisition_info
    from .msi import DEFAULT_PPM, MSIData, SpectraChunk, mz_windows, open_msi
    from .normalisation import NORMS, norm_factor, normalise

_EXPORTS = exports_of(__name__, __file__)
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
