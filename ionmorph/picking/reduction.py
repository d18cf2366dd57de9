"""Channel reduction: keep the C most informative ion images of an MSI cube (SPEC 1, 8).

``reduce`` extracts the candidates' ion images once, scores every candidate with the chosen
method and keeps the top ``n_channels``, ordered by m/z so that neighbouring channels stay
neighbours along the m/z axis of a 3D CNN:

- ``"ionmorphnet"``: IonMorphNet's probability of the classes in ``informative`` (default: the
  peak-picking classes of SPEC 5; :data:`TISSUE_INFORMATIVE` leaves out the off-sample
  ``negative`` class, which measured worse for tumour patches: ``benchmarks/results/tumor.md``);
- ``"intensity"``: top mean intensity over the measured pixels;
- ``"random"``: a seeded random choice (the floor);
- ``"all"``: every candidate (no reduction).

Redundancy: isotopes and adducts of one molecule give near-identical ion images. Going down the
ranking, a candidate whose image correlates above ``max_similarity`` (Pearson, measured pixels)
with a channel already kept is passed over (:func:`image_similarity`, :func:`select_channels`);
passed-over candidates fill up only when too few others remain.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .baselines import mean_intensity, random_scores, rank
from ..errors import InputError
from ..fileio import atomic_path, check_output
from ..labels import DEFAULT_INFORMATIVE
from .pick import DEFAULT_MODEL

METHODS = ("ionmorphnet", "random", "intensity", "all")
#: Structure on the tissue only (no off-sample ``negative``): an alternative ``informative`` set.
TISSUE_INFORMATIVE: tuple[str, ...] = ("structured", "localized", "fragmented")
#: Default similarity above which a candidate counts as a duplicate of a kept channel.
MAX_SIMILARITY = 0.9


@dataclass
class ReducedCube:
    """A reduced MSI cube.

    Attributes
    ----------
    cube : numpy.ndarray
        float32 (C, H, W) ion images; unmeasured pixels are 0.
    mz : numpy.ndarray
        float64 (C,) m/z of the channels, ascending.
    mask : numpy.ndarray
        bool (H, W), True where a pixel has a spectrum.
    scores : numpy.ndarray
        float64 (C,) the selection score of each kept channel.
    method : str
        The selection method.
    source : str or None
        The imzML file the cube was read from.
    ppm : float or None
        Ion-image half-width used (None for a stack input).
    origin : (int, int) or None
        imzML (x, y) of raster position (row 0, column 0): x = column + origin[0], y = row + origin[1].
    pixel_size_um : (float, float) or None
        Pixel size declared by the file.
    """

    cube: np.ndarray
    mz: np.ndarray
    mask: np.ndarray
    scores: np.ndarray
    method: str
    source: str | None = None
    ppm: float | None = None
    origin: tuple[int, int] | None = None
    pixel_size_um: tuple[float, float] | None = None

    def __repr__(self) -> str:
        where = f", source={Path(self.source).name!r}" if self.source else ""
        mz = ", ".join(f"{m:.4f}" for m in self.mz[:3]) + (", ..." if len(self.mz) > 3 else "")
        return (f"ReducedCube({len(self.mz)} channels x {self.mask.shape[0]} x {self.mask.shape[1]} "
                f"({int(self.mask.sum())} measured), m/z [{mz}], method={self.method!r}{where})")

    def _scverse_meta(self) -> dict[str, Any]:
        return {"method": self.method, "source": self.source, "ppm": self.ppm}

    def to_anndata(self, path: str | os.PathLike | None = None, overwrite: bool = False) -> Any:
        """The measured pixels as an AnnData (pixels x ions), written to ``path`` (.h5ad) if given.

        The layout and coordinates of :func:`ionmorph.io.scverse.pixel_table` (the same as
        :meth:`to_spatialdata`'s table): ``X`` float32 (n_pixels, C); ``obsm["spatial"]`` the
        imzML (x, y) of each pixel (x = column + origin x; column, row for an image stack);
        ``obs`` the raster ``row``/``col`` and ``x``/``y``; ``var["mz"]`` the channel m/z and
        ``var["score"]`` the selection score; ``uns["ionmorph"]`` the method, raster shape, origin,
        source file, ppm and pixel size (um; absent entries when unknown).
        """
        from ..io.scverse import pixel_table

        adata = pixel_table(self.cube, self.mask, self.mz, origin=self.origin, pixel_size_um=self.pixel_size_um,
                            var={"score": self.scores}, uns=self._scverse_meta())
        if path is not None:
            path = check_output(path, [self.source], force=overwrite)   # an existing file needs overwrite=True
            with atomic_path(path) as tmp:
                adata.write_h5ad(tmp)
        return adata

    def to_spatialdata(self, path: str | os.PathLike, labels: dict[str, np.ndarray] | None = None,
                       overwrite: bool = False) -> Path:
        """Write the cube as a SpatialData Zarr store (needs ``ionmorph[spatialdata]``); returns the path.

        The channels as the image ``ion_images`` (channel names: m/z), the pixels x ions table of
        :meth:`to_anndata` annotating the labels ``pixels``, and ``labels`` (name -> integer (H, W)
        raster: a tumour map, segments) as further labels elements; coordinates as in
        :mod:`ionmorph.io.scverse`.
        """
        from ..io.scverse import write_spatialdata

        return write_spatialdata(path, self.cube, self.mask, self.mz, origin=self.origin,
                                 pixel_size_um=self.pixel_size_um, var={"score": self.scores},
                                 uns=self._scverse_meta(), labels=labels, inputs=[self.source], overwrite=overwrite)


def channel_scores(images: np.ndarray, mz: np.ndarray, mask: np.ndarray | None, method: str, *,
                   model: Any = DEFAULT_MODEL, seed: int = 0, informative: Sequence[str] = DEFAULT_INFORMATIVE,
                   progress: bool = False) -> np.ndarray:
    """Score every candidate ion image with ``method`` (higher = keep first); float64 (n,)."""
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    if method == "ionmorphnet":
        from .pick import pick_peaks

        result = pick_peaks(images, mz=mz, mask=mask, model=model, informative=informative, progress=progress)
        return np.asarray(result.score, dtype=np.float64)
    if method == "intensity":
        return mean_intensity(images, mask)
    if method == "random":
        return random_scores(images, mask, seed=seed)
    return np.ones(len(images))


def image_similarity(images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlation (n, n) between the ion images over the measured pixels (0 for flat images)."""
    from .ion_groups import unit_rows

    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    if mask is not None:
        x = x[:, np.asarray(mask, dtype=bool).ravel()]
    x = unit_rows(x)
    return x @ x.T


def select_channels(scores: np.ndarray, mz: np.ndarray, n_channels: int | None,
                    similarity: np.ndarray | None = None, max_similarity: float = MAX_SIMILARITY) -> np.ndarray:
    """Indices of the ``n_channels`` best-scored candidates (all when None), in ascending m/z order.

    With a ``similarity`` matrix, candidates too similar to one already kept are passed over
    (module docstring).
    """
    order = rank(scores)
    if n_channels is not None:
        if n_channels < 1:
            raise InputError(f"n_channels must be at least 1, got {n_channels}")
        if similarity is None:
            keep = order[:n_channels]
        else:
            kept: list[int] = []
            for i in order:
                if len(kept) == n_channels:
                    break
                if not kept or np.max(similarity[i, kept]) <= max_similarity:
                    kept.append(int(i))
            taken = set(kept)
            rest = [int(i) for i in order if i not in taken]
            keep = np.asarray(kept + rest[:n_channels - len(kept)], dtype=np.int64)
    else:
        keep = order
    return keep[np.argsort(np.asarray(mz)[keep], kind="stable")]


def reduce(data: Any, n_channels: int | None = 32, method: str = "ionmorphnet", *,
           candidates: Sequence[float] | np.ndarray | None = None, ppm: float | None = None,
           mz: Sequence[float] | np.ndarray | None = None, mask: np.ndarray | None = None,
           model: Any = DEFAULT_MODEL, seed: int = 0, informative: Sequence[str] = DEFAULT_INFORMATIVE,
           max_similarity: float | None = MAX_SIMILARITY, progress: bool = False) -> ReducedCube:
    """Reduce an MSI dataset to its ``n_channels`` most informative ion images.

    Parameters
    ----------
    data : path, ionmorph.io.msi.MSIData or numpy.ndarray
        An imzML file, an opened dataset, or an (n, H, W) ion-image stack (then ``mz`` is required).
    n_channels : int or None
        C, the number of channels kept (None or ``method="all"``: every candidate).
    method : {"ionmorphnet", "random", "intensity", "all"}
        How candidates are scored (module docstring).
    candidates : sequence of float, optional
        Candidate m/z (default: every channel of a peak list, else the mean-spectrum peaks;
        :func:`ionmorph.picking.candidates.find_candidates`). A warning says when ``n_channels`` exceeds them.
    ppm : float, optional
        Ion-image window half-width (default: estimated from the mean spectrum's peak widths, else
        :data:`ionmorph.io.msi.DEFAULT_PPM`; :func:`ionmorph.picking.candidates.find_candidates`).
    mz, mask : optional
        The m/z of each image and the raster mask, for a stack ``data``.
    model : str, path or IonMorphNet
        The IonMorphNet used by ``method="ionmorphnet"``.
    seed : int
        Seed of ``method="random"``.
    informative : sequence of str
        Classes summed into the ``"ionmorphnet"`` score.
    max_similarity : float or None
        Pass over candidates whose image correlates above this with a kept channel (None: off).

    Returns
    -------
    ReducedCube
    """
    from .pick import warn_budget, warn_small_raster

    images, all_mz, raster, meta = _candidate_images(data, candidates, ppm, mz, mask, progress)
    warn_small_raster(raster, raster.shape, meta.get("source") or "ion-image stack")
    if method != "all":
        warn_budget(n_channels, len(all_mz), "n_channels")
    scores = channel_scores(images, all_mz, raster, method, model=model, seed=seed, informative=informative,
                            progress=progress)
    n = None if method == "all" else n_channels
    if max_similarity is None or n is None:
        keep = select_channels(scores, all_mz, n)
    else:
        keep = select_channels(scores, all_mz, n, image_similarity(images, raster), max_similarity)
    return ReducedCube(cube=images[keep], mz=all_mz[keep], mask=raster, scores=scores[keep], method=method, **meta)


def _candidate_images(data: Any, candidates: Sequence[float] | np.ndarray | None, ppm: float | None,
                      mz: Sequence[float] | np.ndarray | None, mask: np.ndarray | None,
                      progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(images (n, H, W) float32, m/z (n,), mask (H, W), ReducedCube metadata) of the candidates of ``data``."""
    if isinstance(data, np.ndarray):
        if data.ndim != 3:
            raise InputError(f"an ion-image stack must be (n, H, W), got shape {data.shape}")
        if mz is None or len(mz) != len(data):
            raise InputError("a stack needs mz= with one m/z per image")
        raster = np.ones(data.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if raster.shape != data.shape[1:]:
            raise InputError(f"mask shape {raster.shape} does not match the stack's raster {data.shape[1:]}")
        return np.asarray(data, dtype=np.float32), np.asarray(mz, dtype=np.float64), raster, {}
    from .candidates import find_candidates
    from ..io.metadata import read_acquisition_info
    from ..io.msi import open_msi

    msi = open_msi(data) if isinstance(data, (str, os.PathLike)) else data
    found = find_candidates(msi, candidates, ppm)
    if len(found) == 0:
        raise InputError(f"{msi.path}: no candidate m/z to reduce")
    images = msi.ion_images(found.mz, ppm=found.ppm, progress=progress)
    origin = tuple(int(v) for v in msi.xy.min(axis=0))
    meta = {"source": str(msi.path), "ppm": found.ppm, "origin": origin,
            "pixel_size_um": read_acquisition_info(msi.path).pixel_size_um}
    return images, found.mz, msi.mask, meta
