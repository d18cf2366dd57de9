"""mSCF1, the evaluation of a picked peak list against a segmentation mask (SPEC 6).

1. ``r[c, j]``: Pearson correlation, over the measured pixels, between the indicator
   ``mask == c`` and the raw intensities of axis channel ``j`` (NaN, e.g. a constant channel,
   counts as 0). Every class present among the measured pixels counts, background included;
   negative mask values mark pixels left out of the evaluation.
2. For a threshold ``t``: sort class ``c``'s channels by ``r`` descending and find the position
   ``n`` of the sorted value closest to ``t`` (the first on ties); the true set of ``c`` is the
   ``n`` channels ranked above it (the closest channel itself is not included). ``T(t)`` is the
   union over the classes.
3. Picks are snapped to the nearest axis channel (duplicates collapse); with ``P`` the snapped
   set, ``F1(t) = 2TP / (2TP + FP + FN)`` and 0 when ``TP = 0``.
4. mSCF1 is the mean of ``F1(t)`` over the thresholds (default 0.3, 0.4, 0.5, 0.6).

The correlations are computed without a Python loop over channels: per block, shifted sums and
sums of squares give each channel's variance, and one matrix product of the block with the
centred class indicators gives all covariances. Channel stacks are processed in channel blocks
(exact two-pass statistics); imzML files are streamed in pixel chunks (float64 accumulation
around a per-channel shift taken from the first chunk, which avoids cancellation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import InputError

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6)
#: Float32 values per block of the channel-stack path (about 256 MB).
_BLOCK_VALUES = 1 << 26


@dataclass(frozen=True)
class MSCF1Result:
    """Scores of one picked list on one section.

    Attributes
    ----------
    mscf1 : float
        Mean of ``f1`` over the thresholds.
    thresholds : tuple of float
    f1 : numpy.ndarray
        F1 per threshold.
    best : float
        Best reachable mSCF1 with ``k`` picks: mean of ``2 min(k, |T|) / (k + |T|)``.
    best_f1 : numpy.ndarray
        That bound per threshold.
    class_f1 : numpy.ndarray
        (n_thresholds, n_classes) F1 of the picks against each class's own true set.
    classes : numpy.ndarray
        Mask values of the classes, in ``class_f1`` column order.
    true_size : numpy.ndarray
        ``|T(t)|`` per threshold.
    class_true_size : numpy.ndarray
        (n_thresholds, n_classes) sizes of the per-class true sets.
    k : int
        Number of distinct picked channels after snapping.
    """

    mscf1: float
    thresholds: tuple[float, ...]
    f1: np.ndarray
    best: float
    best_f1: np.ndarray
    class_f1: np.ndarray
    classes: np.ndarray
    true_size: np.ndarray
    class_true_size: np.ndarray
    k: int

    @property
    def per_class(self) -> dict[int, float]:
        """Mean over thresholds of the per-class F1, keyed by mask value."""
        return {int(c): float(v) for c, v in zip(self.classes, self.class_f1.mean(axis=0))}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "mscf1": self.mscf1,
            "thresholds": list(self.thresholds),
            "f1": self.f1.tolist(),
            "best": self.best,
            "best_f1": self.best_f1.tolist(),
            "per_class_f1": {str(c): v for c, v in self.per_class.items()},
            "true_size": self.true_size.tolist(),
            "class_true_size": self.class_true_size.tolist(),
            "k": self.k,
        }


def _block_sums(block: np.ndarray, shift: np.ndarray, zc: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sums of a channel-major (L, n) block around ``shift``: S1, S2 (float64, (L,)) and D (L, C).

    ``D = (block - shift) @ zc``; with ``zc`` centred over all pixels the shift cancels in the
    total over blocks.
    """
    x = block.astype(np.float32, copy=True)
    np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    x -= shift[:, None].astype(np.float32)
    s1 = x.sum(axis=1, dtype=np.float64)
    d = (x @ zc.astype(np.float32)).astype(np.float64)
    np.multiply(x, x, out=x)
    s2 = x.sum(axis=1, dtype=np.float64)
    return s1, s2, d


