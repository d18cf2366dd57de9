"""Slide level: dense tumour-probability maps, the slide call, and the map figure.

The slide rule (stated once, used everywhere): the tumour-probability map is smoothed with a
5 x 5 mean over the slide's region of interest, and the slide is called **tumour-bearing** when at
least :data:`MIN_FRACTION` (5 %) of the region's pixels have a smoothed probability >= 0.5. The
smoothing removes isolated false-positive pixels; a real tumour is a connected area. A slide's
truth is tumour-bearing when at least :data:`MIN_FRACTION` of its annotated tissue is tumour.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ionmorph.errors import InputError

from .cohort import crop_to_raster, raster_origin
from .patches import extract_patches, normalise_cube

MIN_FRACTION = 0.05
SMOOTH = 5
TUMOUR = 2


def predict_map(predict_proba: Callable[[np.ndarray], np.ndarray], cube: np.ndarray, region: np.ndarray,
                patch: int, channels: np.ndarray | None = None, batch: int = 2048) -> np.ndarray:
    """Tumour probability (last class) of a patch centred on every ``region`` pixel; NaN elsewhere."""
    centres = np.argwhere(region)
    out = np.full(region.shape, np.nan, dtype=np.float32)
    for i in range(0, len(centres), batch):
        c = centres[i:i + batch]
        out[c[:, 0], c[:, 1]] = predict_proba(extract_patches(cube, c, patch, channels))[:, -1]
    return out


def slide_score(prob: np.ndarray, region: np.ndarray) -> float:
    """Fraction of ``region`` whose 5 x 5-smoothed tumour probability is >= 0.5."""
    from scipy.ndimage import uniform_filter

    region = np.asarray(region, dtype=bool)
    if not region.any():
        raise InputError("the slide's region of interest is empty")
    p = np.where(region, np.nan_to_num(prob), 0.0)
    w = uniform_filter(region.astype(np.float64), SMOOTH, mode="constant")
    smooth = uniform_filter(p, SMOOTH, mode="constant") / np.maximum(w, 1e-12)
    return float(np.mean(smooth[region] >= 0.5))


def slide_call(prob: np.ndarray, region: np.ndarray) -> bool:
    """True when the slide is called tumour-bearing (module docstring)."""
    return slide_score(prob, region) >= MIN_FRACTION


def slide_truth(annotation: np.ndarray) -> bool:
    """True when at least :data:`MIN_FRACTION` of the annotated tissue is tumour."""
    tissue = annotation > 0
    return bool(tissue.any() and np.mean(annotation[tissue] == TUMOUR) >= MIN_FRACTION)


def probability_figure(prob: np.ndarray, annotation: np.ndarray | None = None, title: str = "") -> Any:
    """Figure: tumour probability over the region, beside the annotation when given."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    n = 1 if annotation is None else 2
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    im = axes[0, 0].imshow(np.ma.masked_invalid(prob), cmap="magma", vmin=0, vmax=1)
    axes[0, 0].set_title("P(tumour)")
    fig.colorbar(im, ax=axes[0, 0], fraction=0.046)
    if annotation is not None:
        axes[0, 1].imshow(annotation, cmap=ListedColormap(["#f0f0f0", "#74a9cf", "#d7301f"]), vmin=0, vmax=2,
                          interpolation="nearest")
        axes[0, 1].set_title("annotation (healthy blue, tumour red)")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@dataclass
class SlidePrediction:
    """A slide's tumour-probability map (on the imzML raster), score, call and raster origin."""

    prob: np.ndarray
    score: float
    tumour: bool
    origin: tuple[int, int]


def read_channels(imzml: str | os.PathLike, mz: np.ndarray, ppm: float,
                  progress: bool = False) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Normalised ion images (C, H, W) of ``mz`` in an imzML file (as in training), mask, raster origin."""
    from ionmorph.msi import open_msi

    msi = open_msi(Path(imzml))
    cube = msi.ion_images(np.asarray(mz, dtype=np.float64), ppm=ppm, progress=progress)
    return normalise_cube(cube, msi.tic_image(), msi.mask), msi.mask, raster_origin(msi)


def predict_slide(model: Any, imzml: str | os.PathLike, region: np.ndarray | None = None,
                  progress: bool = False) -> SlidePrediction:
    """Run a :class:`tumor3d.model.Tumor3DNet` over an imzML file.

    The model's channels (``config.mz`` at ``config.ppm``) are extracted and normalised as in
    training; every pixel of ``region`` (default: every measured pixel; a full-scan mask is
    cropped to the file's raster) gets a probability.
    """
    import torch

    cfg = model.config
    if not cfg.mz:
        raise InputError("the model's config lists no channel m/z; it cannot read an imzML file")
    cube, mask, origin = read_channels(imzml, np.asarray(cfg.mz), cfg.ppm, progress)
    region = mask if region is None else crop_to_raster(np.asarray(region, dtype=bool), mask.shape, origin, imzml)
    region = region & mask

    def proba(x: np.ndarray) -> np.ndarray:
        return model.predict_proba(torch.from_numpy(x).unsqueeze(1)).numpy()

    prob = predict_map(proba, cube, region, cfg.patch)
    score = slide_score(prob, region)
    return SlidePrediction(prob, score, score >= MIN_FRACTION, origin)
