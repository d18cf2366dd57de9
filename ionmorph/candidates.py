"""Candidate m/z values for peak picking: detected in the mean spectrum, or given by the user.

Detection (:func:`detect_peaks`) works on any mean spectrum, profile or centroid:

1. baseline: a morphological opening (rolling minimum then maximum) over ``baseline_window``
   points is subtracted;
2. noise: floor and level from :func:`noise_stats` (median and scaled MAD for profile spectra;
   0 and the median non-zero value for centroid spectra that are mostly exact zeros);
3. peaks: local maxima whose height above the noise floor and whose prominence both reach
   ``snr`` x noise level (every positive local maximum when the noise level is 0); in a
   pre-binned spectrum (one axis point per peak, told from the peak widths) every point
   reaching that height;
4. centroid: the vertex of a parabola through the log intensities of the top three points
   (exact for Gaussian profile peaks; a lone centroid bin keeps its own m/z);
5. merging: neighbouring centroids closer than ``ppm`` are merged (single linkage) into their
   height-weighted mean m/z, keeping the largest height;
6. resolution: a peak closer than the spectrum's typical FWHM (the median half-height width of
   the strongest quarter of the peaks) to a taller one is a shoulder or a noise wiggle of the
   same unresolved peak and is dropped (matters for low-resolution profile data; skipped for
   pre-binned spectra);
7. cap: the ``max_peaks`` highest peaks are kept; the result is sorted by m/z.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Sequence

import numpy as np

from .errors import InputError

#: MAD to standard deviation for normally distributed noise.
_MAD_TO_SD = 1.4826


def baseline_correct(intensity: np.ndarray, window: int = 101) -> np.ndarray:
    """Intensity minus its morphological opening over ``window`` points (never negative)."""
    from scipy import ndimage

    y = np.asarray(intensity, dtype=np.float64)
    return y - ndimage.grey_opening(y, size=max(1, min(int(window), y.size)))


def noise_stats(corrected: np.ndarray) -> tuple[float, float]:
    """Robust noise floor and noise level of a baseline-corrected spectrum.

    Profile spectra: the opening sits on the noise minima, so the floor is the median and the
    level the scaled MAD of the corrected spectrum. Centroid spectra on a common axis (more than
    half of the points exactly 0): the floor is 0 and the level the median non-zero value, since
    most non-zero bins hold sporadic noise peaks. Both are 0 for an all-zero spectrum.
    """
    y = np.asarray(corrected, dtype=np.float64)
    if np.count_nonzero(y) * 2 < y.size:
        nonzero = y[y != 0]
        return 0.0, float(np.median(np.abs(nonzero))) if nonzero.size else 0.0
    floor = float(np.median(y))
    return floor, float(_MAD_TO_SD * np.median(np.abs(y - floor)))


def _validate_spectrum(mz: np.ndarray, intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mz = np.asarray(mz, dtype=np.float64)
    y = np.asarray(intensity, dtype=np.float64)
    if mz.ndim != 1 or mz.shape != y.shape:
        raise InputError(f"mean spectrum m/z {mz.shape} and intensity {y.shape} must be 1D of equal length")
    if not np.all(np.isfinite(mz)) or np.any(np.diff(mz) <= 0):
        raise InputError("mean spectrum m/z axis must be finite and strictly increasing")
    return mz, np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)


def _centroids(mz: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Parabolic (log-intensity) vertex of each peak ``idx``, interpolated on the m/z axis."""
    left = np.clip(idx - 1, 0, y.size - 1)
    right = np.clip(idx + 1, 0, y.size - 1)
    a, b, c = y[left], y[idx], y[right]
    tiny = np.finfo(np.float64).tiny
    la, lb, lc = (np.log(np.maximum(v, tiny)) for v in (a, b, c))
    usable = (a > 0) & (c > 0) & (b > 0)
    la, lc = np.where(usable, la, lb), np.where(usable, lc, lb)  # a lone bin keeps its position
    denom = la - 2 * lb + lc
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (la - lc) / denom, 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    return np.interp(idx + delta, np.arange(mz.size), mz)


