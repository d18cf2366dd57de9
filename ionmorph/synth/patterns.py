"""Spatial patterns of ions on a section: relative level maps per style (see :mod:`.ions`)."""
from __future__ import annotations

import numpy as np

from .anatomy import Anatomy
from .fields import gaussian_spots, random_points_in, smooth_field
from .ions import Ion

#: Styles whose images are noise by nature: no tissue substrate factor and no spatial blur.
NOISE_STYLES: tuple[str, ...] = ("sparse", "noise", "speckle")


def _allowed(ion: Ion, anatomy: Anatomy) -> np.ndarray:
    """Tissue pixels of the ion's region types (all tissue when none of them is on this section)."""
    ids = [i for i, n in enumerate(anatomy.region_names) if n in ion.regions]
    where = np.isin(anatomy.regions, ids) & anatomy.tissue
    return where if where.sum() >= 4 else anatomy.tissue


def _halo_and_rim(ion: Ion, anatomy: Anatomy, level: np.ndarray) -> np.ndarray:
    """Analyte delocalisation into the matrix around the tissue and, for some ions, a bright rim.

    Ion-level properties (same on every section): halo length and strength, rim or not.
    """
    irng = np.random.default_rng([ion.seed, 1])
    off = ion.level("off_sample")
    halo = irng.uniform(0.1, 0.35) if irng.random() < 0.2 else off
    length = irng.uniform(0.7, 4.0)
    out = np.where(anatomy.tissue, level, 0.3 * off + halo * np.exp(-anatomy.off_px / length))
    if irng.random() < 0.15:
        out = out * (1.0 + irng.uniform(0.5, 1.5) * np.exp(-anatomy.edge_px / irng.uniform(1.0, 3.0)) * anatomy.tissue)
    return out


#: Number and radius (pixels) of the small dense spots of a ``plaques`` ion (amyloid plaques,
#: granules: a few pixels across whatever the raster size, scattered over the tissue).
PLAQUE_COUNT = (8, 60)
PLAQUE_RADIUS_PX = (0.8, 2.5)

#: Share of the molecular ions of a cellular section that sit in cell walls / in cell interiors
#: (the rest do not follow the cells): wall polymers and membrane lipids against cytosolic metabolites.
CELL_ROLES: tuple[tuple[str, float], ...] = (("wall", 0.45), ("lumen", 0.25))


def _cellular(ion: Ion, walls: np.ndarray, tissue: np.ndarray, level: np.ndarray) -> np.ndarray:
    """``level`` modulated on tissue by the cell pattern, by the ion's cell role (drawn from the ion seed)."""
    irng = np.random.default_rng([ion.seed, 2])
    u, depth = irng.random(), irng.uniform(0.5, 0.95)
    if u < CELL_ROLES[0][1]:
        factor = 1.0 - depth + depth * walls
    elif u < CELL_ROLES[0][1] + CELL_ROLES[1][1]:
        factor = 1.0 - depth * walls
    else:
        return level
    return level * np.where(tissue, factor, 1.0)


def pattern_map(ion: Ion, anatomy: Anatomy, rng: np.random.Generator,
                walls: np.ndarray | None = None) -> np.ndarray:
    """Relative level map (H, W) of a molecular ion on ``anatomy`` (about 1 where it is abundant).

    ``rng`` draws the section-specific parts (spot and cluster positions, texture, noise).
    ``walls`` (optional, :func:`ionmorph.synth.fields.cell_walls`) is the cell pattern of a section
    whose pixels are smaller than its cells: regional and washed-out ions then follow the cell walls
    or the cell interiors (:data:`CELL_ROLES`).
    """
    level = _pattern(ion, anatomy, rng)
    if walls is not None and ion.style in ("regional", "faint", "washed"):
        level = _cellular(ion, walls, anatomy.tissue, level)
    return level


def _pattern(ion: Ion, anatomy: Anatomy, rng: np.random.Generator) -> np.ndarray:
    """:func:`pattern_map` without the cell pattern."""
    shape = anatomy.regions.shape
    s = min(shape)
    lut = np.asarray([ion.level(n) for n in anatomy.region_names], dtype=np.float64)
    base = lut[anatomy.regions]
    style = ion.style
    texture = np.exp(0.15 * smooth_field(rng, shape, 0.04 * s + 0.5))
    if style in ("regional", "faint") and ion.cls != "localized":
        return _halo_and_rim(ion, anatomy, base) * texture
    if style in ("regional", "washed", "matrix"):
        return base * texture
    if style == "spots":
        n = 1 + int(rng.random() < 0.4)
        spots = gaussian_spots(shape, random_points_in(rng, _allowed(ion, anatomy), n),
                               rng.uniform(0.03, 0.08, n) * s + 0.5)
        return np.clip(1.6 * spots, 0.0, 1.0) * anatomy.tissue + 0.01 * anatomy.tissue
    if style == "clusters":
        allowed = _allowed(ion, anatomy)
        field = smooth_field(rng, shape, rng.uniform(0.02, 0.045) * s + 0.4)
        q = np.quantile(field[allowed], 1.0 - rng.uniform(0.08, 0.22)) if allowed.any() else np.inf
        return np.clip((field - q) / 0.25, 0.0, 1.0) * allowed + 0.02 * anatomy.tissue
    if style == "plaques":
        allowed = _allowed(ion, anatomy)
        n = int(rng.integers(*PLAQUE_COUNT))
        radii = rng.uniform(*PLAQUE_RADIUS_PX, n)
        spots = gaussian_spots(shape, random_points_in(rng, allowed, n), radii)
        return np.clip(1.6 * spots, 0.0, 1.0) * anatomy.tissue + 0.02 * anatomy.tissue
    if style == "sparse":
        return np.ones(shape)
    if style == "noise":
        return rng.gamma(1.5, 1.0 / 1.5, shape)
    if style == "speckle":
        return (rng.random(shape) < rng.uniform(0.01, 0.05)) * rng.lognormal(0.0, 0.5, shape)
    raise ValueError(f"unknown ion style {style!r}")
