"""One simulated MSI section with its ground truth: :func:`simulate_section`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..labels import LabelRow
from .anatomy import ANATOMY_GROUPS, TUMOUR_REGIONS, Anatomy, make_anatomy
from .fields import cell_walls, smooth_field
from .instruments import Instrument, get_instrument
from .ions import Ion, IonPanel, make_panel
from .looks import apparent_class, clarity, detection_probability, judged_view, resolved
from .patterns import NOISE_STYLES, pattern_map

#: The ``databases`` entry of simulated label rows.
SYNTH_DATABASE = "ionmorph_synth"


@dataclass
class SimulatedSection:
    """A simulated section: geometry, ion table, expected counts, and writers.

    Attributes
    ----------
    seed, family : int, str
    instrument : Instrument
    panel : IonPanel
        The ion table (``ions`` is ``panel.ions``).
    regions : int16 (H, W)
        Region id per pixel (0 = off-sample), indexing ``region_names``.
    region_names : list of str
    tissue, mask : bool (H, W)
        Tissue pixels; measured pixels (False = no spectrum).
    abundance : float32 (n_ions, H, W)
        Expected detected counts per pixel (biology, section scaling, ion suppression, blur;
        without hotspots and noise).
    drift_ppm : float32 (H, W)
        Mass-calibration error per pixel in ppm (global offset included).
    looks : tuple of str
        Per ion, the class its image looks like ("" when another peak overlaps its window).
    clarity : tuple of float
        Per ion, how clearly its image shows its pattern (:func:`ionmorph.synth.looks.clarity`, 0-1).
    tumour_mode : bool
        True when the annotation is background/healthy/tumour.
    """

    seed: int
    family: str
    instrument: Instrument
    panel: IonPanel
    regions: np.ndarray
    region_names: list[str]
    tissue: np.ndarray
    mask: np.ndarray
    abundance: np.ndarray
    drift_ppm: np.ndarray
    looks: tuple[str, ...]
    tumour_mode: bool
    clarity: tuple[float, ...] = ()

    @property
    def ions(self) -> tuple[Ion, ...]:
        """The ion table (see :class:`ionmorph.synth.ions.Ion`)."""
        return self.panel.ions

    @property
    def shape(self) -> tuple[int, int]:
        """Raster (H, W)."""
        return tuple(self.mask.shape)

    @property
    def ppm(self) -> float:
        """Typical ion-image half-width of the instrument (ppm)."""
        return self.instrument.ppm

    def annotation(self) -> np.ndarray:
        """Integer segmentation mask (H, W).

        Tumour mode: 0 background, 1 healthy tissue, 2 tumour (necrosis included). Otherwise 0
        background and one class per anatomical group of the family.
        """
        groups = (TUMOUR_REGIONS,) if self.tumour_mode else ANATOMY_GROUPS[self.family][1:]
        out = self.tissue.astype(np.int64)
        for g, names in enumerate(groups, start=2):
            ids = [i for i, n in enumerate(self.region_names) if n in names]
            out[np.isin(self.regions, ids) & self.tissue] = g
        return out

    def labelled(self) -> np.ndarray:
        """Indices of the ions whose images carry a label (no overlapping peak)."""
        return np.asarray([i for i, lab in enumerate(self.looks) if lab], dtype=np.int64)

    def label_rows(self, filename: str) -> list[LabelRow]:
        """Label rows (published format) of the labelled ions, as their images look."""
        return [LabelRow(filename=filename, mz=float(self.ions[i].mz), label=self.looks[i],
                         databases=(SYNTH_DATABASE,),
                         clarity=float(self.clarity[i]) if self.clarity else float("nan"))
                for i in self.labelled()]

    def write_imzml(self, path: str | os.PathLike, mode: str | None = None, progress: bool = False) -> Path:
        """Write the section as imzML + ibd (see :func:`ionmorph.synth.spectra.write_imzml`)."""
        from .spectra import write_imzml

        return write_imzml(self, path, mode=mode or self.instrument.default_mode, progress=progress)

    def write_public(self, group_dir: str | os.PathLike, name: str, mode: str | None = None) -> Path:
        """Public evaluation layout: ``<group>/<name>.imzML`` and ``<group>/masks/<name>_mask.npy``."""
        from ..fileio import atomic_path

        group = Path(group_dir)
        path = self.write_imzml(group / f"{name}.imzML", mode=mode)
        mask_path = group / "masks" / f"{name}_mask.npy"
        with atomic_path(mask_path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, self.annotation().astype(np.int32))
        return path


#: Range of the per-section pixel-to-pixel (shot-to-shot) signal variation shared by the ions of a
#: pixel, log-normal sigma drawn log-uniformly (TIC normalisation exists in MSI because this is large;
#: matrix "sweet spots" make it reach a CV of about 1 on some preparations).
PIXEL_CV_RANGE = (0.15, 0.85)
#: Range of the ion-specific pixel-to-pixel yield variation, log-normal sigma drawn log-uniformly per
#: ion (:func:`_ion_yield`): most ions follow their pixel's yield, some (suppressed, low-abundance)
#: scatter far more; dense real images of such ions look speckled at the model's view.
ION_YIELD_CV_RANGE = (0.03, 0.7)
#: Range of the drawn section sensitivity (``intensity_scale``), log-uniform.
SENSITIVITY_RANGE = (0.05, 2.0)


def _shape(rng: np.random.Generator, family: str, shape) -> tuple[int, int]:
    if shape is None:
        side = int(rng.integers(60, 140))
        aspect = rng.uniform(0.5, 0.75) if family == "seed" else rng.uniform(0.75, 1.3)
        return side, max(16, int(round(side / aspect)))
    shape = tuple(int(v) for v in shape)
    if len(shape) != 2 or min(shape) < 16 or max(shape) > 2000:
        raise InputError(f"shape must be (H, W) with 16 <= H, W <= 2000, got {shape}")
    return shape


#: Cell size range (um, log-uniform) and the share of sections whose cells the pixels resolve
#: (cells at least :data:`MIN_CELL_PX` pixels across): plant cells and cell layers in ToF-SIMS and
#: fine-raster MALDI images show a cell pattern (poplar wood fibres, seed endosperm cells).
CELL_UM_RANGE = (10.0, 120.0)
CELLULAR_SHARE = 0.5
MIN_CELL_PX = 3.0
#: Largest cell drawn, in pixels (a few cells across even the smallest raster).
MAX_CELL_PX = 20.0


def _cells(seed: int, shape: tuple[int, int], inst: Instrument) -> np.ndarray | None:
    """The section's cell-wall map, or None when its cells are not resolved (own RNG stream)."""
    rng = np.random.default_rng([int(seed), 0xCE11])
    diameter = float(np.exp(rng.uniform(*np.log(CELL_UM_RANGE)))) / inst.pixel_um
    if diameter < MIN_CELL_PX or rng.random() >= CELLULAR_SHARE:
        return None
    return cell_walls(rng, shape, min(diameter, MAX_CELL_PX))


