"""Working rasters: ion images binned to a bounded side, so that large sections cost what small ones do.

A raster of H x W pixels binned by an integer factor b becomes ceil(H / b) x ceil(W / b) cells;
cell (i, j) covers rows b*i .. b*i + b - 1 and columns b*j .. b*j + b - 1 (the last row and column
of cells may be partial). A cell's value is the **mean over its measured pixels** (so that cells
on the tissue border are not darker than those inside), and a cell holding no measured pixel is
unmeasured (0, outside the working mask). Per-pixel normalisation (TIC, RMS) is applied to each
pixel before the mean, as it would be at full resolution.

:func:`bin_factor` chooses the smallest b that brings both sides to at most a given number of
cells; :meth:`ionmorph.io.msi.MSIData.ion_images` bins inside its streaming pass (``binning=``), so a
million-pixel section never holds full-resolution images of all its candidates; :func:`bin_images`
bins an in-memory stack the same way.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

#: Working memory of one chunk of :func:`bin_images` (a float64 copy of the chunk).
_STACK_BYTES = 64 * 2**20


def bin_factor(shape: tuple[int, int], max_side: int | None) -> int:
    """Smallest integer b >= 1 with ceil(H / b) <= ``max_side`` and ceil(W / b) <= ``max_side``
    (1 when ``max_side`` is None: no binning)."""
    if max_side is None:
        return 1
    if int(max_side) < 1:
        raise InputError(f"the working raster side must be a positive number of pixels, got {max_side!r}")
    return max(1, math.ceil(max(shape) / int(max_side)))


def binned_shape(shape: tuple[int, int], b: int) -> tuple[int, int]:
    """(ceil(H / b), ceil(W / b))."""
    return -(-int(shape[0]) // b), -(-int(shape[1]) // b)


def cell_index(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], b: int) -> np.ndarray:
    """Flat index of the cell of each pixel (``rows``, ``cols``) in the binned raster of ``shape``."""
    return (np.asarray(rows) // b) * binned_shape(shape, b)[1] + np.asarray(cols) // b


def measured_counts(mask: np.ndarray, b: int) -> np.ndarray:
    """Measured pixels per cell, int64 (ceil(H / b), ceil(W / b)); the working mask is ``counts > 0``."""
    rows, cols = np.nonzero(np.asarray(mask, dtype=bool))
    hb, wb = binned_shape(mask.shape, b)
    return np.bincount(cell_index(rows, cols, mask.shape, b), minlength=hb * wb).reshape(hb, wb)


def add_to_cells(out: np.ndarray, cells: np.ndarray, values: np.ndarray) -> None:
    """Add per-pixel ``values`` (n_pixels, k) into the flat cells ``cells`` (n_pixels,) of the
    binned stack ``out`` (k, Hb, Wb), summing pixels that share a cell."""
    if not len(cells):
        return
    order = np.argsort(cells, kind="stable")
    cells = cells[order]
    starts = np.flatnonzero(np.concatenate([[True], cells[1:] != cells[:-1]]))
    sums = np.add.reduceat(np.asarray(values)[order], starts, axis=0)
    flat = out.reshape(len(out), -1)
    flat[:, cells[starts]] += sums.T.astype(out.dtype)


def to_means(out: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Turn the per-cell sums ``out`` (k, Hb, Wb) into means over ``counts`` measured pixels, in place."""
    np.divide(out, counts, out=out, where=np.broadcast_to(counts > 0, out.shape))
    return out


def bin_images(images: np.ndarray, b: int, mask: np.ndarray | None = None) -> np.ndarray:
    """An ion-image stack (n, H, W) binned by ``b``: float32 (n, Hb, Wb), the mean over each cell's
    measured pixels (``mask``, default all); ``images`` itself when ``b`` is 1."""
    images = np.asarray(images)
    if b == 1:
        return images
    if images.ndim != 3:
        raise InputError(f"an ion-image stack must be (n, H, W), got shape {images.shape}")
    (h, w), (hb, wb) = images.shape[1:], binned_shape(images.shape[1:], b)
    mask = np.ones((h, w), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = np.zeros((len(images), hb, wb), dtype=np.float32)
    step = max(1, _STACK_BYTES // (8 * hb * b * wb * b))
    padded = np.zeros((min(step, len(images)), hb * b, wb * b), dtype=np.float64)
    for start in range(0, len(images), step):
        part = images[start:start + step]
        padded[:len(part), :h, :w] = np.where(mask, part, 0.0)
        out[start:start + len(part)] = padded[:len(part)].reshape(len(part), hb, b, wb, b).sum(axis=(2, 4))
    return to_means(out, measured_counts(mask, b))
