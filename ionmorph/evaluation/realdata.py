"""Real-data folders: load a recording with its labels by eye and segments, and judge IonMorphNet on it.

A **real-data folder** holds one section, found by the file names (``*`` is any prefix):

``<prefix>.imzML`` + ``.ibd``
    A continuous imzML whose m/z axis is a pre-binned peak list: every channel is a candidate and
    its ion image is that channel (exactly one imzML per folder).
``*_cube.npz``
    ``intensities`` (H, W, C), ``mz`` (C,), optional ``measured`` bool (H, W) (default: every
    pixel measured). Used when the folder has no imzML.
``*_ion_images.npz``
    ``images`` (C, H, W), ``mz`` (C,), optional ``measured`` bool (H, W), optional ``species``
    (C,) names. Used when the folder has neither an imzML nor a cube.
``*_labels_by_eye.csv`` (optional)
    ``index,mz,label[,confidence]``: ``index`` is the channel's position on the m/z axis above,
    ``mz`` its m/z (checked against the axis within :data:`MZ_ATOL` Da or :data:`MZ_RTOL_PPM`
    ppm), ``label`` one of :data:`ionmorph.labels.CLASSES`, ``confidence`` ``clear`` or
    ``borderline``. May cover a subset of the channels.
``*_segments.npy`` (optional)
    int (H, W) segmentation on the section's raster: ``0`` = not measured (or left out),
    ``1..C`` = segments. The mask of an mSCF1 evaluation (SPEC 6): only pixels that are measured
    and have a segment > 0 count, so the classes are ``1..C``. A folder whose data is a spectral
    cube or imzML but has no segments file gets segments computed from its spectra
    (:func:`segments_from_spectra`, the recipe of ``barley_segments.npy``) when judged with
    ``compute_segments=True``; ``RealFolder.segments_source`` says which.

A folder with labels or segments is *labelled* (an imzML, cube or ion-image file is then its
data); a folder without either counts only when it holds a cube or an ion-image file (the model's
predicted class shares and a figure are all it yields). :func:`find_folders` lists both kinds
under a root (``../shared/realdata`` for this project); :func:`score_folder` runs
:func:`ionmorph.pick_peaks` on every channel (the code path users get) and scores its classes
against the labels by eye and its ranking, beside the classic baselines of
:mod:`ionmorph.picking.baselines`, with mSCF1 (:mod:`ionmorph.evaluation.metrics`) in two selections:

- the *protocol ranking* (SPEC 6): each method's top-k channels, every channel ranked;
- the *pick_peaks(k) selection* users get: only the best-scoring member of each ion group
  (isotopes and adducts, ``PickResult.group``) may be picked, :func:`ionmorph.picking.pick.select`;
  baselines pass through the same groups with their own scores.
"""
from __future__ import annotations

import csv
import inspect
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..labels import CLASSES

LABELS_GLOB = "*_labels_by_eye.csv"
SEGMENTS_GLOB = "*_segments.npy"
CUBE_GLOB = "*_cube.npz"
ION_IMAGES_GLOB = "*_ion_images.npz"
#: Absolute and relative tolerance of a label row's m/z against the axis channel it indexes.
MZ_ATOL = 1e-3
MZ_RTOL_PPM = 5.0
#: Budgets of the mSCF1 evaluation.
DEFAULT_KS: tuple[int, ...] = (10, 20, 30, 40)
#: Seeds averaged for the random baseline.
DEFAULT_RANDOM_SEEDS = 20
#: Methods scored by :func:`score_folder`, in report order.
METHODS: tuple[str, ...] = ("ionmorphnet", "random", "mean_intensity", "spectrum_snr", "spatial_chaos",
                            "morans_i", "s3pl", "sputnik_reference", "sputnik_csr", "connected_area")
#: The two selections of the mSCF1 tables: summary key and description.
SELECTIONS: dict[str, str] = {
    "mscf1": "protocol ranking (SPEC 6): each method's top-k channels, every channel ranked",
    "mscf1_grouped": "pick_peaks(k) selection: only the best-scoring member of each ion group (isotopes, "
                     "adducts; PickResult.group) may be picked, ionmorph.picking.pick.select(score, k, None, group); "
                     "baselines through the same groups with their own scores",
}
#: The recipe of :func:`segments_from_spectra` (that of ``barley/barley_segments.npy``).
SEGMENTS_RECIPE = ("computed from the spectra (ionmorph.evaluation.realdata.segments_from_spectra, the barley recipe of "
                   "../shared/realdata/README.md): per measured pixel TIC normalisation (to the mean TIC), log1p, "
                   "PCA to 8 components (random_state=0), each component map smoothed with a Gaussian of sigma 1 px "
                   "over measured pixels (normalised convolution), k-means k=5 (n_init=10, random_state=0)")
#: Display scaling of the figures: the model's own steps 1-4 (hotspot clip, 99th percentile of
#: the measured pixels), as the labels by eye were made.
DISPLAY_QUANTILE = 0.99