#: Share of sections (outside tumour mode) acquired as a field of view *inside* the tissue, so that
#: tissue fills the whole raster and no outline shows: ToF-SIMS and fine-raster MALDI often image a
#: region within a larger sample (wood, seed, organ), as do regions of interest drawn on tissue.
INSIDE_SHARE = {"tof_sims": 0.5}
INSIDE_SHARE_DEFAULT = 0.2
#: How much larger than the field of view the whole section is (linear, uniform).
INSIDE_ZOOM = (1.6, 3.0)
#: Longest side (pixels) of the whole section a field of view is cut from.
INSIDE_MAX_SIDE = 720


def _inside_zoom(seed: int, inst: Instrument) -> float:
    """The zoom of a field of view inside the tissue (1.0: the raster holds the whole section).

    Drawn from its own RNG stream, so that sections that are not fields of view stay as they were.
    """
    rng = np.random.default_rng([int(seed), 0xF0F])
    if rng.random() >= INSIDE_SHARE.get(inst.name, INSIDE_SHARE_DEFAULT):
        return 1.0
    return float(rng.uniform(*INSIDE_ZOOM))


def _inside_window(rng: np.random.Generator, tissue: np.ndarray, shape: tuple[int, int]) -> tuple[slice, slice]:
    """An (H, W) window of ``tissue`` (a larger raster) that lies on the tissue: a random one of those
    at least 98 % tissue, else the one with the most tissue."""
    h, w = shape
    cover = ndimage.uniform_filter(tissue.astype(np.float32), size=(h, w), mode="constant")
    r0, c0 = h // 2, w // 2
    cover = cover[r0:tissue.shape[0] - (h - 1 - r0), c0:tissue.shape[1] - (w - 1 - c0)]
    ok = np.flatnonzero(cover.ravel() >= 0.98)
    pick = int(rng.choice(ok)) if ok.size else int(np.argmax(cover))
    top, left = np.unravel_index(pick, cover.shape)
    return slice(top, top + h), slice(left, left + w)


