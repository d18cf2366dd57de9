"""Peak picking with IonMorphNet (SPEC 5): classify every candidate's ion image, rank by informativeness.

Each candidate m/z's ion image is preprocessed (:func:`ionmorph.models.preprocessing.preprocess`, with the
model's own settings) and classified once. Its **score** is, by default (``score="learned"``,
:data:`DEFAULT_SCORE`), the prediction of the weights' ranking head
(:mod:`ionmorph.models.ranking_head`): from the class probabilities and statistics of the image at
native resolution (:mod:`ionmorph.picking.ranking`: coherence at three scales, sparsity, hotspot
share, coverage, brightness within the section), the correlation the image is expected to have with
the section's main tissue segments, the quantity mSCF1 thresholds (SPEC 6). The head is trained on
simulated sections only (:mod:`ionmorph.training.ranking_head`); weights without one fall back to
``"views_clarity"`` with a warning. The other scores:

- ``"classes"``: SPEC 5's sum of the probabilities of the informative classes (default
  ``structured + localized + negative``) of the full frame, as the published protocol scores it;
- ``"views"``: that sum averaged over the full frame and four corner crops
  (:mod:`ionmorph.models.views`; five times the inference): the crops enlarge the tissue so that
  speckle shows, and change how the tissue fills the frame;
- ``"clarity"`` and ``"views_clarity"``: ``"classes"`` or ``"views"`` weighted by the image's
  spatial coherence at native resolution (:func:`ionmorph.picking.ranking.coherence`: Moran's I of
  the hotspot-clipped image, floored at 0); on simulated sections the coherence follows the
  simulator's clarity with Spearman 0.79-0.91;
- a classic baseline of :data:`ionmorph.picking.baselines.BASELINE_SCORES` (needs ``k``).

``benchmarks/results/realdata.md`` compares them on real sections. Probabilities and labels are always those of the full
frame. The picked set is

- the ``k`` best scores when ``k`` is given (among those reaching ``threshold`` if both are given);
- every candidate with ``score >= threshold`` when only ``threshold`` is given;
- every candidate with ``score >= DEFAULT_THRESHOLD`` (0.5: more informative than not) when
  neither is given.

With ``group_isotopes=True`` (the default) isotopes and adducts of one ion
(:mod:`ionmorph.picking.ion_groups`: a known m/z shift and matching ion images) form a group, and only the
best-scoring member of a group can be picked; scores and ranks are unchanged. With ``redundancy=r``
a candidate whose ion image correlates at least ``r`` with one already picked (Pearson r of
thumbnails, :func:`ionmorph.picking.ion_groups.thumbnails`) is skipped: near-identical images (in-source
fragments, co-localised species of one lipid class) take one pick between them.

File sources: the candidates are :func:`ionmorph.picking.candidates.find_candidates` (every channel of a
peak list, else mean-spectrum peaks, or the user's list with its extra columns); the ion-image
half-width is ``ppm`` when given, else estimated from the mean spectrum's peak widths (recorded in
``PickResult.ppm`` and ``ppm_source``).

Candidate ion images are extracted in blocks of at most :data:`BLOCK_BYTES` (one streaming pass
over the file per block), so memory stays bounded for thousands of candidates on large rasters.
They are scored on a **working raster** of at most ``working_side`` pixels per side
(:data:`WORKING_SIDE`, the largest raster side of the simulated training sections): a larger
raster is binned inside the streaming pass (:mod:`ionmorph.io.binning`, each cell the mean of its
measured pixels), so that its images look like those the network and the ranking head were trained
on and a million-pixel section costs about what a 300 x 300 one does. The model sees 64 px anyway;
the native-resolution statistics of ``learned`` are then taken on the working raster. Exports and
:meth:`PickResult.images` stay at full resolution.
"""
from __future__ import annotations

import csv
import io
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..fileio import atomic_write_text, check_output, csv_columns
from ..labels import DEFAULT_INFORMATIVE
from .baselines import BASELINE_SCORES
from .ranking import IMAGE_STATISTICS, coherence, head_inputs, image_statistics

