"""Figures of ion images: one grid function shared by ``ionmorph images``, peak picking and the simulator.

Display convention: each image is hotspot-clipped over its measured pixels (SPEC 3, with
:func:`ionmorph.preprocessing.normalise_measured` and the scale set to the clip value, so 1 = the
hotspot clip); measured pixels use ``cmap`` on [0, 1], unmeasured pixels are drawn in grey.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import InputError
from .fileio import atomic_path

#: Colour of pixels without a spectrum.
UNMEASURED_COLOUR = "#bdbdbd"


def display_scale(images: np.ndarray, mask: np.ndarray | None = None, quantile: float = 1.0) -> np.ndarray:
    """Hotspot-clip each image and scale it to [0, 1] (1 = the ``quantile`` of its measured pixels after
    the clip; the default 1.0 is the clip value); float32 (n, H, W)."""
    from .preprocessing import PreprocessConfig, normalise_measured

    stack = np.asarray(images, dtype=np.float32)
    mask = np.ones(stack.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = np.zeros(stack.shape, dtype=np.float32)
    if mask.any() and len(stack):
        out[:, mask] = normalise_measured(stack[:, mask], PreprocessConfig(scale_quantile=quantile))
    return out


def ion_image_grid(images: np.ndarray, titles: Sequence[str] | None = None, mask: np.ndarray | None = None,
                   ncols: int | None = None, cmap: str = "viridis", suptitle: str | None = None,
                   panel_size: float = 2.2):
    """A grid of ion images as a matplotlib Figure.

    Parameters
    ----------
    images : array (n, H, W) or (H, W)
        Ion images on one raster.
    titles : sequence of str, optional
        One title per image (e.g. ``"m/z 798.5410"``).
    mask : bool array (H, W), optional
        True where a pixel was measured; others are drawn in :data:`UNMEASURED_COLOUR`.
    ncols : int, optional
        Columns of the grid (default: about the square root of n, at most 8).
    cmap : str
        Matplotlib colour map for the measured pixels.
    suptitle : str, optional
        Figure title.
    panel_size : float
        Height of one panel in inches (width follows the aspect ratio).
    """
    from matplotlib.figure import Figure

    stack = np.asarray(images)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3 or len(stack) == 0 or 0 in stack.shape[1:]:
        raise InputError(f"images must be a non-empty (n, H, W) or (H, W) array, got shape {np.shape(images)}")
    n, h, w = stack.shape
    if mask is not None and np.shape(mask) != (h, w):
        raise InputError(f"mask shape {np.shape(mask)} does not match the images' raster {(h, w)}")
    if titles is not None and len(titles) != n:
        raise InputError(f"{len(titles)} titles for {n} images")
    ncols = ncols or min(8, math.ceil(math.sqrt(n)))
    if ncols < 1:
        raise InputError(f"ncols must be positive, got {ncols}")
    nrows = math.ceil(n / ncols)
    scaled = display_scale(stack, mask)
    fig = Figure(figsize=(ncols * panel_size * max(w / h, 0.4) + 0.4, nrows * (panel_size + 0.35) + 0.6),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    import matplotlib as mpl

    colours = mpl.colormaps[cmap].with_extremes(bad=UNMEASURED_COLOUR)
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= n:
            continue
        shown = np.ma.masked_array(scaled[k], mask=None if mask is None else ~np.asarray(mask, bool))
        ax.imshow(shown, cmap=colours, vmin=0.0, vmax=1.0, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save ``fig`` atomically; the format follows the suffix (.png, .pdf, .svg)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path