def _inside_anatomy(rng: np.random.Generator, family: str, shape: tuple[int, int], zoom: float,
                    tumour_fraction: float, composition: Mapping[str, float] | None) -> Anatomy:
    """A field of view inside the tissue: a section ``zoom`` times larger, cut to an (H, W) window on it.

    Where the tissue is too narrow for the window (an elongated seed), the section is drawn larger
    again (up to twice, within :data:`INSIDE_MAX_SIDE`).
    """
    for _ in range(3):
        zoom = min(zoom, INSIDE_MAX_SIDE / max(shape))
        big = (max(shape[0], int(round(shape[0] * zoom))), max(shape[1], int(round(shape[1] * zoom))))
        anat = make_anatomy(rng, family, big, tumour_fraction, composition)
        box = _inside_window(rng, anat.tissue, shape)
        if anat.tissue[box].mean() >= 0.9:
            break
        zoom *= 1.4
    return Anatomy(anat.regions[box], anat.region_names, anat.tissue[box], anat.thickness[box])


def _hand_drawn(rng: np.random.Generator, tissue: np.ndarray) -> np.ndarray:
    """A hand-drawn measurement region: a wobbly polygon around the tissue, sometimes cutting into it."""
    from matplotlib.path import Path as Polygon

    h, w = tissue.shape
    pts = np.argwhere(tissue).astype(np.float64)
    if len(pts) < 3:
        return np.ones_like(tissue)
    cy, cx = pts.mean(axis=0)
    n = int(rng.integers(8, 20))
    theta = np.sort(rng.uniform(0, 2 * np.pi, n))
    ang = np.arctan2(pts[:, 0] - cy, pts[:, 1] - cx)
    dist = np.hypot(pts[:, 0] - cy, pts[:, 1] - cx)
    bins = np.clip(np.searchsorted(theta, np.mod(ang, 2 * np.pi)), 0, n - 1)
    reach = np.array([dist[bins == b].max() if np.any(bins == b) else dist.mean() for b in range(n)])
    radius = reach * rng.uniform(0.9, 1.15, n) + rng.uniform(1.0, 0.08 * min(h, w) + 2.0)
    verts = np.stack([cx + radius * np.cos(theta), cy + radius * np.sin(theta)], axis=1)
    yy, xx = np.mgrid[0:h, 0:w]
    inside = Polygon(verts).contains_points(np.stack([xx.ravel(), yy.ravel()], axis=1))
    return inside.reshape(h, w)


