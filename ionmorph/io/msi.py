"""Reading imzML mass spectrometry images: :func:`open_msi` and :class:`MSIData`.

:class:`MSIData` joins two jobs, each in its own module with its own contract:

- opening the files and checking their layout (:mod:`ionmorph.io.msi_layout`: XML, .ibd, geometry,
  every structural check before any intensity is read);
- extracting ion images, spectra and the TIC (:mod:`ionmorph.io.msi_extract`: one streaming pass
  per call, intensities checked as they are read).

The third job, plotting, stays out of the reader: :mod:`ionmorph.plotting` draws what the reader
returns. Conventions (docs/design.md): raster row = imzML y - min y, column = imzML x - min x;
``shape`` is (H, W); ``mask`` is True where a pixel has a spectrum; unmeasured pixels are 0 in every
image; ion image at m/z M sums M - w <= m/z <= M + w, w = M * ppm * 1e-6 or ``tol_da``.
"""
from __future__ import annotations

import os

from .msi_extract import CHUNK_BYTES, DEFAULT_BIN_PPM, DEFAULT_PPM, MAX_BINS, MSIReader, SpectraChunk, mz_windows
from .msi_layout import MAX_EMPTY_RATIO, MIN_RASTER_LIMIT, Layout, MSILayout

__all__ = ["open_msi", "MSIData", "SpectraChunk", "mz_windows", "DEFAULT_PPM", "CHUNK_BYTES", "DEFAULT_BIN_PPM",
           "MAX_BINS", "MAX_EMPTY_RATIO", "MIN_RASTER_LIMIT", "Layout", "MSILayout", "MSIReader"]


def open_msi(path: str | os.PathLike, z: int | None = None, *, nan_policy: str = "raise") -> "MSIData":
    """Open an imzML file (with its .ibd beside it).

    Parameters
    ----------
    path : path-like
        The ``.imzML`` file.
    z : int, optional
        The z slice to read from 3D data (required when the file has several z values).
    nan_policy : {"raise", "zero"}
        What to do with NaN, infinite or negative intensities met while streaming: raise
        :class:`MSIFormatError` naming the pixel (default), or treat them as 0 with one warning per pass.

    Returns
    -------
    MSIData

    Raises
    ------
    MSIFormatError
        A missing file, directory or broken link; XML that is not imzML or is malformed, declares a
        DTD or entities or an unknown encoding; a missing, ambiguous or foreign .ibd (UUID check);
        unsupported number format or compression; numbers beyond 64 bits; arrays outside the .ibd,
        inside its 16-byte header or overlapping each other; mismatched array lengths; duplicate
        coordinates; a raster far larger than the pixel count; 3D data without ``z``; continuous
        data without one shared m/z axis; bytes that look like another number format.

    Warns
    -----
    UserWarning
        When the XML declares no UUID, so the .ibd cannot be checked against it.
    """
    return MSIData.open(path, z, nan_policy=nan_policy)


class MSIData(MSIReader):
    """An opened imzML dataset (one z slice): raster geometry plus streaming access to spectra.

    Create it with :func:`open_msi`. Attributes: ``path``, ``ibd_path``, ``shape`` (H, W),
    ``mask`` (bool H x W), ``coords`` (n_pixels, 2) int (row, col) in file order, ``xy``
    (n_pixels, 2) the original imzML (x, y), ``n_pixels``, ``mode`` ("continuous" or "processed"),
    ``spectrum_type`` ("profile", "centroid" or None), ``mz_dtype``, ``intensity_dtype``,
    ``spectrum_lengths``, ``mz_axis`` (continuous only, else None), ``mz_range``.

    Opening and checking come from :class:`~ionmorph.io.msi_layout.MSILayout`; :meth:`spectra`,
    :meth:`ion_images`, :meth:`channel_images`, :meth:`tic_image` and :meth:`mean_spectrum` from
    :class:`~ionmorph.io.msi_extract.MSIReader`.
    """

    def __repr__(self) -> str:
        lo, hi = self.mz_range
        return (f"MSIData({self.path.name!r}, mode={self.mode!r}, shape={self.shape}, "
                f"n_pixels={self.n_pixels}, mz_range=({lo:.4f}, {hi:.4f}))")