def merge_within_ppm(mz: np.ndarray, height: np.ndarray, ppm: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge sorted centroids closer than ``ppm`` into height-weighted means (single linkage).

    Returns the merged m/z and the largest height of each group.
    """
    mz = np.asarray(mz, dtype=np.float64)
    height = np.asarray(height, dtype=np.float64)
    if mz.size == 0:
        return mz, height
    gap_ok = np.diff(mz) <= mz[1:] * ppm * 1e-6
    group = np.concatenate([[0], np.cumsum(~gap_ok)])
    w = np.maximum(height, np.finfo(np.float64).tiny)
    merged = np.bincount(group, weights=mz * w) / np.bincount(group, weights=w)
    top = np.full(group[-1] + 1, -np.inf)
    np.maximum.at(top, group, height)
    return merged, top


def typical_fwhm_ppm(mz: np.ndarray, y: np.ndarray, idx: np.ndarray) -> float:
    """Median full width at half maximum (ppm) of the strongest quarter of the peaks ``idx``."""
    from scipy import signal

    if idx.size == 0:
        return 0.0
    strong = idx[y[idx] >= np.quantile(y[idx], 0.75)]
    _, _, left, right = signal.peak_widths(y, strong, rel_height=0.5)
    pos = np.arange(mz.size)
    width = np.interp(right, pos, mz) - np.interp(left, pos, mz)
    return float(np.median(width / mz[strong] * 1e6))


def suppress_within_ppm(mz: np.ndarray, height: np.ndarray, ppm: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop every peak closer than ``ppm`` to a taller kept peak (greedy, tallest first)."""
    kept: list[int] = []
    kept_mz = np.empty(0)
    for i in np.argsort(-height, kind="stable"):
        j = np.searchsorted(kept_mz, mz[i])
        near = [kept_mz[k] for k in (j - 1, j) if 0 <= k < kept_mz.size]
        if all(abs(m - mz[i]) > mz[i] * ppm * 1e-6 for m in near):
            kept.append(int(i))
            kept_mz = np.insert(kept_mz, j, mz[i])
    keep = np.sort(np.asarray(kept, dtype=np.int64))
    return mz[keep], height[keep]


#: Half-height width (axis points) under which the strongest peaks count as lone points.
LONE_POINT_WIDTH = 1.6


def is_prebinned(y: np.ndarray, idx: np.ndarray) -> bool:
    """Whether the strongest quarter of the peaks ``idx`` of ``y`` are lone points (pre-binned data).

    A profile peak spans several axis points at half height (about 2.5 or more); a pre-binned
    channel stands alone (about 1). Decided from the data, since imzML files do not always
    declare their spectrum type correctly.
    """
    from scipy import signal

    if idx.size == 0:
        return False
    strong = idx[y[idx] >= np.quantile(y[idx], 0.75)]
    return bool(np.median(signal.peak_widths(y, strong, rel_height=0.5)[0]) < LONE_POINT_WIDTH)


#: Default minimum fraction of spectra holding a peak for a centroid-data candidate (0.5 %).
MIN_FREQUENCY = 0.005


def detect_peaks(
    mz: np.ndarray,
    intensity: np.ndarray,
    *,
    snr: float = 3.0,
    ppm: float = 10.0,
    max_peaks: int | None = 2000,
    baseline_window: int = 101,
    binned: bool | None = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of a mean spectrum (module docstring); returns (m/z sorted, SNR) as float64.

    ``binned``: the spectrum is pre-binned (every axis point is a peak position, neighbours are
    different ions), so every point whose height reaches the level is a peak; no local-maximum
    test, parabola or resolution step. None decides from the data (:func:`is_prebinned`).
    """
    from scipy import signal

    mz, y = _validate_spectrum(mz, intensity)
    if y.size < 3:
        return np.empty(0), np.empty(0)
    corrected = baseline_correct(y, baseline_window)
    floor, noise = noise_stats(corrected)
    above = corrected - floor
    level = snr * noise if noise > 0 else np.finfo(np.float64).tiny
    idx, _ = signal.find_peaks(above, height=level, prominence=level)
    if binned is None:
        binned = is_prebinned(above, idx)
    if binned:
        idx = np.flatnonzero(above >= level)
        cmz = mz[idx]
    else:
        cmz = _centroids(mz, y, idx)
    height = above[idx] / (noise if noise > 0 else 1.0)
    cmz, height = merge_within_ppm(cmz, height, ppm)
    fwhm = 0.0 if binned else typical_fwhm_ppm(mz, above, idx)
    if fwhm > ppm:
        cmz, height = suppress_within_ppm(cmz, height, fwhm)
    if max_peaks is not None and cmz.size > max_peaks:
        keep = np.sort(np.argsort(-height, kind="stable")[:max_peaks])
        cmz, height = cmz[keep], height[keep]
    return cmz, height


def _user_list(values: Sequence[float] | np.ndarray, source: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise InputError(f"{source}: m/z values must be finite and positive; bad: {arr[bad][:5].tolist()}")
    return np.unique(arr)


def _is_centroid(data: Any) -> bool:
    """Centroid data: declared so, or processed data not declared as profile."""
    kind = getattr(data, "spectrum_type", None)
    return kind == "centroid" or (kind is None and getattr(data, "mode", None) == "processed")


def window_frequency(centres: np.ndarray, axis: np.ndarray, frequency: np.ndarray, ppm: float) -> np.ndarray:
    """Sum of per-bin peak frequencies within +/- ``ppm`` of each centre (clipped to 1)."""
    cum = np.concatenate([[0.0], np.cumsum(frequency, dtype=np.float64)])
    lo = np.searchsorted(axis, centres * (1 - ppm * 1e-6), "left")
    hi = np.searchsorted(axis, centres * (1 + ppm * 1e-6), "right")
    return np.minimum(cum[hi] - cum[lo], 1.0)


def candidate_mz(
    data: Any,
    *,
    snr: float = 3.0,
    ppm: float = 10.0,
    max_peaks: int | None = 2000,
    mz: Sequence[float] | np.ndarray | None = None,
    labels: str | os.PathLike | None = None,
    min_mz: float | None = None,
    max_mz: float | None = None,
    min_frequency: float | None = None,
) -> np.ndarray:
    """Candidate m/z values of a dataset (float64, sorted ascending, unique).

    Parameters
    ----------
    data : ionmorph.msi.MSIData or None
        The dataset; its ``mean_spectrum()`` is searched for peaks unless ``mz`` or ``labels`` is
        given (then ``data`` may be None, else its ``mz_range`` filters the list with a warning).
    snr, ppm, max_peaks : float, float, int or None
        Detection settings (see :func:`detect_peaks`); ``max_peaks`` caps detection only.
    mz : sequence of float, optional
        A user list of m/z values (validated, sorted, duplicates removed).
    labels : path, optional
        A label CSV in the published format (SPEC 4); its ``mz`` column is the list.
    min_mz, max_mz : float, optional
        Keep only candidates inside this range (applied before the detection cap).
    min_frequency : float, optional
        Keep only detected peaks found (within +/- ``ppm``) in at least this fraction of the
        spectra, applied before the cap. Default: :data:`MIN_FREQUENCY` for centroid data, where
        isolated noise peaks would otherwise fill the cap, and 0 (off) for profile data.
    """
    if mz is not None and labels is not None:
        raise InputError("give either mz= or labels=, not both")
    if mz is not None or labels is not None:
        if labels is not None:
            from .labels import read_label_csv

            out = _user_list([row.mz for row in read_label_csv(labels)], str(labels))
        else:
            out = _user_list(mz, "mz list")
        if data is not None:
            lo, hi = data.mz_range
            inside = (out >= lo) & (out <= hi)
            if not inside.all():
                warnings.warn(f"{int((~inside).sum())} candidate m/z outside the data's range "
                              f"{lo:.4f}-{hi:.4f} dropped", stacklevel=2)
            out = out[inside]
    else:
        if data is None:
            raise InputError("candidate_mz needs data (for peak detection) or an mz= / labels= list")
        centroid = _is_centroid(data)
        if min_frequency is None:
            min_frequency = MIN_FREQUENCY if centroid else 0.0
        if min_frequency > 0:
            spec_mz, spec_int, freq = (np.asarray(a) for a in data.mean_spectrum(frequency=True))
        else:
            spec_mz, spec_int = (np.asarray(a) for a in data.mean_spectrum())
        keep = np.ones(spec_mz.shape, dtype=bool)
        if min_mz is not None:
            keep &= spec_mz >= min_mz
        if max_mz is not None:
            keep &= spec_mz <= max_mz
        binned = None if getattr(data, "mz_axis", None) is not None else False
        out, height = detect_peaks(spec_mz[keep], spec_int[keep], snr=snr, ppm=ppm, max_peaks=None, binned=binned)
        if min_frequency > 0:
            ok = window_frequency(out, spec_mz, freq, ppm) >= min_frequency
            out, height = out[ok], height[ok]
        if max_peaks is not None and out.size > max_peaks:
            out = np.sort(out[np.argsort(-height, kind="stable")[:max_peaks]])
    if min_mz is not None:
        out = out[out >= min_mz]
    if max_mz is not None:
        out = out[out <= max_mz]
    return out