@dataclass(frozen=True)
class EyeLabels:
    """Labels by eye of some channels of a section.

    Attributes
    ----------
    index : int64 (n,)
        Channel positions on the section's m/z axis.
    mz : float64 (n,)
        The m/z written in the label file.
    label : str (n,)
        Class names (:data:`ionmorph.labels.CLASSES`).
    confidence : str (n,)
        ``clear``, ``borderline`` or ``""`` when the file has no confidence column.
    path : Path
        The label file.
    """

    index: np.ndarray
    mz: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    path: Path

    def __len__(self) -> int:
        return len(self.index)

    @property
    def y(self) -> np.ndarray:
        """Class indices (int64) in :data:`ionmorph.labels.CLASSES` order."""
        return np.asarray([CLASSES.index(c) for c in self.label], dtype=np.int64)

    @property
    def clear(self) -> np.ndarray:
        """True for rows whose confidence is ``clear``."""
        return self.confidence == "clear"


@dataclass
class RealFolder:
    """One section of a real-data folder, ready for :func:`ionmorph.pick_peaks`.

    Attributes
    ----------
    name : str
        The folder's name (the dataset name in reports).
    path : Path
        The folder.
    kind : {"imzml", "cube", "ion_images"}
        Which file holds the data.
    data_path : Path
        That file.
    source : MSIData or float32 array (C, H, W)
        The opened imzML, or the ion-image stack of an npz.
    mz : float64 (C,)
        The m/z axis: every channel is a candidate.
    measured : bool (H, W)
        Pixels with a spectrum.
    labels : EyeLabels or None
    segments : int array (H, W) or None
        0 = not measured / left out, 1..C segments.
    names : str array (C,) or None
        Optional per-channel names (``species`` of an ion-image file).
    segments_source : str or None
        Where the segments come from: ``file <name>`` or :data:`SEGMENTS_RECIPE`.
    """

    name: str
    path: Path
    kind: str
    data_path: Path
    source: Any
    mz: np.ndarray
    measured: np.ndarray
    labels: EyeLabels | None = None
    segments: np.ndarray | None = None
    names: np.ndarray | None = None
    segments_source: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Raster (H, W)."""
        return tuple(int(v) for v in self.measured.shape)

    @property
    def n_channels(self) -> int:
        return int(len(self.mz))

    @property
    def n_measured(self) -> int:
        return int(self.measured.sum())

    @property
    def labelled(self) -> bool:
        """True when the folder has labels by eye or segments."""
        return self.labels is not None or self.segments is not None

    def images(self, index: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Raw ion images float32 (n, H, W) of channels ``index`` (default: all)."""
        idx = np.arange(self.n_channels) if index is None else np.asarray(index, dtype=np.int64)
        if isinstance(self.source, np.ndarray):
            return self.source[idx]
        return np.asarray(self.source.channel_images(idx), dtype=np.float32)

    def pick_kwargs(self) -> dict[str, Any]:
        """The source arguments of :func:`ionmorph.pick_peaks` (every channel a candidate)."""
        if isinstance(self.source, np.ndarray):
            return {"source": self.source, "mz": self.mz, "mask": self.measured}
        return {"source": self.source, "candidates": self.mz}

    def evaluation_mask(self) -> np.ndarray:
        """Segments as an mSCF1 mask: -1 (left out) where not measured or segment 0, else 1..C."""
        if self.segments is None:
            raise InputError(f"{self.path}: no segments ({SEGMENTS_GLOB})")
        return np.where(self.measured & (self.segments > 0), self.segments, -1).astype(np.int64)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary of the folder."""
        out: dict[str, Any] = {"name": self.name, "path": str(self.path), "kind": self.kind,
                               "data": self.data_path.name, "shape": list(self.shape),
                               "n_channels": self.n_channels, "n_measured": self.n_measured,
                               "mz_range": [float(self.mz.min()), float(self.mz.max())] if self.n_channels else None}
        if self.labels is not None:
            out["labels"] = {"file": self.labels.path.name, "n": len(self.labels),
                             "n_clear": int(self.labels.clear.sum()),
                             "shares": class_shares(self.labels.label)["counts"]}
        if self.segments is not None:
            seg = self.evaluation_mask()
            values, counts = np.unique(seg[seg >= 0], return_counts=True)
            out["segments"] = {str(int(v)): int(c) for v, c in zip(values, counts)}
            out["segments_source"] = self.segments_source
        return out


def _one(folder: Path, pattern: str) -> Path | None:
    """The single file matching ``pattern`` in ``folder`` (None when absent; InputError when several)."""
    hits = sorted(p for p in folder.glob(pattern) if p.is_file())
    if len(hits) > 1:
        raise InputError(f"{folder}: several {pattern} files ({', '.join(p.name for p in hits)}); "
                         "a real-data folder holds one section")
    return hits[0] if hits else None


def is_real_folder(path: str | os.PathLike) -> bool:
    """True when ``path`` is laid out as a real-data folder (module docstring)."""
    p = Path(path)
    if not p.is_dir():
        return False
    data = any(p.glob("*.imzML")) or any(p.glob(CUBE_GLOB)) or any(p.glob(ION_IMAGES_GLOB))
    labelled = any(p.glob(LABELS_GLOB)) or any(p.glob(SEGMENTS_GLOB))
    return (labelled and data) or any(p.glob(CUBE_GLOB)) or any(p.glob(ION_IMAGES_GLOB))


def find_folders(root: str | os.PathLike) -> list[Path]:
    """Real-data folders under ``root``: ``root`` itself when it is one, else its sub-folders (sorted).

    Folders holding only an imzML without labels or segments (format examples) are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    if is_real_folder(root):
        return [root]
    return sorted(p for p in root.iterdir() if is_real_folder(p))


