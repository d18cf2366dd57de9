"""Peak picking with IonMorphNet (SPEC 5): classify every candidate's ion image, rank by informativeness.

Each candidate m/z's ion image is preprocessed (:func:`ionmorph.preprocessing.preprocess`, with the
model's own settings) and classified; its **score** is the sum of the probabilities of the
informative classes (default ``structured + localized + negative``): ``score="classes"``, SPEC 5's
plain class sum (weights trained on graded targets make it rank by how clearly an image shows its
pattern, see :func:`ionmorph.labels.graded_targets`). ``score="views"`` averages that sum over the
full frame and four corner crops (:mod:`ionmorph.views`; five times the inference); probabilities
and labels stay those of the full frame. The picked set is

- the ``k`` best scores when ``k`` is given (among those reaching ``threshold`` if both are given);
- every candidate with ``score >= threshold`` when only ``threshold`` is given;
- every candidate with ``score >= DEFAULT_THRESHOLD`` (0.5: more informative than not) when
  neither is given.

Candidate ion images are extracted in blocks of at most :data:`BLOCK_BYTES` (one streaming pass
over the file per block), so memory stays bounded for thousands of candidates on large rasters.
"""
from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import InputError
from .fileio import atomic_write_text
from .labels import DEFAULT_INFORMATIVE

#: Ways to turn class probabilities into the informative score (module docstring).
SCORES: tuple[str, ...] = ("classes", "views")
#: Score cut-off used when neither ``k`` nor ``threshold`` is given.
DEFAULT_THRESHOLD = 0.5
#: Memory budget of one block of raw candidate ion images (float32).
BLOCK_BYTES = 512 * 2**20
DEFAULT_MODEL = "ionmorphnet-convnextv2-tiny"


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
    _ppm: float | None = field(default=None, repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.mz)

    @property
    def ranking(self) -> np.ndarray:
        """Candidate indices by descending score (ties keep m/z order)."""
        return np.argsort(-self.score, kind="stable")

    @property
    def picked_mz(self) -> np.ndarray:
        """m/z of the picked candidates, most informative first."""
        order = self.ranking
        return self.mz[order[self.picked[order]]]

    def _columns(self) -> dict[str, np.ndarray]:
        rank = np.empty(len(self), dtype=np.int64)
        rank[self.ranking] = np.arange(1, len(self) + 1)
        cols: dict[str, np.ndarray] = {"mz": self.mz}
        cols.update({f"p_{c}": self.proba[:, i] for i, c in enumerate(self.classes)})
        cols.update({"score": self.score, "label": self.label, "picked": self.picked, "rank": rank})
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

    def to_csv(self, path: str | os.PathLike, picked_only: bool = False) -> os.PathLike:
        """Write the table (one row per candidate, m/z order) atomically; returns the path."""
        cols = self._columns()
        keep = np.flatnonzero(self.picked) if picked_only else np.arange(len(self))
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(list(cols))
        for i in keep:
            row = []
            for name, col in cols.items():
                v = col[i]
                row.append(repr(float(v)) if name == "mz" else f"{v:.6f}" if col.dtype.kind == "f"
                           else str(bool(v)).lower() if col.dtype.kind == "b" else str(v))
            w.writerow(row)
        return atomic_write_text(path, buf.getvalue())

    def images(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        """Raw ion images (len(index), H, W) of candidates ``index`` (re-extracted from a file source)."""
        idx = np.asarray(index, dtype=np.int64)
        if self._source is None:
            raise InputError("this PickResult keeps no reference to its data; images are unavailable")
        if isinstance(self._source, np.ndarray):
            return self._source[idx]
        return self._source.ion_images(self.mz[idx], ppm=self._ppm)

    def plot(self, n: int = 24, which: str = "picked", ncols: int | None = None):
        """Ion-image grid of the ``n`` best-scoring candidates (``which``: "picked" or "all").

        Each panel is titled with m/z, label and score; returns a matplotlib Figure.
        """
        from .plotting import ion_image_grid

        if which not in ("picked", "all"):
            raise InputError(f"which must be 'picked' or 'all', got {which!r}")
        order = self.ranking
        if which == "picked":
            order = order[self.picked[order]]
        order = order[:max(0, int(n))]
        if len(order) == 0:
            raise InputError(f"nothing to plot: no {'picked ' if which == 'picked' else ''}candidates")
        titles = [f"m/z {self.mz[i]:.4f}\n{self.label[i]} {self.score[i]:.2f}" for i in order]
        return ion_image_grid(self.images(order), titles=titles, mask=self.mask, ncols=ncols,
                              suptitle=f"{which} candidates by informative score ({self.model})")


def select(score: np.ndarray, k: int | None, threshold: float | None) -> np.ndarray:
    """The picked mask for a score vector and the selection rule (see the module docs)."""
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0):
        raise InputError(f"k must be a non-negative integer, got {k!r}")
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
        raise InputError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    ok = np.ones(len(score), dtype=bool)
    if threshold is not None or k is None:
        ok = score >= (DEFAULT_THRESHOLD if threshold is None else threshold)
    if k is None:
        return ok
    order = np.argsort(-score, kind="stable")
    order = order[ok[order]][:k]
    picked = np.zeros(len(score), dtype=bool)
    picked[order] = True
    return picked


