"""Random smooth fields and blobs: the building blocks of simulated anatomy and ion patterns."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise, standardised to mean 0 and standard deviation 1.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (H, W)
    sigma : float
        Correlation length in pixels.
    """
    f = ndimage.gaussian_filter(rng.standard_normal(shape), max(float(sigma), 0.3), mode="reflect")
    sd = f.std()
    return ((f - f.mean()) / (sd if sd > 0 else 1.0)).astype(np.float64)


def normalised_depth(tissue: np.ndarray) -> np.ndarray:
    """Distance of each tissue pixel to the tissue edge, divided by the largest one (0 outside)."""
    d = ndimage.distance_transform_edt(tissue)
    top = d.max()
    return d / top if top > 0 else d


def gaussian_spots(shape: tuple[int, int], centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Sum of isotropic Gaussian spots (peak 1 each), clipped to [0, 1]."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    out = np.zeros(shape)
    for (cy, cx), r in zip(centres, radii):
        out += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2.0 * r * r))
    return np.clip(out, 0.0, 1.0)


def random_points_in(rng: np.random.Generator, where: np.ndarray, n: int) -> np.ndarray:
    """``n`` random (row, col) points among the True pixels of ``where`` (empty if none)."""
    idx = np.flatnonzero(where)
    if idx.size == 0 or n <= 0:
        return np.zeros((0, 2))
    pick = rng.choice(idx, size=n, replace=idx.size < n)
    return np.stack(np.unravel_index(pick, where.shape), axis=1).astype(np.float64)


def cell_walls(rng: np.random.Generator, shape: tuple[int, int], diameter: float) -> np.ndarray:
    """A Voronoi cell-wall map in [0, 1] (1 on walls) of cells about ``diameter`` pixels across.

    Walls are where the nearest and second-nearest cell centres are about equally far, with a soft
    profile about a tenth of a cell wide (at least half a pixel), as plant cell walls or cell
    membranes look at a pixel size below the cell size.
    """
    from scipy.spatial import cKDTree

    h, w = shape
    n = max(4, int(round(h * w / (0.8 * diameter * diameter))))
    centres = rng.uniform((0.0, 0.0), (h, w), size=(n, 2))
    yy, xx = np.mgrid[0:h, 0:w]
    d, _ = cKDTree(centres).query(np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float64), k=2)
    gap = (d[:, 1] - d[:, 0]).reshape(shape)
    width = max(0.5, 0.1 * diameter)
    return np.exp(-(gap / width) ** 2)