def _indicators(labels: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes, centred indicator matrix (n, C) and the kept-pixel selector of 1D labels."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise InputError(f"{source}: the segmentation mask must hold integer class labels")
        labels = labels.astype(np.int64)
    keep = labels >= 0
    classes = np.unique(labels[keep])
    if classes.size == 0:
        raise InputError(f"{source}: the segmentation mask labels no measured pixel")
    z = (labels[keep][:, None] == classes[None, :]).astype(np.float64)
    return classes, z - z.mean(axis=0), keep


def _finish(s1: np.ndarray, s2: np.ndarray, d: np.ndarray, zc: np.ndarray, n: int) -> np.ndarray:
    """Pearson r (C, L) from the accumulated sums; undefined values become 0."""
    var_x = np.maximum(s2 - s1 * s1 / n, 0.0)
    var_z = (zc * zc).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = d / np.sqrt(var_x[:, None] * var_z[None, :])
    r[~np.isfinite(r)] = 0.0
    return np.clip(r, -1.0, 1.0).T


def _channel_blocks(channels: Any, n_channels: int, n_pixels: int) -> Iterable[tuple[int, np.ndarray]]:
    """Yield (start, (L_block, n_pixels) block) from a callable ``channels(start, stop)``."""
    step = max(1, _BLOCK_VALUES // max(1, n_pixels))
    for start in range(0, n_channels, step):
        yield start, channels(start, min(n_channels, start + step))


def _pearson_channel_major(channels: Any, n_channels: int, labels: np.ndarray, source: str,
                           progress: bool) -> tuple[np.ndarray, np.ndarray]:
    from tqdm.auto import tqdm

    classes, zc, keep = _indicators(labels, source)
    n = int(keep.sum())
    r = np.zeros((classes.size, n_channels))
    pick = slice(None) if keep.all() else keep
    blocks = _channel_blocks(lambda a, b: channels(a, b)[:, pick], n_channels, keep.size)
    with tqdm(total=n_channels, disable=not progress, desc="correlating channels", unit="ch") as bar:
        for start, block in blocks:
            shift = block.mean(axis=1, dtype=np.float64) if block.size else np.zeros(len(block))
            s1, s2, d = _block_sums(block, np.nan_to_num(shift), zc)
            r[:, start:start + len(block)] = _finish(s1, s2, d, zc, n)
            bar.update(len(block))
    return r, classes


def _pearson_msi(data: Any, mask: np.ndarray, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    from tqdm.auto import tqdm

    if data.mode != "continuous" or data.mz_axis is None:
        raise InputError(f"{data.path}: mSCF1 needs a fixed m/z axis (continuous imzML); "
                         "bin processed data first")
    if mask.shape != tuple(data.shape):
        raise InputError(f"{data.path}: mask shape {mask.shape} does not match the raster {tuple(data.shape)}")
    coords = np.asarray(data.coords)
    labels = mask[coords[:, 0], coords[:, 1]]
    classes, zc_kept, keep = _indicators(labels, str(data.path))
    zc = np.zeros((labels.size, classes.size))
    zc[keep] = zc_kept
    n_channels = len(data.mz_axis)
    s1, s2 = np.zeros(n_channels), np.zeros(n_channels)
    d = np.zeros((n_channels, classes.size))
    shift = None
    with tqdm(total=labels.size, disable=not progress, desc="correlating pixels", unit="px") as bar:
        for idx, _, block in data.spectra():
            idx = np.asarray(idx)
            sel = keep[idx]
            block = np.asarray(block)[sel].T
            if shift is None and block.shape[1]:
                shift = np.nan_to_num(block.mean(axis=1, dtype=np.float64))
            if block.shape[1]:
                b1, b2, bd = _block_sums(block, shift, zc[idx[sel]])
                s1 += b1
                s2 += b2
                d += bd
            bar.update(len(idx))
    return _finish(s1, s2, d, zc_kept, int(keep.sum())), classes


def pearson_with_classes(
    data: Any,
    mask: np.ndarray,
    *,
    measured: np.ndarray | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r of every channel with every class indicator, over the measured pixels.

    Parameters
    ----------
    data : array (L, H, W), array (n_pixels, L) or ionmorph.io.msi.MSIData
        A channel stack, a pixel-by-channel matrix (then ``mask`` is 1D, one label per row), or a
        continuous-mode dataset streamed in pixel chunks (its own pixel mask applies).
    mask : int array (H, W) or (n_pixels,)
        Class label per pixel; negative values are left out.
    measured : bool array (H, W), optional
        For a channel stack: pixels that have a spectrum (default: all).
    progress : bool
        Show a progress bar.

    Returns
    -------
    r : numpy.ndarray
        float64 (C, L), NaN replaced by 0.
    classes : numpy.ndarray
        The mask values of the C classes (sorted).
    """
    mask = np.asarray(mask)
    if hasattr(data, "spectra") and hasattr(data, "coords"):
        return _pearson_msi(data, mask, progress)
    arr = data if isinstance(data, np.memmap) else np.asarray(data)
    if arr.ndim == 3:
        n_ch, h, w = arr.shape
        if mask.shape != (h, w):
            raise InputError(f"mask shape {mask.shape} does not match the channel stack's raster {(h, w)}")
        labels = mask.reshape(-1)
        if measured is not None:
            measured = np.asarray(measured, dtype=bool)
            if measured.shape != (h, w):
                raise InputError(f"measured shape {measured.shape} does not match the raster {(h, w)}")
            labels = np.where(measured.reshape(-1), labels, -1)
        flat = arr.reshape(n_ch, h * w)
        return _pearson_channel_major(lambda a, b: flat[a:b], n_ch, labels, "channel stack", progress)
    if arr.ndim == 2:
        if mask.shape != (arr.shape[0],):
            raise InputError(f"a (n_pixels, L) matrix needs a 1D mask of {arr.shape[0]} labels, got {mask.shape}")
        return _pearson_channel_major(lambda a, b: arr[:, a:b].T, arr.shape[1], mask, "pixel matrix", progress)
    raise InputError(f"data must be a (L, H, W) stack, a (n_pixels, L) matrix or an MSIData, got shape {arr.shape}")


def true_sets(r: np.ndarray, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Boolean (n_thresholds, C, L): channel ``j`` is in class ``c``'s true set at threshold ``t``."""
    r = np.nan_to_num(np.asarray(r, dtype=np.float64))
    order = np.argsort(-r, axis=1, kind="stable")
    ranked = np.take_along_axis(r, order, axis=1)
    out = np.zeros((len(thresholds),) + r.shape, dtype=bool)
    rows = np.arange(r.shape[0])[:, None]
    positions = np.arange(r.shape[1])[None, :]
    for i, t in enumerate(thresholds):
        cut = np.argmin(np.abs(ranked - t), axis=1)
        out[i, rows, order] = positions < cut[:, None]
    return out


def snap_to_axis(picked_mz: Sequence[float] | np.ndarray, mz_axis: np.ndarray) -> np.ndarray:
    """Indices of the axis channels nearest to the picks (sorted, unique)."""
    axis = np.asarray(mz_axis, dtype=np.float64)
    picks = np.asarray(picked_mz, dtype=np.float64).ravel()
    if axis.ndim != 1 or axis.size == 0 or np.any(np.diff(axis) <= 0):
        raise InputError("the m/z axis must be 1D, non-empty and strictly increasing")
    if not np.all(np.isfinite(picks)):
        raise InputError("picked m/z values must be finite")
    if axis.size == 1:
        return np.zeros(min(1, picks.size), dtype=np.int64)
    hi = np.clip(np.searchsorted(axis, picks), 1, axis.size - 1)
    lo = hi - 1
    return np.unique(np.where(picks - axis[lo] <= axis[hi] - picks, lo, hi))


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)


def mscf1_from_r(
    picked_mz: Sequence[float] | np.ndarray,
    r: np.ndarray,
    mz_axis: np.ndarray,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    classes: np.ndarray | None = None,
) -> MSCF1Result:
    """mSCF1 of picks given precomputed correlations ``r`` (C, L) on ``mz_axis`` (L,)."""
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != len(mz_axis):
        raise InputError(f"correlations {r.shape} do not match the m/z axis of {len(mz_axis)} channels")
    thresholds = tuple(float(t) for t in thresholds)
    picked = np.zeros(r.shape[1], dtype=bool)
    picked[snap_to_axis(picked_mz, mz_axis)] = True
    k = int(picked.sum())
    per_class = true_sets(r, thresholds)                      # (T, C, L)
    union = per_class.any(axis=1)                             # (T, L)
    tp = (union & picked).sum(axis=1)
    size = union.sum(axis=1)
    f1 = _f1(tp, k - tp, size - tp)
    ctp = (per_class & picked).sum(axis=2)
    csize = per_class.sum(axis=2)
    class_f1 = _f1(ctp, k - ctp, csize - ctp)
    best_f1 = _f1(np.minimum(k, size), np.maximum(k - size, 0), np.maximum(size - k, 0))
    return MSCF1Result(
        mscf1=float(f1.mean()), thresholds=thresholds, f1=f1, best=float(best_f1.mean()), best_f1=best_f1,
        class_f1=class_f1, classes=np.arange(r.shape[0]) if classes is None else np.asarray(classes),
        true_size=size, class_true_size=csize, k=k,
    )


def mscf1(
    picked_mz: Sequence[float] | np.ndarray,
    data: Any,
    mask: np.ndarray,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    mz_axis: np.ndarray | None = None,
    *,
    measured: np.ndarray | None = None,
    progress: bool = False,
) -> MSCF1Result:
    """mSCF1 of a picked m/z list on one section (module docstring, SPEC 6).

    Parameters
    ----------
    picked_mz : sequence of float
        The picked peaks; each is snapped to the nearest axis channel.
    data, mask, measured, progress
        As in :func:`pearson_with_classes`.
    thresholds : sequence of float
        Correlation thresholds averaged over.
    mz_axis : array (L,), optional
        The channels' m/z; required for arrays, taken from ``data.mz_axis`` for an MSIData.
    """
    if mz_axis is None:
        mz_axis = getattr(data, "mz_axis", None)
        if mz_axis is None:
            raise InputError("mscf1 needs mz_axis= for array data (or a continuous MSIData)")
    r, classes = pearson_with_classes(data, mask, measured=measured, progress=progress)
    return mscf1_from_r(picked_mz, r, np.asarray(mz_axis), thresholds, classes)