def _open(source: Any, mz: Any, mask: Any, candidates: Any, ppm: float | None):
    """(data or array, candidate m/z, raster mask) of any accepted source."""
    from .msi import MSIData, open_msi

    if isinstance(source, (str, os.PathLike)):
        source = open_msi(source)
    if isinstance(source, MSIData):
        if mz is not None or mask is not None:
            raise InputError("mz= and mask= apply to array sources only; give candidates= for a file")
        from .candidates import candidate_mz

        cand = candidate_mz(source) if candidates is None else candidate_mz(source, mz=candidates)
        return source, cand, source.mask
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
    return images, mz, None if mask is None else np.asarray(mask, dtype=bool)


def pick_peaks(
    source: Any,
    k: int | None = None,
    threshold: float | None = None,
    informative: Sequence[str] = DEFAULT_INFORMATIVE,
    candidates: Sequence[float] | np.ndarray | None = None,
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
    score: str = "classes",
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
        Classes whose probabilities make up the score.
    candidates : sequence of float, optional
        Candidate m/z for a file source (default: peaks of the mean spectrum,
        :func:`ionmorph.candidates.candidate_mz`).
    ppm : float, optional
        Ion-image half-width in ppm (default :data:`ionmorph.msi.DEFAULT_PPM`).
    model : str, path or IonMorphNet
        Weights name, folder or Hub id, or a model object.
    batch_size : int
        Images per forward pass.
    device : str or torch.device, optional
        Default: a GPU when present, else the CPU.
    backend : str
        Inference backend (:mod:`ionmorph.inference`); "auto" picks the fastest accurate one.
    progress : bool
        Show progress bars.
    mz, mask : array, optional
        For an array source: the m/z of each image and the raster mask.
    revision : str, optional
        Weights revision tag.
    score : {"classes", "views"}
        The informative score: the informative classes' probability sum of the full frame, or its
        mean over the full frame and four corner crops (module docstring).

    Returns
    -------
    PickResult
    """
    from tqdm.auto import tqdm

    from .inference import get_classifier
    from .msi import DEFAULT_PPM

    t0 = time.perf_counter()
    timings = {"reading": 0.0, "ion_images": 0.0, "preprocess": 0.0, "inference": 0.0}
    ppm = DEFAULT_PPM if ppm is None else float(ppm)
    data, cand, raster_mask = _open(source, mz, mask, candidates, ppm)
    timings["reading"] = time.perf_counter() - t0
    t = time.perf_counter()
    clf = get_classifier(model, revision=revision, device=device, backend=backend, batch_size=batch_size)
    timings["model"] = time.perf_counter() - t
    net = clf.model
    missing = [c for c in informative if c not in net.classes]
    if missing or not informative:
        raise InputError(f"informative classes {list(informative)} must be a non-empty subset of {list(net.classes)}")
    select(np.zeros(0, np.float32), k, threshold)   # validate the rule before the long work
    if score not in SCORES:
        raise InputError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    cols = [net.classes.index(c) for c in informative]
    is_array = isinstance(data, np.ndarray)
    h, w = data.shape[1:] if is_array else data.shape
    block = max(batch_size, (BLOCK_BYTES // (4 * h * w)) // batch_size * batch_size)
    proba = np.zeros((len(cand), len(net.classes)), dtype=np.float32)
    scores = np.zeros(len(cand), dtype=np.float32)
    with tqdm(total=len(cand), disable=not progress, desc="classifying", unit="img") as bar:
        for start in range(0, len(cand), block):
            t = time.perf_counter()
            images = data[start:start + block] if is_array else data.ion_images(cand[start:start + block], ppm=ppm,
                                                                               progress=progress)
            t1 = time.perf_counter()
            x = net.prepare(images, raster_mask)
            t2 = time.perf_counter()
            p = clf.predict_proba(x)
            proba[start:start + len(x)] = p
            block_score = p[:, cols].sum(axis=1)
            t3 = time.perf_counter()
            if score == "views":
                block_score = _view_score(clf, net, images, raster_mask, cols, block_score, timings)
            scores[start:start + len(x)] = block_score
            timings["ion_images"] += t1 - t
            timings["preprocess"] += t2 - t1
            timings["inference"] += t3 - t2
            bar.update(len(x))
    label = np.asarray(net.classes)[proba.argmax(axis=1)] if len(cand) else np.zeros(0, dtype=str)
    name = model if isinstance(model, (str, os.PathLike)) else type(model).__name__
    timings["total"] = time.perf_counter() - t0
    return PickResult(mz=np.asarray(cand, dtype=np.float64), proba=proba, classes=net.classes,
                      informative=tuple(informative), score=scores, label=label,
                      picked=select(scores, k, threshold), k=k, threshold=threshold,
                      model=f"{name} ({net.architecture}, weights {net.version})",
                      timings=timings, _source=data, _ppm=ppm, mask=raster_mask, scoring=score)


def _view_score(clf: Any, net: Any, images: np.ndarray, mask: np.ndarray | None, cols: list[int],
                full_score: np.ndarray, timings: dict[str, float]) -> np.ndarray:
    """Mean informative score over the full frame (given) and the four corner crops of :mod:`ionmorph.views`."""
    from .views import view_stacks

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