def _measured(rng: np.random.Generator, tissue: np.ndarray, inst: Instrument, roi: bool) -> np.ndarray:
    """Measured pixels: the whole raster or a region of interest around the tissue, minus dropouts.

    A region of interest is the tissue with a margin, or (half of them) a hand-drawn polygon.
    """
    s = min(tissue.shape)
    mask = np.ones_like(tissue)
    if roi and rng.random() < 0.5:
        mask = _hand_drawn(rng, tissue)
    elif roi:
        margin = int(rng.integers(1, max(3, int(0.1 * s))))
        mask = ndimage.binary_dilation(tissue, iterations=margin)
    mask &= rng.random(tissue.shape) >= inst.missing_rate
    if rng.random() < 0.15:
        r = int(rng.integers(tissue.shape[0]))
        c0 = int(rng.integers(tissue.shape[1]))
        mask[r, c0:c0 + int(rng.integers(3, max(4, tissue.shape[1] // 2)))] = False
    return mask


def _substrate(rng: np.random.Generator, tissue: np.ndarray, thickness: np.ndarray,
               inst: Instrument) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel signal factors: (substrate, shot).

    ``substrate`` varies over the sample and is blurred with the analyte: suppression, a
    slide-wide gradient and thickness on tissue, matrix crystals off it. ``shot`` is the
    shot-to-shot variation of the ion yield (laser energy, the crystals hit), a log-normal factor of
    each measured pixel shared by its ions: it arises at acquisition, after the spatial sampling, so
    it is not blurred.
    """
    shape, s = tissue.shape, min(tissue.shape)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] / s
    ang = rng.uniform(0, 2 * np.pi)
    ramp = rng.normal(0, 0.15) * (np.cos(ang) * yy + np.sin(ang) * xx)  # coating / acquisition-time gradient
    pixel_cv = float(np.exp(rng.uniform(*np.log(PIXEL_CV_RANGE))))
    shot = np.where(tissue, np.exp(pixel_cv * rng.standard_normal(shape) - 0.5 * pixel_cv**2), 1.0)
    tic = np.exp(inst.tic_cv * smooth_field(rng, shape, 0.05 * s + 0.5) + ramp)
    spread = 0.35 if inst.matrix else 0.15
    matrix = np.exp(spread * ndimage.gaussian_filter(rng.standard_normal(shape), 0.7) / 0.4
                    + 0.25 * smooth_field(rng, shape, 0.2 * s + 0.5))
    return np.where(tissue, thickness * tic, matrix), shot


def _ion_yield(ion: Ion, shape: tuple[int, int], seed: int) -> np.ndarray:
    """The ion's own pixel-to-pixel yield variation (log-normal, mean 1): ion suppression differs
    between analytes from pixel to pixel, so ions of a pixel do not vary in lockstep. Its sigma is an
    ion property (drawn from the ion seed in :data:`ION_YIELD_CV_RANGE`); the draw is per section."""
    sigma = float(np.exp(np.random.default_rng([ion.seed, 3]).uniform(*np.log(ION_YIELD_CV_RANGE))))
    z = np.random.default_rng([int(seed), ion.seed, 3]).standard_normal(shape)
    return np.exp(sigma * z - 0.5 * sigma**2)


def _row_factor(rng: np.random.Generator, shape: tuple[int, int], inst: Instrument) -> np.ndarray:
    """Row-wise scan drift (DESI sprayer instability; small for MALDI), (H, 1) or (H, W)."""
    h, w = shape
    walk = np.cumsum(rng.normal(0, inst.row_cv / 2, h))
    walk = 0.6 * (walk - walk.mean()) + rng.normal(0, inst.row_cv, h)
    rows = np.exp(walk)[:, None]
    if inst.scan_smear_px > 0:  # within-row sprayer fluctuations
        rows = rows * np.exp(ndimage.gaussian_filter1d(rng.normal(0, inst.row_cv, shape), 3.0, axis=1))
    return rows


def _look(ion: Ion, expected: np.ndarray, inst: Instrument, tissue: np.ndarray, mask: np.ndarray) -> str:
    """The class an ion's image looks like, judged on its noise-free expected counts."""
    return apparent_class(ion.cls, ion.style, expected, detection_probability(expected, inst.threshold), tissue, mask)


def simulate_section(seed: int, family: str = "brain", instrument: str = "maldi_tof", shape=None,
                     n_ions: int = 300, panel: IonPanel | None = None, intensity_scale: float | None = None,
                     mz_shift_ppm: float = 0.0, tumour_fraction: float | None = None,
                     composition: Mapping[str, float] | None = None, roi: bool | None = None,
                     inside: float | None = None) -> SimulatedSection:
    """Simulate one MSI section with known truth.

    Parameters
    ----------
    seed : int
        Everything (geometry, panel when not given, patterns) is deterministic from it.
    family : str
        Tissue family (:data:`ionmorph.synth.FAMILIES`).
    instrument : str
        Instrument preset (:data:`ionmorph.synth.INSTRUMENTS`, or ``maldi_fticr``).
    shape : (H, W), optional
        Raster size (default: drawn, 60-140 pixels high).
    n_ions : int
        Number of peaks of the panel drawn when ``panel`` is None.
    panel : IonPanel, optional
        Shared chemistry (e.g. one panel for all patients of a cohort); its family must match.
    intensity_scale : float, optional
        Section-level factor on all expected counts (sensitivity: ionisation, matrix coverage,
        acquisition time). Default: drawn log-uniformly in :data:`SENSITIVITY_RANGE`, so that
        simulated sections cover the sparsity of real ones (median zero fraction of the ion
        images from about 0.05 to 0.97 between real datasets).
    mz_shift_ppm : float
        Global mass-calibration offset in ppm.
    tumour_fraction : float, optional
        Tumour share of the tissue; given (even 0) switches the annotation to
        background/healthy/tumour. Default: drawn in 0.2-0.55 for the tumour family, else 0.
    composition : mapping, optional
        Relative weights of the family's region types.
    roi : bool, optional
        Acquire only a region of interest around the tissue (as many real datasets do): the
        section is then cropped to the bounding box of the measured pixels, as a reader would.
        Default: drawn (35 %) when ``shape`` is None, else False (the raster is ``shape``).
    inside : float, optional
        Acquire a field of view inside the tissue: the section is drawn ``inside`` times larger
        (linear) and the raster is a window of it that lies on the tissue, so no outline shows (1 =
        the whole section). Default: drawn (:data:`INSIDE_SHARE`, zoom in :data:`INSIDE_ZOOM`)
        outside tumour mode, else 1. A field of view has no region of interest.
    """
    inst = get_instrument(instrument)
    if intensity_scale is not None and not intensity_scale > 0:
        raise InputError(f"intensity_scale must be positive, got {intensity_scale}")
    if panel is None:
        panel = make_panel(seed, family, n_ions, mz_range=inst.mz_range)
    elif panel.family != family:
        raise InputError(f"the panel is for family {panel.family!r}, not {family!r}")
    rng = np.random.default_rng([int(seed), 0xA11])
    if intensity_scale is None:
        intensity_scale = float(np.exp(rng.uniform(*np.log(SENSITIVITY_RANGE))))
    shape_given, shape = shape, _shape(rng, family, shape)
    tumour_mode = family == "tumour" or tumour_fraction is not None
    if tumour_fraction is None:
        tumour_fraction = float(rng.uniform(0.2, 0.55)) if family == "tumour" else 0.0
    roi = bool(rng.random() < 0.35) if roi is None and shape_given is None else bool(roi)
    if inside is None:
        inside = 1.0 if tumour_mode else _inside_zoom(seed, inst)
    if not inside >= 1.0:
        raise InputError(f"inside must be at least 1 (the zoom of a field of view), got {inside}")
    if inside > 1.0:
        anat = _inside_anatomy(rng, family, shape, float(inside), tumour_fraction, composition)
        roi = False
    else:
        anat = make_anatomy(rng, family, shape, tumour_fraction, composition)
    mask = _measured(rng, anat.tissue, inst, roi)
    if roi:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        mask = mask[box]
        anat = Anatomy(anat.regions[box], anat.region_names, anat.tissue[box], anat.thickness[box])
        shape = mask.shape
    substrate, shot = _substrate(rng, anat.tissue, anat.thickness, inst)
    rows = _row_factor(rng, shape, inst)
    s = min(shape)
    drift = (mz_shift_ppm + inst.calib_drift_ppm * (0.8 * smooth_field(rng, shape, 0.25 * s + 1)
                                                     + 0.4 * np.linspace(-1, 1, shape[1])[None, :] * rng.normal()))
    blur = (inst.blur_px, inst.blur_px + inst.scan_smear_px)
    scale = intensity_scale * inst.counts_per_unit
    walls = _cells(seed, shape, inst)
    maps: dict[int, np.ndarray] = {}   # noise-free expected counts per molecular ion (the labels' view)
    yields: dict[int, np.ndarray] = {}  # its per-pixel yield factors (shot-to-shot, ion-specific)
    abundance = np.empty((len(panel), *shape), dtype=np.float32)
    for i, ion in enumerate(panel):
        if ion.parent not in maps:
            parent = panel[ion.parent]
            level = pattern_map(parent, anat, np.random.default_rng([int(seed), parent.seed]), walls)
            if parent.style not in NOISE_STYLES:
                level = ndimage.gaussian_filter(level * substrate, blur)
                yields[ion.parent] = (shot * _ion_yield(parent, shape, seed)).astype(np.float32)
            maps[ion.parent] = (level * rows * parent.base * scale).astype(np.float32)
        abundance[i] = maps[ion.parent] * ion.rel * yields.get(ion.parent, 1.0)
    det_ok = resolved(panel, abundance[:, mask].sum(axis=1), inst)
    noise_rng = np.random.default_rng([int(seed), 0xC1A])
    seen = {False: judged_view(mask, anat.tissue), True: judged_view(mask)}  # an off-sample ion shows off the tissue
    looks, clear = [], []
    for i, ion in enumerate(panel):
        expected = maps[ion.parent] * ion.rel  # noise-free: what the labels are judged on
        look = _look(ion, expected, inst, anat.tissue, mask) if det_ok[i] else ""
        looks.append(look)
        clear.append(clarity(expected, mask, inst.threshold, inst.gain_cv, noise_rng, yields.get(ion.parent),
                             seen=seen[look == "negative"]) if look else 0.0)
    return SimulatedSection(seed=int(seed), family=family, instrument=inst, panel=panel, regions=anat.regions,
                            region_names=anat.region_names, tissue=anat.tissue, mask=mask, abundance=abundance,
                            drift_ppm=drift.astype(np.float32), looks=tuple(looks), tumour_mode=tumour_mode,
                            clarity=tuple(clear))