#: Ways to turn class probabilities into the informative score (module docstring).
SCORES: tuple[str, ...] = ("learned", "classes", "views", "clarity", "views_clarity")
#: Scores weighted by :func:`coherence`.
COHERENCE_SCORES: tuple[str, ...] = ("clarity", "views_clarity")
#: Scores averaged over the views of :mod:`ionmorph.models.views`.
VIEW_SCORES: tuple[str, ...] = ("views", "views_clarity")
#: Side (cells) of the thumbnails compared by the ``redundancy`` rule.
REDUNDANCY_THUMBNAIL = 32
#: The score of the weights' ranking head (:mod:`ionmorph.models.ranking_head`).
HEAD_SCORE = "learned"
#: What ``score="learned"`` falls back to for weights without a ranking head.
HEADLESS_SCORE = "views_clarity"
#: The informative score used unless ``score=`` says otherwise.
DEFAULT_SCORE = "learned"
#: Score cut-off used when neither ``k`` nor ``threshold`` is given.
DEFAULT_THRESHOLD = 0.5
#: Memory budget of one block of raw candidate ion images (float32).
BLOCK_BYTES = 512 * 2**20
#: Largest side (pixels) of the raster the candidates are scored on: that of the simulated training
#: sections (``ionmorph.synth.corpus``, shape range 40-300 px); larger rasters are binned (module docstring).
WORKING_SIDE = 300
DEFAULT_MODEL = "ionmorphnet-convnextv2-tiny"
#: Rasters with fewer measured rows or columns than this are too small to show a morphology.
MIN_RASTER_SIDE = 10
#: Orders of the rows of :meth:`PickResult.to_csv`.
CSV_SORTS: tuple[str, ...] = ("mz", "rank")
#: Columns every table of :meth:`PickResult.to_csv` has (how a rerun recognises its own output).
PICK_TABLE_COLUMNS = frozenset({"mz", "score", "label", "picked", "rank"})


def score_source(scoring: str, informative: Sequence[str]) -> str:
    """What the ``score`` of a pick table was computed from (its ``score_from`` column)."""
    summed = "+".join(f"p_{c}" for c in informative)
    if scoring in BASELINE_SCORES:
        return f"{scoring} of the raw ion image (classic baseline; not from the p_ columns)"
    if scoring == HEAD_SCORE:
        return ("the weights' ranking head: predicted correlation of the image with the section's main tissue "
                "segments, from the full frame's p_ columns and statistics of the image at native resolution")
    if scoring in VIEW_SCORES:
        source = (f"{summed} averaged over the full frame and 4 corner crops; the p_ columns are the full "
                  "frame's, the crops' probabilities are not written")
    else:
        source = f"{summed} of the full frame (the p_ columns)"
    if scoring in COHERENCE_SCORES:
        source = f"({source}) x the image's spatial coherence (Moran's I of the hotspot-clipped image, >= 0)"
    return source


def is_pick_table(path) -> bool:
    """True for a CSV written by :meth:`PickResult.to_csv` (``pick``/``classify`` may replace it)."""
    return PICK_TABLE_COLUMNS <= set(csv_columns(path))