def read_eye_labels(path: str | os.PathLike) -> EyeLabels:
    """Read a ``*_labels_by_eye.csv`` (``index,mz,label[,confidence]``), validating every row."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        missing = [c for c in ("index", "mz", "label") if c not in cols]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}; header is {cols}")
        idx, mz, lab, conf = [], [], [], []
        for line, rec in enumerate(reader, start=2):
            try:
                idx.append(int(rec["index"]))
                mz.append(float(rec["mz"]))
            except (TypeError, ValueError):
                raise InputError(f"{path}: line {line}: index {rec['index']!r} / m/z {rec['mz']!r} "
                                 "must be an integer and a number") from None
            label = (rec["label"] or "").strip()
            if label not in CLASSES:
                raise InputError(f"{path}: line {line}: label {label!r} is not one of {', '.join(CLASSES)}")
            c = (rec.get("confidence") or "").strip()
            if c not in ("", "clear", "borderline"):
                raise InputError(f"{path}: line {line}: confidence {c!r} must be clear or borderline")
            lab.append(label)
            conf.append(c)
    index = np.asarray(idx, dtype=np.int64)
    if len(np.unique(index)) != len(index):
        raise InputError(f"{path}: duplicate channel indices")
    return EyeLabels(index=index, mz=np.asarray(mz, dtype=np.float64), label=np.asarray(lab, dtype=str),
                     confidence=np.asarray(conf, dtype=str), path=path)


def align_labels(labels: EyeLabels, mz: np.ndarray) -> None:
    """Check that every label row's ``index`` is on the axis ``mz`` and its m/z matches that channel."""
    mz = np.asarray(mz, dtype=np.float64)
    bad = (labels.index < 0) | (labels.index >= len(mz))
    if bad.any():
        raise InputError(f"{labels.path}: index {int(labels.index[bad][0])} outside the {len(mz)} channels")
    diff = np.abs(mz[labels.index] - labels.mz)
    tol = np.maximum(MZ_ATOL, labels.mz * MZ_RTOL_PPM * 1e-6)
    if (diff > tol).any():
        i = int(np.argmax(diff > tol))
        raise InputError(f"{labels.path}: row index {int(labels.index[i])} has m/z {labels.mz[i]:.6f} but the "
                         f"channel's m/z is {mz[labels.index[i]]:.6f}: labels are not aligned with the data")


