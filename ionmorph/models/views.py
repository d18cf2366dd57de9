"""Views of an ion image for multi-view scoring: the full frame and its four corner crops.

A classifier that sees only the full frame judges an image by how it fills that frame: a tissue cut
by the raster border, or an off-sample corner, changes the picture. Averaging the informative score
over the full frame and four corner crops (each ``fraction`` of the raster's height and width) asks
the same question of five framings. Crops are taken from the raw ion images and their measured
mask, before :func:`ionmorph.models.preprocessing.preprocess`, so every view is preprocessed alike.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError

#: Side share of each corner crop.
VIEW_FRACTION = 0.6


def corner_views(shape: tuple[int, int], fraction: float = VIEW_FRACTION) -> list[tuple[slice, slice]]:
    """Row and column slices of the full frame and the four corner crops of an (H, W) raster.

    Parameters
    ----------
    shape : (H, W)
    fraction : float
        Side share of each crop, in (0, 1]; crops are at least one pixel.
    """
    if not 0.0 < fraction <= 1.0:
        raise InputError(f"view fraction must be in (0, 1], got {fraction}")
    h, w = (int(v) for v in shape)
    ch, cw = max(1, int(round(fraction * h))), max(1, int(round(fraction * w)))
    full = (slice(0, h), slice(0, w))
    rows, cols = (slice(0, ch), slice(h - ch, h)), (slice(0, cw), slice(w - cw, w))
    return [full] + [(r, c) for r in rows for c in cols]


def view_stacks(images: np.ndarray, mask: np.ndarray, fraction: float = VIEW_FRACTION):
    """Yield ``(images[:, rows, cols], mask[rows, cols])`` for every view of :func:`corner_views`."""
    for rows, cols in corner_views(images.shape[1:], fraction):
        yield images[:, rows, cols], mask[rows, cols]
