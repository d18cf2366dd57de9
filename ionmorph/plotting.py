"""Figures of ion images: one grid function shared by ``ionmorph images``, peak picking and the simulator.

Display convention: each image is hotspot-clipped over its measured pixels (the METASPACE rule,
with :func:`ionmorph.models.preprocessing.normalise_measured` and the scale set to the clip value, so 1 =
the hotspot clip); measured pixels use ``cmap`` on [0, 1], unmeasured pixels are drawn in grey.
With ``shared_scale`` the clip is taken over the pixels of all panels together, so colours compare
across panels. Every grid has one colour bar and a note saying which of the two scalings it uses.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import InputError
from .fileio import atomic_path, check_output

#: Colour of pixels without a spectrum.
UNMEASURED_COLOUR = "#bdbdbd"


def display_scale(images: np.ndarray, mask: np.ndarray | None = None, quantile: float = 1.0) -> np.ndarray:
    """Hotspot-clip each image and scale it to [0, 1] (1 = the ``quantile`` of its measured pixels after
    the clip; the default 1.0 is the clip value); float32 (n, H, W)."""
    from .models.preprocessing import PreprocessConfig, normalise_measured

    stack = np.asarray(images, dtype=np.float32)
    mask = np.ones(stack.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = np.zeros(stack.shape, dtype=np.float32)
    if mask.any() and len(stack):
        out[:, mask] = normalise_measured(stack[:, mask], PreprocessConfig(scale_quantile=quantile))
    return out


#: The notes under a grid, by scaling.
SCALE_NOTES = {
    False: "each panel scaled to its own hotspot clip (99th percentile of pixels above max/256): "
           "colours do not compare across panels",
    True: "all panels on one scale (hotspot clip of all their pixels together): colours compare across panels",
}


def ion_image_grid(images: np.ndarray, titles: Sequence[str] | None = None, mask: np.ndarray | None = None,
                   ncols: int | None = None, cmap: str = "viridis", suptitle: str | None = None,
                   panel_size: float = 2.2, shared_scale: bool = False):
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
        Matplotlib colour map for the measured pixels (e.g. ``viridis``, ``magma``, ``gray``).
    suptitle : str, optional
        Figure title.
    panel_size : float
        Height of one panel in inches (width follows the aspect ratio).
    shared_scale : bool
        One intensity scale for all panels instead of one per panel (module docstring).
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
    import matplotlib as mpl

    if cmap not in mpl.colormaps:
        raise InputError(f"unknown colour map {cmap!r}; use a matplotlib name such as viridis, magma or gray")
    if shared_scale:
        measured = np.ones((h, w), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        scaled = np.zeros(stack.shape, dtype=np.float32)
        scaled[:, measured] = display_scale(stack[:, measured].reshape(1, 1, -1))[0, 0].reshape(n, -1)
    else:
        scaled = display_scale(stack, mask)
    fig = Figure(figsize=(ncols * panel_size * max(w / h, 0.4) + 1.0, nrows * (panel_size + 0.35) + 0.9),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    colours = mpl.colormaps[cmap].with_extremes(bad=UNMEASURED_COLOUR)
    shown_image = None
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= n:
            continue
        shown = np.ma.masked_array(scaled[k], mask=None if mask is None else ~np.asarray(mask, bool))
        shown_image = ax.imshow(shown, cmap=colours, vmin=0.0, vmax=1.0, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=8)
    label = "intensity / shared hotspot clip" if shared_scale else "intensity / panel's hotspot clip"
    fig.colorbar(shown_image, ax=axes.tolist(), shrink=0.8, label=label)
    width = fig.get_figwidth()
    fig.supxlabel(wrap_to_width(SCALE_NOTES[bool(shared_scale)] + "; grey: not measured", width, 7), fontsize=7)
    if suptitle:
        fig.suptitle(wrap_to_width(suptitle, width, 12), fontsize=12)
    return fig


def wrap_to_width(text: str, width_in: float, fontsize: float) -> str:
    """``text`` broken into lines that fit a figure ``width_in`` inches wide at ``fontsize`` points
    (an average character is taken as 0.6 em wide, with a small margin); existing line breaks are kept.

    >>> wrap_to_width("a b c", 10, 10)
    'a b c'
    >>> wrap_to_width("aaaa bbbb", 0.5, 10)
    'aaaa\nbbbb'
    """
    import textwrap

    chars = max(10, int(0.92 * width_in * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(line, chars, break_on_hyphens=False) or line for line in text.split("\n"))


#: Metadata key per format under which saved figures carry :data:`FIGURE_MARK` (so a rerun may replace them).
_MARK_KEYS = {"png": "Software", "pdf": "Creator", "svg": "Creator", "eps": "Creator", "ps": "Creator"}
FIGURE_MARK = "ionmorph"
#: How each format stores that metadata entry (matplotlib's writers).
_MARK_BYTES = (b"tEXtSoftware\x00" + FIGURE_MARK.encode(), b"/Creator (" + FIGURE_MARK.encode() + b")",
               b"<dc:title>" + FIGURE_MARK.encode() + b"</dc:title>", b"%%Creator: " + FIGURE_MARK.encode())


def is_ionmorph_figure(path: Path) -> bool:
    """True for a figure file that :func:`save_figure` wrote (its metadata names :data:`FIGURE_MARK`)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
            fh.seek(max(0, path.stat().st_size - (1 << 16)))
            tail = fh.read()
    except OSError:
        return False
    return any(mark in head or mark in tail for mark in _MARK_BYTES)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120, *, inputs: Sequence[str | os.PathLike] = (),
                overwrite: bool = False) -> Path:
    """Save ``fig`` atomically; the format follows the suffix (.png, .pdf, .svg).

    ``path`` may not be one of ``inputs``; an existing file is replaced only when it is a figure
    this function wrote, or with ``overwrite`` (:func:`ionmorph.fileio.check_output`).
    """
    path = check_output(path, inputs, force=overwrite, owned=is_ionmorph_figure)
    fmt = path.suffix.lstrip(".").lower() or "png"
    meta = {_MARK_KEYS[fmt]: FIGURE_MARK} if fmt in _MARK_KEYS else None
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)
    return path