@dataclass
class PickResult:
    """Per-candidate class probabilities, informative score, label and the picked flag.

    Attributes
    ----------
    mz : float64 (n,)
        Candidate m/z values (ascending for file inputs; input order for arrays).
    proba : float32 (n, n_classes)
        Class probabilities, columns in ``classes`` order.
    classes, informative : tuple of str
        Class names, and those summed into ``score``.
    score : float32 (n,)
        Informative score.
    label : str array (n,)
        Most probable class.
    picked : bool (n,)
        Selected candidates.
    k, threshold : int or None, float or None
        The selection rule used.
    model : str
        Which weights produced the result.
    scoring : str
        How ``score`` was computed (one of :data:`SCORES`).
    timings : dict
        Seconds spent ``reading`` (opening, candidate detection), loading the ``model``,
        extracting ``ion_images``, in ``preprocess`` and ``inference``, and the ``total``.
    mask : bool (H, W) or None
        Measured pixels of the raster (for plotting the images), when known.
    ppm : float or None
        Ion-image half-width used (None for an image-stack source).
    ppm_source : str
        ``"given"``, ``"estimated"`` (mean-spectrum peak widths) or ``"default"``.
    group : int64 (n,)
        Ion group of each candidate (isotopes and adducts of one ion share it; :mod:`ionmorph.picking.ion_groups`).
    isotope_of : float64 (n,)
        For an isotope, the m/z of its lightest isotope candidate; NaN otherwise.
    group_isotopes : bool
        Whether at most one candidate per group could be picked.
    redundancy : float or None
        Candidates correlating at least this much with a better picked one were skipped.
    columns : dict of str to array
        Extra per-candidate columns of a user candidate table (e.g. ``formula``, ``adduct``, ``name``).
    candidate_kind : str
        Where the candidates came from: ``"peak list"``, ``"mean-spectrum peaks"``, ``"user list"``
        or ``"image stack"``.
    source : str or None
        The file the candidates were read from.
    norm : str
        Per-pixel normalisation of the ion images (:data:`ionmorph.io.normalisation.NORMS`).
    binning : int
        The raster was scored binned by this factor (1: full resolution; ``working_side`` of
        :func:`pick_peaks`).
    """

    mz: np.ndarray
    proba: np.ndarray
    classes: tuple[str, ...]
    informative: tuple[str, ...]
    score: np.ndarray
    label: np.ndarray
    picked: np.ndarray
    k: int | None
    threshold: float | None
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    scoring: str = "classes"
    _source: Any = field(default=None, repr=False)
    ppm: float | None = None
    mask: np.ndarray | None = field(default=None, repr=False)
    ppm_source: str = "given"
    group: np.ndarray | None = None
    isotope_of: np.ndarray | None = None
    group_isotopes: bool = False
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    candidate_kind: str = "image stack"
    source: str | None = None
    redundancy: float | None = None
    norm: str = "none"
    binning: int = 1
    _norm_factor: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.mz)
        if self.group is None:
            self.group = np.arange(n, dtype=np.int64)
        if self.isotope_of is None:
            self.isotope_of = np.full(n, np.nan)

    def __len__(self) -> int:
        return len(self.mz)

    def __repr__(self) -> str:
        rule = f"k={self.k}" if self.k is not None else ""
        if self.threshold is not None or self.k is None:
            rule += (", " if rule else "") + f"threshold={DEFAULT_THRESHOLD if self.threshold is None else self.threshold:g}"
        if self.redundancy is not None:
            rule += f", redundancy={self.redundancy:g}"
        if self.norm != "none":
            rule += f", norm={self.norm!r}"
        ppm = "n/a" if self.ppm is None else f"{self.ppm:g} ({self.ppm_source})"
        top = ", ".join(f"{m:.4f}" for m in self.picked_mz[:3]) + (", ..." if self.picked.sum() > 3 else "")
        return (f"PickResult({len(self)} candidates ({self.candidate_kind}), {int(self.picked.sum())} picked "
                f"[{top}], {rule}, ppm={ppm}, score={self.scoring!r}, model={self.model!r})")

    @property
    def ranking(self) -> np.ndarray:
        """Candidate indices by descending score (ties keep m/z order)."""
        return np.argsort(-self.score, kind="stable")

    def _ranked(self, picked_only: bool) -> np.ndarray:
        """Candidate indices by descending score; only the picked ones when ``picked_only``."""
        order = self.ranking
        return order[self.picked[order]] if picked_only else order

    @property
    def picked_mz(self) -> np.ndarray:
        """m/z of the picked candidates, most informative first."""
        return self.mz[self._ranked(True)]

    def _columns(self) -> dict[str, np.ndarray]:
        score_rank = np.empty(len(self), dtype=np.int64)
        score_rank[self.ranking] = np.arange(1, len(self) + 1)
        rank = np.full(len(self), None, dtype=object)          # within the picks; empty for the others
        rank[self._ranked(True)] = np.arange(1, int(self.picked.sum()) + 1)
        cols: dict[str, np.ndarray] = {"mz": self.mz}
        cols.update({f"p_{c}": self.proba[:, i] for i, c in enumerate(self.classes)})
        cols.update({"score": self.score, "score_from": np.full(len(self), score_source(self.scoring, self.informative)),
                     "norm": np.full(len(self), self.norm),
                     "label": self.label, "picked": self.picked, "rank": rank, "score_rank": score_rank,
                     "group": self.group, "isotope_of": self.isotope_of})
        cols.update({k: v for k, v in self.columns.items() if k not in cols})
        return cols

    def to_dataframe(self, picked_only: bool = False):
        """The table as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("PickResult.to_dataframe needs pandas: pip install 'ionmorph[pandas]' "
                              "(or use to_csv)") from None
        df = pd.DataFrame(self._columns())
        return df[df["picked"]].reset_index(drop=True) if picked_only else df

    def to_csv(self, path: str | os.PathLike, picked_only: bool = False, sort: str = "mz",
               overwrite: bool = False) -> os.PathLike:
        """Write the table atomically (one row per candidate); returns the path.

        ``path`` may not be the source imzML or its .ibd; an existing file is replaced only when it
        is a pick table (:func:`is_pick_table`), or with ``overwrite``.

        Columns: ``mz`` (6 decimals), ``p_<class>`` per class (of the full frame), ``score``,
        ``score_from`` (how the score was computed and from which probabilities, :func:`score_source`),
        ``norm`` (the ion images' normalisation: none, tic or rms), ``label``, ``picked``, ``rank`` (1 = best score among the picked candidates; empty for the
        others), ``score_rank`` (1 = best score among all candidates), ``group`` and ``isotope_of``
        (:mod:`ionmorph.picking.ion_groups`; empty for a non-isotope), then the user's extra
        candidate columns. ``picked_only`` writes the picked rows only (``ionmorph pick -o``; all
        rows: ``ionmorph classify -o``). ``sort``: ``"mz"`` (ascending m/z) or ``"rank"`` (best
        score first).
        """
        if sort not in CSV_SORTS:
            raise InputError(f"sort must be one of {', '.join(CSV_SORTS)}, got {sort!r}")
        check_output(path, [getattr(self._source, "path", None)], force=overwrite, owned=is_pick_table)
        cols = self._columns()
        order = self.ranking if sort == "rank" else np.arange(len(self))
        keep = order[self.picked[order]] if picked_only else order
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(list(cols))
        for i in keep:
            row = []
            for col in cols.values():
                v = col[i]
                row.append("" if v is None or col.dtype.kind == "f" and np.isnan(v) else f"{v:.6f}" if col.dtype.kind == "f"
                           else str(bool(v)).lower() if col.dtype.kind == "b" else str(v))
            w.writerow(row)
        return atomic_write_text(path, buf.getvalue())

    def images(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        """Ion images (len(index), H, W) of candidates ``index`` as classified: re-extracted from a file
        source, normalised as :attr:`norm` says."""
        from ..io.normalisation import normalise

        idx = np.asarray(index, dtype=np.int64)
        if self._source is None:
            raise InputError("this PickResult keeps no reference to its data; images are unavailable")
        if isinstance(self._source, np.ndarray):
            return normalise(self._source[idx], self._norm_factor)
        return normalise(self._source.ion_images(self.mz[idx], ppm=self.ppm), self._norm_factor)

    def _export_order(self, picked_only: bool) -> np.ndarray:
        order = self._ranked(picked_only)
        if len(order) == 0:
            raise InputError("nothing to export: no picked candidates")
        return order

    def save_images(self, path: str | os.PathLike, picked_only: bool = True, overwrite: bool = False):
        """Write the picked (or all) candidates' ion images, best score first (the order of
        :attr:`picked_mz`), as a float32 (n, H, W) ``.npy`` or multi-page ``.tif``; returns the path."""
        from ..io.export import save_ion_images

        order = self._export_order(picked_only)
        return save_ion_images(self.images(order), path, inputs=[self.source], overwrite=overwrite)

    def to_imzml(self, path: str | os.PathLike, picked_only: bool = True, overwrite: bool = False):
        """Write a reduced imzML (+ .ibd) holding only the picked (or all) peaks; returns the .imzML path.

        Each pixel's spectrum holds, at each peak, its ion-image value (sum within +/- :attr:`ppm`);
        pixels keep their original imzML x/y (:func:`ionmorph.io.export.write_reduced_imzml`).
        """
        from ..io.export import write_reduced_imzml
        from ..io.metadata import read_acquisition_info

        if self.source is None:
            raise InputError("to_imzml needs a result picked from an imzML file (an image stack has no pixel coordinates)")
        order = self._export_order(picked_only)
        data = self._source
        info = read_acquisition_info(data.path)
        return write_reduced_imzml(path, self.images(order), self.mz[order], data.xy, data.coords,
                                   polarity=info.polarity, pixel_size_um=info.pixel_size_um,
                                   instrument=info.instrument, normalisation=self.norm, inputs=[self.source],
                                   overwrite=overwrite)

    def to_html(self, path: str | os.PathLike, *, cmap: str = "viridis", overwrite: bool = False):
        """Write a self-contained HTML report of every candidate (ion image, m/z, rank, score, class
        probabilities, label, group, picked) with sorting and filtering; returns the path
        (:func:`ionmorph.picking.report.write_pick_report`)."""
        from .report import write_pick_report

        return write_pick_report(self, path, cmap=cmap, overwrite=overwrite)

    def to_spatialdata(self, path: str | os.PathLike, picked_only: bool = True, labels: dict | None = None,
                       overwrite: bool = False):
        """Write the picked (or all) ion images, the pixels x ions table and the peak table as a
        SpatialData Zarr store (needs ``ionmorph[spatialdata]``); returns the path
        (:func:`ionmorph.picking.report.write_pick_spatialdata`)."""
        from .report import write_pick_spatialdata

        return write_pick_spatialdata(self, path, picked_only=picked_only, labels=labels, overwrite=overwrite)

    def plot(self, n: int = 24, which: str = "picked", ncols: int | None = None, *,
             shared_scale: bool = False, cmap: str = "viridis"):
        """Ion-image grid of the ``n`` best-scoring candidates (``which``: "picked" or "all").

        Each panel is titled with m/z, the label with its class probability (``p=``) and the
        informative score, with a colour bar; ``shared_scale`` and
        ``cmap`` as in :func:`ionmorph.plotting.ion_image_grid`. Returns a matplotlib Figure.
        """
        from ..plotting import ion_image_grid

        if which not in ("picked", "all"):
            raise InputError(f"which must be 'picked' or 'all', got {which!r}")
        order = self._ranked(which == "picked")[:max(0, int(n))]
        if len(order) == 0:
            raise InputError(f"nothing to plot: no {'picked ' if which == 'picked' else ''}candidates")
        titles = [f"m/z {self.mz[i]:.4f}\n{self.label[i]} p={self.proba[i].max():.2f}, score {self.score[i]:.2f}"
                  for i in order]
        return ion_image_grid(self.images(order), titles=titles, mask=self.mask, ncols=ncols, cmap=cmap,
                              shared_scale=shared_scale,
                              suptitle=f"{which} candidates by informative score ({self.model})")


def select(score: np.ndarray, k: int | None, threshold: float | None,
           group: np.ndarray | None = None, redundancy: float | None = None,
           thumbs: np.ndarray | None = None) -> np.ndarray:
    """The picked mask for a score vector and the selection rule (see the module docs).

    With ``group`` (one integer per candidate) only the best-scoring member of each group
    (ties: m/z order) can be picked. With ``redundancy`` and ``thumbs`` (one flattened thumbnail
    per candidate), candidates are taken best score first and one whose thumbnail correlates at
    least ``redundancy`` with an already picked one is skipped.
    """
    if redundancy is not None and (isinstance(redundancy, bool) or not isinstance(redundancy, (int, float, np.number))
                                   or not 0.0 < float(redundancy) <= 1.0):
        raise InputError(f"redundancy must be a correlation in (0, 1], got {redundancy!r}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0):
        raise InputError(f"k must be a non-negative integer, got {k!r}")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number))
                                  or not 0.0 <= float(threshold) <= 1.0):
        raise InputError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    ok = np.ones(len(score), dtype=bool)
    if threshold is not None or k is None:
        ok = score >= (DEFAULT_THRESHOLD if threshold is None else float(threshold))
    order = np.argsort(-score, kind="stable")
    if group is not None:
        _, first = np.unique(np.asarray(group)[order], return_index=True)
        best = np.zeros(len(score), dtype=bool)
        best[order[first]] = True
        ok &= best
    if redundancy is not None and thumbs is not None:
        return _distinct(order[ok[order]], thumbs, float(redundancy), k, len(score))
    if k is None:
        return ok
    order = order[ok[order]][:k]
    picked = np.zeros(len(score), dtype=bool)
    picked[order] = True
    return picked


def _distinct(order: np.ndarray, thumbs: np.ndarray, redundancy: float, k: int | None, n: int) -> np.ndarray:
    """Walk ``order`` and pick each candidate whose thumbnail correlates below ``redundancy`` with every
    one picked before it, up to ``k`` picks."""
    from .ion_groups import unit_rows

    z = unit_rows(thumbs)
    picked = np.zeros(n, dtype=bool)
    kept: list[int] = []
    for i in order:
        if k is not None and len(kept) >= k:
            break
        if kept and float((z[kept] @ z[i]).max()) >= redundancy:
            continue
        kept.append(int(i))
        picked[i] = True
    return picked


def _open(source: Any, mz: Any, mask: Any, candidates: Any, ppm: float | None):
    """(data or array, :class:`ionmorph.picking.candidates.Candidates`, raster mask) of any accepted source."""
    from .candidates import Candidates, find_candidates
    from ..io.msi import DEFAULT_PPM, MSIData, open_msi

    if isinstance(source, (str, os.PathLike)):
        source = open_msi(source)
    if isinstance(source, MSIData):
        if mz is not None:
            raise InputError("mz= applies to array sources only; give candidates= for a file")
        if mask is not None and np.shape(mask) != source.shape:
            raise InputError(f"mask shape {np.shape(mask)} does not match the raster {source.shape} of {source.path}")
        region = source.mask if mask is None else source.mask & np.asarray(mask, dtype=bool)
        return source, find_candidates(source, candidates, ppm), region
    if candidates is not None:
        raise InputError("candidates= applies to file sources; for an image stack give its m/z with mz=")
    images = np.asarray(source)
    if images.ndim != 3:
        raise InputError(f"an array source must be ion images (n, H, W), got shape {images.shape}")
    if mz is None:
        raise InputError("an array source needs mz= (one m/z per ion image)")
    mz = np.asarray(mz, dtype=np.float64).ravel()
    if len(mz) != len(images):
        raise InputError(f"{len(mz)} m/z values for {len(images)} ion images")
    if mask is not None and np.shape(mask) != images.shape[1:]:
        raise InputError(f"mask shape {np.shape(mask)} does not match the ion images' raster {images.shape[1:]}")
    cand = Candidates(mz, DEFAULT_PPM if ppm is None else float(ppm), "default" if ppm is None else "given",
                      "image stack")
    return images, cand, None if mask is None else np.asarray(mask, dtype=bool)


def warn_small_raster(mask: np.ndarray | None, shape: tuple[int, int], what: str) -> None:
    """Warn when the measured pixels span fewer than :data:`MIN_RASTER_SIDE` rows or columns."""
    m = np.ones(shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    h = int(rows[-1] - rows[0] + 1) if rows.size else 0
    w = int(cols[-1] - cols[0] + 1) if cols.size else 0
    if min(h, w) < MIN_RASTER_SIDE:
        warnings.warn(f"{what}: the measured pixels span only {h} x {w} pixels; ion images this small show "
                      f"no morphology (at least {MIN_RASTER_SIDE} x {MIN_RASTER_SIDE} needed), so their classes "
                      "and scores mean little", stacklevel=3)


def warn_budget(n_wanted: int | None, n_candidates: int, what: str) -> None:
    """Warn when a pick or channel budget exceeds the number of candidates."""
    if n_wanted is not None and n_wanted > n_candidates:
        warnings.warn(f"{what}={n_wanted} asks for more than the {n_candidates} candidates; all of them are "
                      "eligible (pass candidates= to search more m/z)", stacklevel=3)


def pick_peaks(
    source: Any,
    k: int | None = None,
    threshold: float | None = None,
    informative: Sequence[str] = DEFAULT_INFORMATIVE,
    candidates: Any = None,
    ppm: float | None = None,
    model: Any = DEFAULT_MODEL,
    batch_size: int = 64,
    device: Any = None,
    backend: str = "auto",
    progress: bool = True,
    *,
    mz: Sequence[float] | np.ndarray | None = None,
    mask: np.ndarray | None = None,
    revision: str | None = None,
    score: str = DEFAULT_SCORE,
    group_isotopes: bool = True,
    redundancy: float | None = None,
    norm: str = "none",
    working_side: int | None = WORKING_SIDE,
) -> PickResult:
    """Pick the informative m/z channels of an MSI dataset with IonMorphNet.

    Parameters
    ----------
    source : path, MSIData or array (n, H, W)
        An imzML file, an opened dataset, or a stack of ion images (then ``mz=`` is required and
        ``mask=`` optional).
    k : int, optional
        Number of peaks to pick (the best scores).
    threshold : float, optional
        Minimum score of a picked peak. With neither ``k`` nor ``threshold``: score >= 0.5.
    informative : sequence of str
        Classes whose probabilities make up the score (default ``structured``, ``localized`` and
        ``negative``: off-sample ions count as informative; leave out ``negative`` to rank
        on-sample structure only).
    candidates : sequence of float, mapping or DataFrame, optional
        Candidate m/z for a file source, or a table with an ``mz`` column whose other columns
        (formula, adduct, name, ...) come through to the result (default: every channel of a
        peak list, else the peaks of the mean spectrum; :func:`ionmorph.picking.candidates.find_candidates`).
    ppm : float, optional
        Ion-image half-width in ppm (default: estimated from the mean spectrum's peak widths, else
        :data:`ionmorph.io.msi.DEFAULT_PPM`; the value used is ``PickResult.ppm``).
    model : str, path or IonMorphNet
        Weights name, folder or Hub id, or a model object.
    batch_size : int
        Images per forward pass.
    device : str or torch.device, optional
        Default: a GPU when present, else the CPU.
    backend : str
        Inference backend (:mod:`ionmorph.models.inference`); "auto" picks the fastest accurate one.
    progress : bool
        Show progress bars (one at a time).
    mz : array, optional
        For an array source: the m/z of each image.
    mask : bool array (H, W), optional
        The pixels to classify: for an array source the measured pixels, for a file a region of
        interest (only its measured pixels count; candidates still come from the whole file).
    revision : str, optional
        Weights revision tag.
    score : {"learned", "classes", "views", "clarity", "views_clarity"} or a key of :data:`ionmorph.picking.baselines.BASELINE_SCORES`
        The informative score: the weights' ranking head (default); the informative classes'
        probability sum averaged over the full frame and four corner crops, or of the full frame
        alone; the ``clarity`` ones weighted by the image's spatial coherence (module docstring); or
        a classic baseline (``morans_i``,
        ``spatial_chaos``, ``mean_intensity``, ...) of the raw ion images, which needs ``k`` (the
        model still gives the probabilities and labels).
    group_isotopes : bool
        Let only the best-scoring isotope or adduct of each ion be picked (module docstring).
    redundancy : float, optional
        Skip a candidate whose ion image correlates at least this much with one already picked
        (module docstring); None (default) keeps near-identical images.
    norm : {"none", "tic", "rms"}
        Divide every ion image, pixel by pixel, by the pixel's TIC or RMS (median 1;
        :mod:`ionmorph.io.normalisation`; an array source: over its own channels) before it is
        classified and scored; default none. Recorded in ``PickResult.norm``.
    working_side : int, optional
        Score on a raster of at most this many pixels per side, binning larger ones (module
        docstring; default :data:`WORKING_SIDE`); None scores at full resolution whatever the size.
        The binning factor is recorded in ``PickResult.binning``.

    Returns
    -------
    PickResult
    """
    from ..models.inference import get_classifier
    from ..progress import progress_bar
    from .ion_groups import group_ions, mass_pairs, thumbnails
    from ..labels import CLASSES
    from ..io.binning import bin_factor, bin_images, binned_shape, measured_counts
    from ..io.normalisation import check_norm, norm_factor, normalise

    check_norm(norm)
    select(np.zeros(0, np.float32), k, threshold, redundancy=redundancy)   # validate the rule before the long work
    if score not in SCORES and score not in BASELINE_SCORES:
        raise InputError(f"score must be one of {', '.join(SCORES + tuple(BASELINE_SCORES))}, got {score!r}")
    if score in BASELINE_SCORES and (k is None or threshold is not None):
        raise InputError(f"score {score!r} is a classic baseline, not a probability: give k (and no threshold)")
    informative = tuple(informative)
    if not informative or any(c not in CLASSES for c in informative):
        raise InputError(f"informative classes {list(informative)} must be a non-empty subset of {list(CLASSES)}")
    t0 = time.perf_counter()
    timings = {"reading": 0.0, "ion_images": 0.0, "preprocess": 0.0, "inference": 0.0}
    data, found, raster_mask = _open(source, mz, mask, candidates, ppm)
    cand, ppm = found.mz, found.ppm
    is_array = isinstance(data, np.ndarray)
    what = "ion-image stack" if is_array else str(data.path)
    h, w = data.shape[1:] if is_array else data.shape
    warn_small_raster(raster_mask, (h, w), what)
    warn_budget(k, len(cand), "k")
    factor = norm_factor(data, norm, raster_mask if is_array else None, progress=progress)
    binning = bin_factor((h, w), working_side)
    work_mask = raster_mask
    if binning > 1:
        work_mask = measured_counts(np.ones((h, w), bool) if raster_mask is None else raster_mask, binning) > 0
    timings["reading"] = time.perf_counter() - t0
    t = time.perf_counter()
    clf = get_classifier(model, revision=revision, device=device, backend=backend, batch_size=batch_size)
    timings["model"] = time.perf_counter() - t
    net = clf.model
    missing = [c for c in informative if c not in net.classes]
    if missing:
        raise InputError(f"informative classes {list(informative)} must be a non-empty subset of {list(net.classes)}")
    cols = [net.classes.index(c) for c in informative]
    head = getattr(net, "ranking_head", None)
    if score == HEAD_SCORE and head is None:
        warnings.warn(f"weights {net.version} carry no ranking head: score {HEAD_SCORE!r} falls back to "
                      f"{HEADLESS_SCORE!r}", UserWarning, stacklevel=2)
        score = HEADLESS_SCORE
    statistics = np.zeros((len(cand), len(IMAGE_STATISTICS)), dtype=np.float32) if score == HEAD_SCORE else None
    pairs = mass_pairs(cand, ppm) if group_isotopes else []
    linked = {i for p in pairs for i in p[:2]}
    thumbs: dict[int, np.ndarray] = {}
    distinct = np.zeros((len(cand), 0), dtype=np.float32)
    hb, wb = binned_shape((h, w), binning)
    block = max(batch_size, (BLOCK_BYTES // (4 * hb * wb)) // batch_size * batch_size)
    proba = np.zeros((len(cand), len(net.classes)), dtype=np.float32)
    scores = np.zeros(len(cand), dtype=np.float32)
    with progress_bar(total=len(cand), disable=not progress, desc="classifying", unit="img") as bar:
        for start in range(0, len(cand), block):
            t = time.perf_counter()
            if is_array:
                images = bin_images(normalise(data[start:start + block], factor), binning, raster_mask)
            else:
                images = data.ion_images(cand[start:start + block], ppm=ppm, binning=binning,
                                         norm="none" if factor is None else factor)
            block_linked = [i for i in range(start, start + len(images)) if i in linked]
            if block_linked:
                thumbs.update(zip(block_linked, thumbnails(images, work_mask, index=np.asarray(block_linked) - start)))
            if redundancy is not None:
                small = thumbnails(images, work_mask, size=REDUNDANCY_THUMBNAIL).astype(np.float32)
                if distinct.shape[1] != small.shape[1]:
                    distinct = np.zeros((len(cand), small.shape[1]), dtype=np.float32)
                distinct[start:start + len(images)] = small
            t1 = time.perf_counter()
            spent = timings.get("statistics", 0.0)
            hook = None if statistics is None else _statistics_hook(statistics, start, work_mask, timings)
            x = net.prepare(images, work_mask, each_normalised=hook)
            t2 = time.perf_counter()
            p = clf.predict_proba(x)
            proba[start:start + len(x)] = p
            block_score = p[:, cols].sum(axis=1)
            t3 = time.perf_counter()
            if score in VIEW_SCORES:
                block_score = _view_score(clf, net, images, work_mask, cols, block_score, timings)
            elif score in BASELINE_SCORES:
                block_score = BASELINE_SCORES[score](images, work_mask).astype(np.float32)
            if score in COHERENCE_SCORES:
                t4 = time.perf_counter()
                block_score = block_score * coherence(images, work_mask, net.preprocess_config)
                timings["coherence"] = timings.get("coherence", 0.0) + time.perf_counter() - t4
            scores[start:start + len(x)] = block_score
            timings["ion_images"] += t1 - t
            timings["preprocess"] += t2 - t1 - (timings.get("statistics", 0.0) - spent)   # without the statistics
            timings["inference"] += t3 - t2
            bar.update(len(x))
            del images, x   # before the next block is extracted: one block of images in memory at a time
    if statistics is not None:
        scores = head.predict(head_inputs(head.features, proba, net.classes, statistics))
    group, isotope_of = group_ions(cand, pairs, thumbs)
    label = np.asarray(net.classes)[proba.argmax(axis=1)] if len(cand) else np.zeros(0, dtype=str)
    name = model if isinstance(model, (str, os.PathLike)) else type(model).__name__
    timings["total"] = time.perf_counter() - t0
    picked = select(scores, k, threshold, group if group_isotopes else None, redundancy,
                    distinct if redundancy is not None else None)
    n_groups = len(np.unique(group)) if len(group) else 0
    if group_isotopes and k is not None and threshold is None and n_groups < min(k, len(cand)):
        warnings.warn(f"k={k}: {len(cand)} candidates form {n_groups} ions (isotopes and adducts of one ion "
                      f"share one pick), so {int(picked.sum())} are picked; group_isotopes=False "
                      "(--keep-isotopes) picks them separately", UserWarning, stacklevel=2)
    return PickResult(mz=np.asarray(cand, dtype=np.float64), proba=proba, classes=net.classes,
                      informative=informative, score=scores, label=label, picked=picked, k=k,
                      threshold=threshold, model=f"{name} ({net.architecture}, weights {net.version})",
                      timings=timings, _source=data, ppm=ppm,
                      mask=raster_mask, scoring=score, ppm_source=found.ppm_source, group=group,
                      isotope_of=isotope_of, group_isotopes=group_isotopes, columns=found.columns,
                      candidate_kind=found.kind, source=None if is_array else str(data.path),
                      redundancy=redundancy, norm=norm, binning=binning, _norm_factor=factor)


def _statistics_hook(statistics: np.ndarray, offset: int, mask: np.ndarray | None, timings: dict[str, float]):
    """``each_normalised`` of :func:`ionmorph.models.preprocessing.preprocess` that fills
    ``statistics[offset + start:]`` with :func:`ionmorph.picking.ranking.image_statistics` of each block,
    reusing the normalised images, and adds its time to ``timings["statistics"]``."""

    def hook(start: int, raw: np.ndarray, normalised: np.ndarray) -> None:
        t = time.perf_counter()
        statistics[offset + start:offset + start + len(raw)] = image_statistics(raw, mask, normalised_images=normalised)
        timings["statistics"] = timings.get("statistics", 0.0) + time.perf_counter() - t

    return hook


def _view_score(clf: Any, net: Any, images: np.ndarray, mask: np.ndarray | None, cols: list[int],
                full_score: np.ndarray, timings: dict[str, float]) -> np.ndarray:
    """Mean informative score over the full frame (given) and the four corner crops of :mod:`ionmorph.models.views`."""
    from ..models.views import view_stacks

    raster = np.ones(images.shape[1:], dtype=bool) if mask is None else mask
    total = full_score.astype(np.float64)
    views = list(view_stacks(images, raster))[1:]
    for stack, view_mask in views:
        t = time.perf_counter()
        x = net.prepare(stack, view_mask)
        t1 = time.perf_counter()
        total += clf.predict_proba(x)[:, cols].sum(axis=1)
        timings["preprocess"] += t1 - t
        timings["inference"] += time.perf_counter() - t1
    return (total / (1 + len(views))).astype(np.float32)
