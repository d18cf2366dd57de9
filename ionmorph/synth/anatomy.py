"""Simulated tissue sections: outline, internal anatomy per family, tumour lesions and damage.

A section is a tissue piece with an irregular outline inside a scanned raster with an off-sample
margin (matrix-covered glass). Its internal anatomy has 3-7 region *types* per family, laid out
from the tissue's depth (distance to the edge) and smooth random fields:

- ``brain``: layered, coronal-like: cortex, a thin white-matter band, deep grey matter, an arched
  hippocampus and small ventricles;
- ``kidney``: bean-shaped: cortex with glomeruli (small spots), outer medulla with radial rays,
  inner medulla, pelvis at the hilum;
- ``tumour``: irregular: healthy epithelium, stroma and fat, with infiltrative multifocal tumour
  (ragged edges, isolated nests, stromal strands) and necrotic cores;
- ``seed``: elongated cereal grain: seed coat, aleurone layer, endosperm, embryo and scutellum.

Every family also has a ``tumour`` region type, present only when a tumour fraction > 0 is asked
for (a compact infiltrative lesion), so tumour cohorts can be built on any family. Damage: holes,
tears (off-sample pixels inside the outline) and folded edges (a thickness factor > 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Mapping

import numpy as np
from scipy import ndimage

from ..errors import InputError
from .fields import gaussian_spots, normalised_depth, random_points_in, smooth_field

OFF_SAMPLE = "off_sample"

#: Region types of each family (region id = position + 1; id 0 is off-sample).
FAMILY_REGIONS: dict[str, tuple[str, ...]] = {
    "brain": ("cortex", "white_matter", "grey_matter", "hippocampus", "ventricle", "tumour"),
    "kidney": ("cortex", "outer_medulla", "inner_medulla", "pelvis", "glomeruli", "tumour"),
    "tumour": ("healthy", "stroma", "fat", "tumour", "necrosis"),
    "seed": ("seed_coat", "aleurone", "endosperm", "embryo", "scutellum", "tumour"),
}
FAMILIES: tuple[str, ...] = tuple(FAMILY_REGIONS)

#: Anatomical annotation groups (class 1, 2, ...; 0 is background) of the non-tumour masks.
ANATOMY_GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "brain": (("cortex", "grey_matter", "hippocampus", "ventricle"), ("white_matter",)),
    "kidney": (("cortex", "glomeruli"), ("outer_medulla", "inner_medulla", "pelvis")),
    "tumour": (("healthy", "stroma", "fat"), ("tumour", "necrosis")),
    "seed": (("seed_coat", "aleurone", "endosperm"), ("embryo", "scutellum")),
}
#: Region types counted as tumour in the background/healthy/tumour annotation.
TUMOUR_REGIONS: tuple[str, ...] = ("tumour", "necrosis")


@dataclass
class Anatomy:
    """A simulated section's geometry.

    Attributes
    ----------
    regions : int array (H, W)
        Region id per pixel (0 = off-sample), indexing ``region_names``.
    region_names : list of str
        ``["off_sample", *FAMILY_REGIONS[family]]``.
    tissue : bool array (H, W)
        True on tissue (holes and tears are False).
    thickness : float array (H, W)
        Relative tissue thickness (1; folded edges about 2; 0 off-sample).
    """

    regions: np.ndarray
    region_names: list[str]
    tissue: np.ndarray
    thickness: np.ndarray

    @cached_property
    def edge_px(self) -> np.ndarray:
        """Distance (pixels) of each tissue pixel to the nearest off-sample pixel (0 off-sample)."""
        return ndimage.distance_transform_edt(self.tissue)

    @cached_property
    def off_px(self) -> np.ndarray:
        """Distance (pixels) of each off-sample pixel to the tissue (0 on tissue)."""
        return ndimage.distance_transform_edt(~self.tissue) if self.tissue.any() else np.full(self.tissue.shape, 1e3)


def check_family(family: str) -> None:
    """Raise InputError for an unknown family name."""
    if family not in FAMILY_REGIONS:
        raise InputError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


def make_anatomy(rng: np.random.Generator, family: str, shape: tuple[int, int],
                 tumour_fraction: float = 0.0, composition: Mapping[str, float] | None = None) -> Anatomy:
    """Draw a section of ``family`` on an (H, W) raster.

    Parameters
    ----------
    rng : numpy.random.Generator
    family : str
        One of :data:`FAMILIES`.
    shape : (H, W)
    tumour_fraction : float
        Share of the tissue area that is tumour (0 = tumour-free).
    composition : mapping, optional
        Relative weights of the family's region types (1 = typical size; 2 = larger).
    """
    check_family(family)
    if not 0.0 <= tumour_fraction < 1.0:
        raise InputError(f"tumour_fraction must be in [0, 1), got {tumour_fraction}")
    names = list(FAMILY_REGIONS[family])
    weights = {n: 1.0 for n in names}
    for key, w in (composition or {}).items():
        if key not in weights or not w > 0:
            raise InputError(f"composition: {key!r}={w} is not a positive weight of a {family} region type "
                             f"({', '.join(names)})")
        weights[key] = float(w)
    tissue = _outline(rng, shape, family)
    label = _LAYOUTS[family](rng, tissue, weights)
    if tumour_fraction > 0:
        _add_tumour(rng, label, tissue, names, tumour_fraction, multifocal=family == "tumour")
    tissue, thickness = _damage(rng, tissue)
    regions = np.where(tissue, label, 0).astype(np.int16)
    return Anatomy(regions=regions, region_names=[OFF_SAMPLE, *names], tissue=tissue, thickness=thickness)


# ----------------------------------------------------------------------------- outline

#: Probability that a section holds two tissue pieces (biopsy fragments, two grains, two sections).
TWO_PIECES: dict[str, float] = {"brain": 0.0, "kidney": 0.1, "tumour": 0.25, "seed": 0.15}


#: Framing of a one-piece section: (name, probability, fill range, off-centre shift range).
#: ``margin``: the whole piece with an off-sample margin; ``fill``: the tissue fills most of the
#: raster and its border cuts it, leaving off-sample corners; ``partial``: part of an organ, pushed
#: off centre so that a large off-sample area faces a border cut.
FRAMINGS: tuple[tuple[str, float, tuple[float, float], tuple[float, float]], ...] = (
    ("margin", 0.45, (0.62, 0.86), (0.0, 0.04)),
    ("fill", 0.35, (0.9, 1.25), (0.0, 0.12)),
    ("partial", 0.2, (0.8, 1.3), (0.2, 0.45)),
)


def _outline(rng: np.random.Generator, shape: tuple[int, int], family: str) -> np.ndarray:
    """Irregular tissue outline (bool): one piece framed as in :data:`FRAMINGS`, or two side by side."""
    h, w = shape
    if rng.random() >= TWO_PIECES[family] or min(h, w) < 40:
        names, probs, fills, shifts = zip(*FRAMINGS)
        k = int(rng.choice(len(names), p=np.asarray(probs) / sum(probs)))
        return _piece(rng, shape, family, fill=fills[k], shift=shifts[k])
    tissue = np.zeros(shape, dtype=bool)
    if w >= h:
        cut = int(w * rng.uniform(0.45, 0.6))
        tissue[:, :cut] = _piece(rng, (h, cut), family)
        tissue[:, cut:] = _piece(rng, (h, w - cut), family, fill=(0.45, 0.8))
    else:
        cut = int(h * rng.uniform(0.45, 0.6))
        tissue[:cut] = _piece(rng, (cut, w), family)
        tissue[cut:] = _piece(rng, (h - cut, w), family, fill=(0.45, 0.8))
    return tissue


def _piece(rng: np.random.Generator, shape: tuple[int, int], family: str,
           fill: tuple[float, float] = (0.62, 0.86), shift: tuple[float, float] = (0.0, 0.04)) -> np.ndarray:
    """One tissue piece: an ellipse-like outline with random harmonics and a rough edge.

    ``fill`` is the range of the piece's half-axis relative to half the raster (above 1: cut by the
    raster border); ``shift`` the range of its centre's offset, as a share of the raster side.
    """
    h, w = shape
    off = rng.uniform(*shift) * np.exp(1j * rng.uniform(0, 2 * np.pi))
    cy, cx = h / 2 + off.imag * h + rng.normal(0, 0.02 * h), w / 2 + off.real * w + rng.normal(0, 0.02 * w)
    ang = rng.normal(0, 0.25) + (np.pi / 2 if family == "seed" and h > w else 0.0)
    if family == "brain":  # upright coronal sections, mirrored below
        cx, ang = w / 2, 0.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = (xx - cx) / (w / 2), (yy - cy) / (h / 2)
    u, v = u * np.cos(ang) + v * np.sin(ang), -u * np.sin(ang) + v * np.cos(ang)
    size = rng.uniform(*fill)
    a, b = size, size * (rng.uniform(0.45, 0.6) if family == "seed" else rng.uniform(0.8, 1.0))
    r = np.hypot(u / a, v / b)
    theta = np.arctan2(v, u)
    amp = {"brain": 0.05, "kidney": 0.03, "tumour": 0.09, "seed": 0.02}[family]
    edge = np.ones_like(r)
    for k in range(2, 8):
        edge += amp / (k - 1) ** 0.7 * rng.normal() * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    if family == "kidney":  # the hilum: an indentation on one side
        t0 = rng.uniform(-np.pi, np.pi)
        edge -= 0.3 * np.exp(-np.angle(np.exp(1j * (theta - t0))) ** 2 / (2 * 0.3 ** 2))
    if family == "brain":  # the dorsal midline notch of a coronal section
        edge -= 0.12 * np.exp(-np.angle(np.exp(1j * (theta + np.pi / 2))) ** 2 / (2 * 0.12 ** 2))
    edge += 0.025 * smooth_field(rng, shape, 0.02 * min(h, w) + 0.5)
    tissue = r < edge
    if tissue.all():  # keep an off-sample corner
        tissue[0, 0] = False
    if family == "brain":  # bilateral symmetry
        half = w // 2
        tissue[:, w - half:] = tissue[:, :half][:, ::-1]
    lab, n = ndimage.label(tissue)
    if n > 1:
        tissue = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    return ndimage.binary_fill_holes(tissue)


# ----------------------------------------------------------------------------- layouts

def _assign(tissue: np.ndarray, scores: dict[str, np.ndarray], names: list[str],
            weights: Mapping[str, float], gain: float = 0.6) -> np.ndarray:
    """Region ids by the arg-max of per-region scores plus log-weights (composition)."""
    keys = list(scores)
    stack = np.stack([scores[k] + gain * np.log(weights[k]) for k in keys])
    ids = np.asarray([names.index(k) + 1 for k in keys])
    return np.where(tissue, ids[np.argmax(stack, axis=0)], 0)


def _layered(d: np.ndarray, centre: float, width: float) -> np.ndarray:
    return -np.abs(d - centre) / width


def _brain(rng: np.random.Generator, tissue: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    names = list(FAMILY_REGIONS["brain"])
    h, w = tissue.shape
    s = min(h, w)
    d = normalised_depth(tissue) + 0.05 * smooth_field(rng, tissue.shape, 0.08 * s)
    wm = rng.uniform(0.28, 0.4)
    label = _assign(tissue, {"cortex": _layered(d, wm / 2, wm / 2), "white_matter": _layered(d, wm + 0.04, 0.05),
                             "grey_matter": _layered(d, 0.75, 0.3)}, names, weights)
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = ndimage.center_of_mass(tissue)
    r0 = 0.22 * s * np.sqrt(weights["hippocampus"])
    rho = np.hypot(yy - cy - 0.1 * s, xx - cx)
    arc = (np.abs(rho - r0) < 0.045 * s * np.sqrt(weights["hippocampus"])) & (yy < cy + 0.05 * s) & (d > wm + 0.08)
    label[arc & tissue] = names.index("hippocampus") + 1
    off = rng.uniform(0.05, 0.12) * s
    vent = gaussian_spots(tissue.shape, np.array([[cy + 0.05 * s, cx - off], [cy + 0.05 * s, cx + off]]),
                          np.full(2, 0.025 * s * np.sqrt(weights["ventricle"]) + 0.4)) > 0.5
    label[vent & tissue & (d > 0.35)] = names.index("ventricle") + 1
    return label


def _kidney(rng: np.random.Generator, tissue: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    names = list(FAMILY_REGIONS["kidney"])
    h, w = tissue.shape
    s = min(h, w)
    d = normalised_depth(tissue) + 0.04 * smooth_field(rng, tissue.shape, 0.06 * s)
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = ndimage.center_of_mass(tissue)
    theta = np.arctan2(yy - cy, xx - cx)
    rays = 0.35 * np.cos(rng.integers(12, 20) * theta + 2.0 * smooth_field(rng, tissue.shape, 0.1 * s))
    label = _assign(tissue, {"cortex": _layered(d, 0.15, 0.2), "outer_medulla": _layered(d, 0.45, 0.12) + rays,
                             "inner_medulla": _layered(d, 0.85, 0.25)}, names, weights)
    for piece in _pieces(tissue):  # pelvis: deep tissue on the side of the hilum (the concavity)
        hull_gap = ndimage.binary_fill_holes(ndimage.binary_closing(piece, iterations=max(2, s // 6))) & ~piece
        if hull_gap.any():
            gy, gx = ndimage.center_of_mass(hull_gap)
            near = np.hypot(yy - gy, xx - gx) < 0.28 * s * np.sqrt(weights["pelvis"])
            label[near & piece & (d > 0.15)] = names.index("pelvis") + 1
    cortex = label == names.index("cortex") + 1
    n_glom = int(cortex.sum() / 90 * weights["glomeruli"])
    spots = gaussian_spots(tissue.shape, random_points_in(rng, cortex & (d > 0.03), n_glom),
                           np.full(n_glom, max(0.6, 0.008 * s)))
    label[(spots > 0.5) & cortex] = names.index("glomeruli") + 1
    return label


def _tumour_family(rng: np.random.Generator, tissue: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    names = list(FAMILY_REGIONS["tumour"])
    s = min(tissue.shape)
    scores = {"healthy": smooth_field(rng, tissue.shape, 0.1 * s),
              "stroma": smooth_field(rng, tissue.shape, 0.08 * s) + 0.2,
              "fat": smooth_field(rng, tissue.shape, 0.12 * s) - 0.5}
    return _assign(tissue, scores, names, weights)


def _seed(rng: np.random.Generator, tissue: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    names = list(FAMILY_REGIONS["seed"])
    d = normalised_depth(tissue) + 0.02 * smooth_field(rng, tissue.shape, 0.05 * min(tissue.shape))
    coat = 0.07 * np.sqrt(weights["seed_coat"])
    label = _assign(tissue, {"seed_coat": _layered(d, coat / 2, coat / 2),
                             "aleurone": _layered(d, coat + 0.05, 0.05),
                             "endosperm": _layered(d, 0.65, 0.45)}, names, weights)
    yy, xx = np.mgrid[0:tissue.shape[0], 0:tissue.shape[1]]
    for piece in _pieces(tissue):  # the embryo sits at one pole of each grain's long axis
        pts = np.argwhere(piece).astype(np.float64)
        centre = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - centre, full_matrices=False)
        proj = (pts - centre) @ vt[0]
        pole = centre + vt[0] * (proj.max() if rng.random() < 0.5 else proj.min()) * 0.92
        length = max(proj.max() - proj.min(), 1.0)
        dist = np.hypot(yy - pole[0], xx - pole[1]) + 0.02 * length * smooth_field(rng, tissue.shape, 0.05 * length)
        r_emb = rng.uniform(0.16, 0.24) * length * np.sqrt(weights["embryo"])
        r_scu = r_emb + 0.05 * length * np.sqrt(weights["scutellum"])
        label[(dist < r_scu) & piece & (d > coat)] = names.index("scutellum") + 1
        label[(dist < r_emb) & piece & (d > coat)] = names.index("embryo") + 1
    return label


def _pieces(tissue: np.ndarray) -> list[np.ndarray]:
    """The connected tissue pieces (bool masks), largest first."""
    lab, n = ndimage.label(tissue)
    sizes = np.bincount(lab.ravel())[1:]
    return [lab == k + 1 for k in np.argsort(-sizes)]


_LAYOUTS = {"brain": _brain, "kidney": _kidney, "tumour": _tumour_family, "seed": _seed}


# ----------------------------------------------------------------------------- tumour and damage

def _add_tumour(rng: np.random.Generator, label: np.ndarray, tissue: np.ndarray, names: list[str],
                fraction: float, multifocal: bool) -> None:
    """Carve tumour (and, in the tumour family, necrosis and stromal strands) into ``label``."""
    s = min(tissue.shape)
    fine = smooth_field(rng, tissue.shape, 0.02 * s + 0.4)
    if multifocal:
        field = 0.8 * smooth_field(rng, tissue.shape, 0.12 * s) + 0.3 * fine
    else:
        deep = normalised_depth(tissue) > 0.3
        cy, cx = random_points_in(rng, deep if deep.any() else tissue, 1)[0]
        yy, xx = np.mgrid[0:tissue.shape[0], 0:tissue.shape[1]]
        field = -np.hypot(yy - cy, xx - cx) / s + 0.08 * fine + 0.04 * smooth_field(rng, tissue.shape, 0.06 * s)
    thr = np.quantile(field[tissue], 1.0 - fraction)
    tumour = tissue & (field > thr)
    label[tumour] = names.index("tumour") + 1
    if "necrosis" in names:
        inner = ndimage.distance_transform_edt(tumour)
        core = tumour & (inner > 0.45 * inner.max()) & (smooth_field(rng, tissue.shape, 0.05 * s) > -0.2)
        label[core] = names.index("necrosis") + 1
        strands = tumour & ~core & (smooth_field(rng, tissue.shape, 0.015 * s + 0.4) > 1.3)
        label[strands] = names.index("stroma") + 1


def _damage(rng: np.random.Generator, tissue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Holes, tears and folded edges; returns (tissue, thickness)."""
    tissue = tissue.copy()
    h, w = tissue.shape
    s = min(h, w)
    n_holes = rng.poisson(0.7)
    if n_holes:
        spots = gaussian_spots(tissue.shape, random_points_in(rng, tissue, n_holes),
                               rng.uniform(0.008, 0.03, n_holes) * s + 0.5)
        tissue &= spots < 0.5
    if rng.random() < 0.3:
        start = random_points_in(rng, tissue & (normalised_depth(tissue) < 0.1), 1)
        if len(start):
            length = rng.uniform(0.2, 0.6) * s
            t = np.linspace(0, 1, int(4 * length) + 2)
            ang = rng.uniform(0, 2 * np.pi)
            wiggle = 0.06 * length * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 6))
            py = start[0, 0] + t * length * np.sin(ang) + wiggle * np.cos(ang)
            px = start[0, 1] + t * length * np.cos(ang) - wiggle * np.sin(ang)
            keep = (py >= 0) & (py < h - 0.5) & (px >= 0) & (px < w - 0.5)
            crack = np.zeros_like(tissue)
            crack[np.round(py[keep]).astype(int), np.round(px[keep]).astype(int)] = True
            if s > 150:
                crack = ndimage.binary_dilation(crack)
            tissue &= ~crack
    thickness = tissue.astype(np.float32)
    if rng.random() < 0.25:
        edge_pt = random_points_in(rng, tissue & (normalised_depth(tissue) < 0.05), 1)
        if len(edge_pt):
            yy, xx = np.mgrid[0:h, 0:w]
            fold = tissue & (np.hypot(yy - edge_pt[0, 0], xx - edge_pt[0, 1]) < rng.uniform(0.1, 0.25) * s)
            thickness[fold] = rng.uniform(1.6, 2.2)
    return tissue, thickness