def load_npz(path: Path, kind: str, require_mz: bool = True
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(images float32 (C, H, W), mz, measured, names) of a cube or ion-image npz.

    Parameters
    ----------
    path : Path
    kind : {"cube", "ion_images"}
        ``cube``: array ``intensities`` (H, W, C); ``ion_images``: array ``images`` (C, H, W).
    require_mz : bool
        Without an ``mz`` array: raise (True) or number the channels 0, 1, ... (False).

    Raises
    ------
    InputError
        Unreadable file, missing or non-3D array, m/z or ``measured`` not matching the images.
    """
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable npz ({exc})") from None
    with z:
        key = "intensities" if kind == "cube" else "images"
        for k in (key, "mz") if require_mz else (key,):
            if k not in z.files:
                raise InputError(f"{path}: missing array {k!r} (has {', '.join(z.files)})")
        arr = np.asarray(z[key])
        if arr.ndim != 3:
            raise InputError(f"{path}: {key} must be 3D, got shape {arr.shape}")
        images = np.ascontiguousarray(np.moveaxis(arr, -1, 0) if kind == "cube" else arr, dtype=np.float32)
        mz = np.asarray(z["mz"], dtype=np.float64).ravel() if "mz" in z.files else \
            np.arange(len(images), dtype=np.float64)
        measured = np.asarray(z["measured"], dtype=bool) if "measured" in z.files else \
            np.ones(images.shape[1:], dtype=bool)
        names = np.asarray(z["species"]).astype(str) if "species" in z.files else None
    if len(mz) != len(images):
        raise InputError(f"{path}: {len(mz)} m/z values for {len(images)} channels")
    if measured.shape != images.shape[1:]:
        raise InputError(f"{path}: measured {measured.shape} does not match the raster {images.shape[1:]}")
    if names is not None and len(names) != len(images):
        names = None
    return images, mz, measured, names


def load_folder(path: str | os.PathLike) -> RealFolder:
    """Open a real-data folder (module docstring): its data, labels by eye and segments, all checked.

    Raises
    ------
    InputError
        No data file, several files of a kind, labels not aligned with the m/z axis, segments not
        on the raster, an imzML without a fixed m/z axis.
    """
    from ..io.msi import open_msi

    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    imzml = _one(folder, "*.imzML")
    cube, stack = _one(folder, CUBE_GLOB), _one(folder, ION_IMAGES_GLOB)
    names = None
    if imzml is not None:
        data = open_msi(imzml)
        if data.mode != "continuous" or data.mz_axis is None:
            raise InputError(f"{imzml}: a real-data folder's imzML must be continuous (a pre-binned peak list)")
        kind, data_path, source = "imzml", imzml, data
        mz, measured = np.asarray(data.mz_axis, dtype=np.float64), np.asarray(data.mask, dtype=bool)
    elif cube is not None or stack is not None:
        kind, data_path = ("cube", cube) if cube is not None else ("ion_images", stack)
        source, mz, measured, names = load_npz(data_path, kind)
    else:
        raise InputError(f"{folder}: no data (<name>.imzML, {CUBE_GLOB} or {ION_IMAGES_GLOB})")
    labels = segments = None
    lab_path, seg_path = _one(folder, LABELS_GLOB), _one(folder, SEGMENTS_GLOB)
    if lab_path is not None:
        labels = read_eye_labels(lab_path)
        align_labels(labels, mz)
    if seg_path is not None:
        try:
            segments = np.load(seg_path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"{seg_path}: not a readable .npy array ({exc})") from None
        if segments.shape != measured.shape:
            raise InputError(f"{seg_path}: segments {segments.shape} do not match the raster {measured.shape}")
        if not np.issubdtype(segments.dtype, np.integer) or segments.min() < 0:
            raise InputError(f"{seg_path}: segments must be non-negative integers (0 = not measured)")
        segments = segments.astype(np.int64)
    return RealFolder(name=folder.name, path=folder, kind=kind, data_path=data_path, source=source, mz=mz,
                      measured=measured, labels=labels, segments=segments, names=names,
                      segments_source=None if seg_path is None else f"file {seg_path.name}")


def segments_from_spectra(cube: np.ndarray, measured: np.ndarray | None = None, k: int = 5, seed: int = 0, *,
                          n_components: int = 8, sigma: float = 1.0) -> np.ndarray:
    """Spatial segments of a section from its spectra alone (the recipe of ``barley_segments.npy``).

    Per measured pixel TIC normalisation (each spectrum divided by its total and multiplied by
    the mean total of the measured pixels), ``log1p``, PCA to ``n_components`` components
    (scikit-learn, ``random_state=seed``), each component map smoothed with a Gaussian of
    ``sigma`` px over the measured pixels only (normalised convolution: the smoothed map over the
    smoothed measured indicator), and k-means with ``k`` clusters (``n_init=10``,
    ``random_state=seed``) on the smoothed components of the measured pixels.

    Parameters
    ----------
    cube : array (H, W, C)
        Intensities, one spectrum per pixel.
    measured : bool array (H, W), optional
        Pixels with a spectrum (default: all).
    k : int
        Number of segments.
    seed : int
        ``random_state`` of the PCA and of k-means.
    n_components, sigma : optional
        PCA components (capped by the data's size) and the smoothing width in pixels.

    Returns
    -------
    int8 array (H, W)
        0 = not measured, 1..k = segments (numbered in k-means' order).

    Raises
    ------
    InputError
        Not a 3D cube, ``measured`` not on its raster, fewer measured pixels than ``k``.
    """
    from scipy import ndimage
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    arr = np.asarray(cube)
    if arr.ndim != 3:
        raise InputError(f"segments_from_spectra: cube must be (H, W, C), got shape {arr.shape}")
    m = np.ones(arr.shape[:2], dtype=bool) if measured is None else np.asarray(measured, dtype=bool)
    if m.shape != arr.shape[:2]:
        raise InputError(f"segments_from_spectra: measured {m.shape} does not match the raster {arr.shape[:2]}")
    if not 1 <= k <= int(m.sum()) or k > 127:
        raise InputError(f"segments_from_spectra: k={k} segments for {int(m.sum())} measured pixels")
    x = np.nan_to_num(arr[m].astype(np.float64))
    tic = x.sum(axis=1, keepdims=True)
    x = np.log1p(x / np.where(tic > 0, tic, 1.0) * tic.mean())
    n_comp = max(1, min(n_components, *x.shape))
    pcs = PCA(n_components=n_comp, random_state=seed).fit_transform(x)
    maps = np.zeros((n_comp,) + m.shape)
    maps[:, m] = pcs.T
    weight = ndimage.gaussian_filter(m.astype(np.float64), sigma)
    smooth = ndimage.gaussian_filter(maps, (0.0, sigma, sigma)) / np.where(weight > 0, weight, 1.0)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(smooth[:, m].T)
    out = np.zeros(m.shape, dtype=np.int8)
    out[m] = labels + 1
    return out


def add_computed_segments(folder: RealFolder, k: int = 5, seed: int = 0) -> bool:
    """Give a folder without a segments file the segments of :func:`segments_from_spectra`.

    Only folders whose data is a spectral cube or imzML (not a few ion images) qualify. Sets
    ``folder.segments`` and ``folder.segments_source`` (:data:`SEGMENTS_RECIPE`) and returns True
    when it computed them.
    """
    if folder.segments is not None or folder.kind not in ("cube", "imzml") or folder.n_channels < 2:
        return False
    images = folder.images()                                   # (C, H, W)
    folder.segments = segments_from_spectra(np.moveaxis(images, 0, -1), folder.measured, k=k,
                                            seed=seed).astype(np.int64)
    folder.segments_source = SEGMENTS_RECIPE if (k, seed) == (5, 0) else \
        SEGMENTS_RECIPE.replace("k=5", f"k={k}").replace("random_state=0", f"random_state={seed}")
    return True


def class_shares(labels: Sequence[str] | np.ndarray) -> dict[str, dict[str, float]]:
    """Counts and fractions of each class of :data:`ionmorph.labels.CLASSES` in ``labels``."""
    labels = np.asarray(labels, dtype=str)
    counts = {c: int((labels == c).sum()) for c in CLASSES}
    n = max(len(labels), 1)
    return {"counts": counts, "fractions": {c: v / n for c, v in counts.items()}}


def agreement(labels: EyeLabels, predicted: Sequence[str] | np.ndarray) -> dict[str, Any]:
    """Classifier vs labels by eye on all labelled channels and on the ``clear`` ones.

    ``predicted`` holds one class name per channel of the axis; rows are matched by index.
    Returns ``{"all": metrics, "clear": metrics or None}`` with the metrics of
    :func:`ionmorph.evaluation.classification.classification_metrics` (confusion: rows = label by eye, columns =
    predicted).
    """
    from .classification import classification_metrics

    pred = np.asarray(predicted, dtype=str)[labels.index]
    yp = np.asarray([CLASSES.index(c) for c in pred], dtype=np.int64)
    y = labels.y
    out: dict[str, Any] = {"all": classification_metrics(y, yp)}
    clear = labels.clear
    out["clear"] = classification_metrics(y[clear], yp[clear]) if clear.any() else None
    return out


def correlations(folder: RealFolder, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r (C, L) of every channel with every segment over the evaluated pixels, and the segments.

    An imzML is streamed (raw channel intensities, SPEC 6); a stack is used as it is.
    """
    from .metrics import pearson_with_classes

    return pearson_with_classes(folder.source, folder.evaluation_mask(), progress=progress)


def baseline_scores(folder: RealFolder, images: np.ndarray, *, n_random: int = DEFAULT_RANDOM_SEEDS,
                    s3pl_epochs: int = 10, s3pl_train_pixels: int | None = 512,
                    progress: bool = False) -> tuple[dict[str, Any], dict[str, float]]:
    """Scores of every baseline of :mod:`ionmorph.picking.baselines` on the channels' ``images``.

    Returns ``(scores, seconds)``: ``scores["random"]`` is a list of ``n_random`` score vectors
    (seeds 0..n_random-1), the others one float64 vector each (higher = pick first). The mean
    spectrum of SNR is the file's own (imzML) or the mean over measured pixels (stack), read at
    each channel (``ppm=0``); SPUTNIK's reference image is the sum of ``images`` (the TIC of the
    candidates).
    """
    from ..picking import baselines as bl

    m = folder.measured
    scores: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    scores["random"] = [bl.random_scores(images[:, :1, :1], seed=s) for s in range(n_random)]
    seconds["random"] = time.perf_counter() - t
    t = time.perf_counter()
    if isinstance(folder.source, np.ndarray):
        spec_mz = folder.mz
        spec_int = images[:, m].mean(axis=1, dtype=np.float64) if m.any() else np.zeros(len(images))
        order = np.argsort(spec_mz, kind="stable")
        snr = np.empty(len(images))
        snr[order] = bl.spectrum_snr(spec_mz[order], spec_mz[order], spec_int[order], ppm=0.0)
        scores["spectrum_snr"] = snr
    else:
        spec_mz, spec_int = folder.source.mean_spectrum()
        scores["spectrum_snr"] = bl.spectrum_snr(folder.mz, np.asarray(spec_mz), np.asarray(spec_int), ppm=0.0)
    seconds["spectrum_snr"] = time.perf_counter() - t
    t = time.perf_counter()
    scores["s3pl"] = bl.s3pl(images, m, epochs=s3pl_epochs, max_train_pixels=s3pl_train_pixels, seed=0,
                             progress=progress)
    seconds["s3pl"] = time.perf_counter() - t
    for name, fn in bl.BASELINE_SCORES.items():   # the image scorers users can pick with too
        if name == "random":                        # scored above, over several seeds
            continue
        t = time.perf_counter()
        scores[name] = fn(images, m)
        seconds[name] = time.perf_counter() - t
    return scores, seconds


def top_k(score: np.ndarray, k: int, group: np.ndarray | None = None) -> np.ndarray:
    """Indices of the channels picked with budget ``k``: the top-k scores, best first.

    With ``group`` only the best-scoring member of each group may be picked, exactly as
    ``pick_peaks(k=k)`` selects (:func:`ionmorph.picking.pick.select`); NaN scores rank last.
    """
    from ..picking.baselines import rank
    from ..picking.pick import select

    s = np.asarray(score, dtype=np.float64)
    s = np.where(np.isnan(s), -np.inf, s)
    order = rank(s)
    return order[select(s, int(k), None, group)[order]]


def mscf1_by_k(scores: dict[str, Any], r: np.ndarray, mz: np.ndarray, classes: np.ndarray,
               ks: Sequence[int] = DEFAULT_KS, group: np.ndarray | None = None) -> dict[str, Any]:
    """mSCF1 of each method's top-k channels at every budget ``k``, plus the best reachable.

    ``scores`` maps a method to a score vector over the axis ``mz`` (higher = picked first), or to
    a list of vectors (then the mean and standard deviation over them are reported, e.g. random
    seeds). With ``group`` (one ion group per channel, ``PickResult.group``) every method picks
    through the groups as ``pick_peaks(k=k)`` does (:func:`top_k`); fewer than ``k`` channels are
    picked when there are fewer groups. Returns ``{"k": [...], "best": [...], "random_expected":
    [...], "true_size": [...], "n_picked": [...], "methods": {name: {"mscf1": [...], "f1": [[per
    threshold] per k], "std": [...] (lists only)}}}`` (plus ``"n_groups"`` with ``group``);
    ``best`` is the best reachable with k picks and ``random_expected`` is :func:`random_expected`,
    both for ungrouped picks.
    """
    from ..picking.baselines import rank
    from .metrics import DEFAULT_THRESHOLDS, mscf1_from_r

    mz = np.asarray(mz, dtype=np.float64)
    ks = [int(k) for k in ks]
    if any(k < 1 for k in ks):
        raise InputError(f"budgets k must be positive, got {ks}")
    order = np.argsort(mz, kind="stable")
    axis = mz[order]
    r_sorted = np.asarray(r)[:, order]
    out: dict[str, Any] = {"k": ks, "best": [], "random_expected": [], "true_size": [], "methods": {},
                           "n_picked": [min(k, len(mz)) for k in ks]}
    if group is not None:
        group = np.asarray(group)
        if group.shape != mz.shape:
            raise InputError(f"group has {group.size} entries for {mz.size} channels")
        n_groups = len(np.unique(group))
        out["n_groups"] = n_groups
        out["n_picked"] = [min(k, n_groups) for k in ks]
    for k in ks:
        ceiling = mscf1_from_r(axis[:min(k, len(axis))], r_sorted, axis, classes=classes)
        out["best"].append(ceiling.best)
        out["true_size"].append(ceiling.true_size.tolist())
        out["random_expected"].append(random_expected(ceiling.true_size, len(axis), min(k, len(axis))))
    for name, s in scores.items():
        vectors = s if isinstance(s, list) else [s]
        vals = np.zeros((len(vectors), len(ks)))
        f1 = np.zeros((len(vectors), len(ks), len(DEFAULT_THRESHOLDS)))
        for i, v in enumerate(vectors):
            for j, k in enumerate(ks):
                res = mscf1_from_r(mz[top_k(v, k, group)], r_sorted, axis, classes=classes)
                vals[i, j] = res.mscf1
                f1[i, j] = res.f1
        entry: dict[str, Any] = {"mscf1": vals.mean(axis=0).tolist(), "f1": f1.mean(axis=0).tolist()}
        if isinstance(s, list):
            entry["std"] = vals.std(axis=0).tolist()
            entry["n_seeds"] = len(vectors)
        out["methods"][name] = entry
    return out


def random_expected(true_size: Sequence[int] | np.ndarray, n_channels: int, k: int) -> float:
    """Expected mSCF1 of ``k`` channels drawn uniformly without replacement from ``n_channels``.

    With ``|T|`` true channels, ``TP`` is hypergeometric with mean ``k |T| / L`` and, the
    denominator ``2TP + FP + FN = k + |T|`` being fixed, ``E[F1(t)] = 2 k |T| / (L (k + |T|))``
    exactly; the result is its mean over the thresholds.
    """
    t = np.asarray(true_size, dtype=np.float64)
    if n_channels < 1 or k < 1:
        return 0.0
    return float(np.mean(2.0 * k * t / (n_channels * np.maximum(k + t, 1.0))))


def weights_version(model: str) -> str | None:
    """The weights version in a ``PickResult.model`` string (``name (architecture, weights X)``), or None."""
    import re

    found = re.search(r"weights ([^)\s]+)\)\s*$", str(model))
    return found.group(1) if found else None


def pick_supports_score() -> bool:
    """True when :func:`ionmorph.pick_peaks` accepts a ``score`` argument."""
    from ..picking.pick import pick_peaks

    return "score" in inspect.signature(pick_peaks).parameters


@dataclass
class FolderScore:
    """The outcome of :func:`score_folder`: the :class:`~ionmorph.picking.pick.PickResult` and a JSON-ready summary."""

    folder: RealFolder
    pick: Any
    summary: dict[str, Any] = field(default_factory=dict)
    #: Correlations (C, L) of the channels (in ``folder.mz`` order) with the segments, and the segment
    #: values; None without segments. For extra rankings with :func:`mscf1_by_k`.
    r: np.ndarray | None = None
    classes: np.ndarray | None = None


def score_folder(folder: RealFolder, *, model: Any = None, revision: str | None = None, score: str | None = None,
                 ks: Sequence[int] = DEFAULT_KS, n_random: int = DEFAULT_RANDOM_SEEDS, s3pl_epochs: int = 10,
                 s3pl_train_pixels: int | None = 512, backend: str = "auto", device: Any = None,
                 baselines: bool = True, compute_segments: bool = True, n_ranking: int = 10,
                 progress: bool = False, norm: str = "none") -> FolderScore:
    """Judge IonMorphNet on one real-data folder.

    Runs :func:`ionmorph.pick_peaks` with every channel of the axis as a candidate; reports the
    predicted class shares, the agreement with the labels by eye (when present), the top of the
    ranking and, with segments, mSCF1 by budget of IonMorphNet (``PickResult.score``) and every
    baseline in both selections of :data:`SELECTIONS` (``summary["mscf1"]``: protocol ranking;
    ``summary["mscf1_grouped"]``: through ``PickResult.group`` as ``pick_peaks(k=k)`` picks).

    Parameters
    ----------
    folder : RealFolder
        From :func:`load_folder`.
    model, revision : optional
        Weights name, folder or Hub id (default :data:`ionmorph.picking.pick.DEFAULT_MODEL`) and tag.
    score : str, optional
        Passed to ``pick_peaks(score=...)``; InputError when this ``pick_peaks`` has no such argument.
    ks : sequence of int
        mSCF1 budgets.
    n_random : int
        Seeds averaged for the random baseline.
    s3pl_epochs, s3pl_train_pixels : int
        S3PL settings (its defaults).
    backend, device : optional
        Inference backend and device, passed to ``pick_peaks``.
    baselines : bool
        Score the classic baselines too (when the folder has segments).
    compute_segments : bool
        Give a cube or imzML folder without a segments file the segments of
        :func:`segments_from_spectra` (:func:`add_computed_segments`).
    n_ranking : int
        Channels listed in ``summary["ranking"]`` (the top of IonMorphNet's ranking).
    progress : bool
        Show progress bars.
    norm : {"none", "tic", "rms"}
        Passed to ``pick_peaks(norm=...)``: the model and the baselines see normalised ion images;
        the mSCF1 ground truth (the channels' correlations with the segments) stays that of the raw
        channels.
    """
    from ..picking.baselines import rank
    from ..picking.pick import DEFAULT_MODEL, SCORES, pick_peaks

    kwargs: dict[str, Any] = folder.pick_kwargs()
    if norm != "none":
        kwargs["norm"] = norm
    if score is not None:
        if not pick_supports_score():
            raise InputError("this ionmorph's pick_peaks has no score= argument; run without --score")
        if score not in SCORES:
            raise InputError(f"score {score!r} is not one of ionmorph.picking.pick.SCORES: {', '.join(SCORES)}")
        kwargs["score"] = score
    if compute_segments:
        add_computed_segments(folder)
    t = time.perf_counter()
    res = pick_peaks(model=DEFAULT_MODEL if model is None else model, revision=revision, backend=backend,
                     device=device, progress=progress, **kwargs)
    classify_s = time.perf_counter() - t
    if len(res) != folder.n_channels or not np.allclose(res.mz, folder.mz):
        raise InputError(f"{folder.path}: pick_peaks returned {len(res)} candidates for the {folder.n_channels} "
                         "channels of the axis (duplicate or out-of-range m/z?)")
    summary: dict[str, Any] = {**folder.describe(), "model": res.model, "weights_version": weights_version(res.model),
                               "score": getattr(res, "scoring", score), "norm": getattr(res, "norm", "none"),
                               "informative": list(res.informative), "predicted": class_shares(res.label),
                               "seconds": {"ionmorphnet": round(classify_s, 3)}}
    summary["per_channel"] = [{"index": i, "mz": float(res.mz[i]), "predicted": str(res.label[i]),
                               "score": float(res.score[i])} for i in range(len(res))]
    if folder.names is not None:
        for row, name in zip(summary["per_channel"], folder.names):
            row["name"] = str(name)
    if folder.labels is not None:
        summary["agreement"] = agreement(folder.labels, res.label)
        for row, lab, conf in zip(folder.labels.index, folder.labels.label, folder.labels.confidence):
            summary["per_channel"][int(row)].update(eye=str(lab), confidence=str(conf))
    summary["ranking"] = [{"rank": j + 1, **summary["per_channel"][int(i)]}
                          for j, i in enumerate(rank(res.score)[:n_ranking])]
    r = classes = None
    if folder.segments is not None:
        t = time.perf_counter()
        r, classes = correlations(folder, progress=progress)
        corr_s = time.perf_counter() - t
        scores: dict[str, Any] = {"ionmorphnet": np.asarray(res.score, dtype=np.float64)}
        seconds: dict[str, float] = {}
        if baselines:
            images = np.asarray(res.images(np.arange(len(res))), dtype=np.float32)   # what the model saw
            extra, seconds = baseline_scores(folder, images, n_random=n_random, s3pl_epochs=s3pl_epochs,
                                             s3pl_train_pixels=s3pl_train_pixels, progress=progress)
            scores.update(extra)
        settings = {"random_seeds": n_random, "s3pl_epochs": s3pl_epochs, "s3pl_train_pixels": s3pl_train_pixels}
        for key, group in (("mscf1", None), ("mscf1_grouped", res.group)):
            summary[key] = {**mscf1_by_k(scores, r, res.mz, classes, ks, group=group), "classes": classes.tolist(),
                            "selection": SELECTIONS[key], "settings": settings}
        summary["seconds"].update({"correlation": round(corr_s, 3), **{m: round(v, 3) for m, v in seconds.items()}})
    return FolderScore(folder=folder, pick=res, summary=summary, r=r, classes=classes)


def sample_channels(n_channels: int, n: int | None) -> np.ndarray:
    """``n`` channel indices evenly spread over ``n_channels`` (all when ``n`` is None or large enough)."""
    if n is None or n >= n_channels:
        return np.arange(n_channels)
    return np.unique(np.round(np.linspace(0, n_channels - 1, max(1, int(n)))).astype(np.int64))


def grid_figure(result: FolderScore, index: Sequence[int] | np.ndarray | None = None, ncols: int | None = None,
                panel_height: float = 1.2, cmap: str = "viridis", title: str | None = None):
    """Ion-image grid of a scored folder: m/z, predicted class and score, label by eye, a colour bar.

    Panels whose prediction differs from the label by eye get a red title; unmeasured pixels are
    drawn in :data:`ionmorph.plotting.UNMEASURED_COLOUR`. ``index`` selects channels (default
    all, in m/z order). Returns a matplotlib Figure.
    """
    import matplotlib as mpl
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from ..plotting import UNMEASURED_COLOUR, display_scale, wrap_to_width

    folder, res = result.folder, result.pick
    idx = np.arange(folder.n_channels) if index is None else np.asarray(index, dtype=np.int64)
    if len(idx) == 0:
        raise InputError("grid_figure: no channels to show")
    eye = {}
    if folder.labels is not None:
        eye = {int(i): (str(lab), str(c)) for i, lab, c in
               zip(folder.labels.index, folder.labels.label, folder.labels.confidence)}
    h, w = folder.shape
    scaled = display_scale(np.asarray(res.images(idx), dtype=np.float32), folder.measured, DISPLAY_QUANTILE)
    ncols = ncols or min(8 if w >= h else 10, math.ceil(math.sqrt(len(idx) * h / max(w, 1))) + 1, len(idx))
    ncols = max(1, min(ncols, len(idx)))
    nrows = math.ceil(len(idx) / ncols)
    pw = panel_height * min(max(w / h, 0.6), 3.0)
    title_lines = 3 if eye else 2
    fig = Figure(figsize=(ncols * max(pw, 1.5) + 1.2,
                          max(3.0, nrows * (panel_height + 0.14 * title_lines + 0.1) + 0.9)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    colours = mpl.colormaps[cmap].with_extremes(bad=UNMEASURED_COLOUR)
    n_disagree = 0
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= len(idx):
            continue
        i = int(idx[k])
        ax.imshow(np.ma.masked_array(scaled[k], mask=~folder.measured), cmap=colours, vmin=0.0, vmax=1.0,
                  interpolation="nearest")
        name = f" {folder.names[i]}" if folder.names is not None else ""
        lines = [f"m/z {res.mz[i]:.4f}{name}", f"pred {res.label[i]} {res.score[i]:.2f}"]
        colour = "black"
        if i in eye:
            lab, conf = eye[i]
            lines.append(f"eye {lab}" + (" (borderline)" if conf == "borderline" else ""))
            if lab != res.label[i]:
                colour = "red"
                n_disagree += 1
        ax.set_title("\n".join(lines), fontsize=6.5, color=colour)
    small = nrows <= 2
    fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), cmap=cmap), ax=axes.tolist(), shrink=0.9 if small else 0.5,
                 aspect=20 if small else 40, label="intensity / 99th percentile\n(measured pixels, hotspot-clipped)")
    note = "grey: not measured"
    if eye:
        note = f"red title: prediction differs from the label by eye ({n_disagree} of {len(eye)} shown labelled); " \
               + note
    text = (title or f"{folder.name}: {len(idx)} of {folder.n_channels} channels ({res.model})") + f"\n{note}"
    fig.suptitle(wrap_to_width(text, fig.get_figwidth() * 0.95, 10), fontsize=10)
    return fig


#: Best segment correlation below which a channel follows no segment (the lowest mSCF1 threshold).
NO_SEGMENT_R = 0.3
#: Best segment correlation from which a channel clearly follows one (the middle mSCF1 threshold).
SEGMENT_R = 0.5


def ranking_misses(result: FolderScore, n: int = 6) -> np.ndarray:
    """Channels the score ranks worst against the segments: the ``n`` best-scored that follow no
    segment (best r < :data:`NO_SEGMENT_R`), then the ``n`` worst-scored that clearly follow one
    (best r >= :data:`SEGMENT_R`). Empty without segment correlations."""
    if result.r is None or result.r.size == 0:
        return np.zeros(0, dtype=np.int64)
    best = result.r.max(axis=0)
    order = np.argsort(-np.nan_to_num(result.pick.score, nan=-np.inf), kind="stable")
    high = [int(i) for i in order if best[i] < NO_SEGMENT_R][:n]
    low = [int(i) for i in order[::-1] if best[i] >= SEGMENT_R][:n]
    return np.asarray(high + low, dtype=np.int64)


def segments_figure(folder: RealFolder, cmap: str = "tab10"):
    """The folder's segments (one colour each, unmeasured pixels grey) and where they come from."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    from ..plotting import UNMEASURED_COLOUR

    if folder.segments is None:
        raise InputError(f"{folder.name}: no segments to show")
    seg = folder.evaluation_mask()
    n = int(seg.max())
    h, w = folder.shape
    fig = Figure(figsize=(min(12.0, 1.5 + 5.0 * w / max(h, w)), 0.9 + 5.0 * h / max(h, w)), layout="constrained")
    ax = fig.subplots()
    colours = mpl.colormaps[cmap].resampled(max(n, 1)).with_extremes(bad=UNMEASURED_COLOUR)
    im = ax.imshow(np.ma.masked_less(seg, 1), cmap=colours, vmin=0.5, vmax=n + 0.5, interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, ticks=np.arange(1, n + 1), label="segment", shrink=0.8)
    src = "computed from the spectra (barley recipe)" if str(folder.segments_source).startswith("computed") \
        else str(folder.segments_source)
    ax.set_title(f"{folder.name}: {n} segments, {src}", fontsize=9)
    return fig


def confusion_figures(result: FolderScore):
    """Confusion matrices (rows = label by eye, columns = predicted) on all and on clear images, with colour bars."""
    from .classification import confusion_figure

    agree = result.summary.get("agreement")
    if not agree:
        raise InputError(f"{result.folder.name}: no labels by eye, no confusion matrix")
    mats = {f"{result.folder.name}: all": np.asarray(agree["all"]["confusion"])}
    if agree.get("clear"):
        mats[f"{result.folder.name}: clear"] = np.asarray(agree["clear"]["confusion"])
    fig = confusion_figure(mats)
    for ax in fig.axes:
        ax.set_ylabel("label by eye")
    for ax in list(fig.axes):
        if ax.images:
            fig.colorbar(ax.images[0], ax=ax, fraction=0.046, pad=0.04, label="share of the row")
    fig.tight_layout()
    return fig
