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

What :func:`candidate_mz` searches, by how the file stores its spectra:

- **peak lists** (a continuous axis of at most :data:`PEAK_LIST_MAX_CHANNELS` channels, unevenly
  spaced or on a unit-mass grid, :func:`is_peak_list`, e.g. a file exported after peak picking or
  ToF-SIMS unit-mass channels): every channel holding signal is a candidate, no detection (capped
  at ``max_peaks`` by mean intensity);
- **continuous** files: the mean spectrum on the shared axis;
- **processed profile** files: when every spectrum has as many points as the first one and spans
  the same m/z range, the mean spectrum is binned on the first spectrum's own points, so a recording
  stored processed gives exactly the candidates it gives stored continuous; otherwise on
  constant-ppm bins at the spectra's point spacing, with bins that no point falls into left out
  (a bin grid finer than the points would make a comb of false maxima);
- **processed centroid** files: constant-ppm bins, peaks kept when found in at least
  :data:`MIN_FREQUENCY` of the spectra.

:func:`estimate_ppm` turns the mean spectrum's peak widths into an ion-image half-width, and
:func:`read_candidate_table` reads a user's candidate list with its extra columns.
"""
from __future__ import annotations

import contextlib
import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InputError, MSIFormatError, warn_external

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


#: Most channels a continuous axis may have to count as a peak list (:func:`is_peak_list`).
PEAK_LIST_MAX_CHANNELS = 10_000
#: Median absolute log ratio of consecutive channel gaps above which an axis is unevenly spaced
#: (an instrument's profile axis or a binned grid has gaps that change smoothly: about 0-0.01).
PEAK_LIST_IRREGULARITY = 0.5


def is_unit_grid(axis: np.ndarray) -> bool:
    """Whether an m/z axis is a channel grid of nominal masses: evenly spaced (every gap within
    0.1 % of the first) by at least :data:`UNIT_GRID_MIN_STEP` Da, as in ToF-SIMS or low-resolution
    data binned to unit mass (1, 2, 3, ...). No instrument's profile axis is that coarse, so each
    point is a channel of its own."""
    a = np.asarray(axis, dtype=np.float64)
    if a.size < 2:
        return False
    gaps = np.diff(a)
    return bool(gaps[0] >= UNIT_GRID_MIN_STEP and np.all(np.abs(gaps - gaps[0]) <= 1e-3 * gaps[0]))


#: Smallest even spacing (Da) of an m/z axis that :func:`is_unit_grid` takes for a channel grid.
UNIT_GRID_MIN_STEP = 0.5


def is_peak_list(axis: np.ndarray) -> bool:
    """Whether a continuous m/z axis is a list of channels (every point a candidate): few channels
    (at most :data:`PEAK_LIST_MAX_CHANNELS`), and either unevenly spaced (the median absolute log
    ratio of consecutive gaps above :data:`PEAK_LIST_IRREGULARITY`) or a unit-mass grid
    (:func:`is_unit_grid`). Axes of fewer than four channels count as peak lists."""
    a = np.asarray(axis, dtype=np.float64)
    if a.size > PEAK_LIST_MAX_CHANNELS:
        return False
    if a.size < 4:
        return True
    gaps = np.diff(a)
    if np.any(gaps <= 0):
        return False
    return is_unit_grid(a) or bool(np.median(np.abs(np.log(gaps[1:] / gaps[:-1]))) > PEAK_LIST_IRREGULARITY)


#: Bounds (ppm) of an estimated ion-image half-width (linear-TOF protein peaks reach ~1,000 ppm).
PPM_BOUNDS = (1.0, 2000.0)


def estimate_ppm(mz: np.ndarray, intensity: np.ndarray, *, snr: float = 10.0) -> float | None:
    """Ion-image half-width (ppm) from a mean spectrum's peak widths: half the typical FWHM.

    The typical FWHM is :func:`typical_fwhm_ppm` of the peaks reaching ``snr`` (it includes the mass
    calibration drift between pixels, which an ion-image window must cover too); the half-width
    is rounded to 0.1 ppm and kept within :data:`PPM_BOUNDS`. Returns None when the spectrum has
    no measurable peak width: a pre-binned spectrum or peak list (one point per peak), or no peaks.
    Meant for profile spectra: the binned mean spectrum of centroid data shows how closely the
    pixels' centroids agree, not the width of the instrument's peaks.
    """
    from scipy import signal

    mz, y = _validate_spectrum(mz, intensity)
    if y.size < 3:
        return None
    corrected = baseline_correct(y)
    floor, noise = noise_stats(corrected)
    above = corrected - floor
    level = snr * noise if noise > 0 else np.finfo(np.float64).tiny
    idx, _ = signal.find_peaks(above, height=level, prominence=level)
    if idx.size == 0 or is_prebinned(above, idx):
        return None
    fwhm = typical_fwhm_ppm(mz, above, idx)
    if not np.isfinite(fwhm) or fwhm <= 0:
        return None
    return float(np.clip(round(fwhm / 2, 1), *PPM_BOUNDS))


def _user_list(values: Sequence[float] | np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique m/z of a user list and, for each, the index of its first occurrence."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise InputError(f"{source}: m/z values must be finite and positive; bad: {arr[bad][:5].tolist()}")
    return np.unique(arr, return_index=True)


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


def _reference_axis(data: Any) -> np.ndarray | None:
    """The first spectrum's m/z points when every spectrum has as many and spans the same range."""
    lengths = np.asarray(data.spectrum_lengths)
    if lengths.size == 0 or lengths[0] < 2 or np.any(lengths != lengths[0]):
        return None
    ref = np.asarray(next(iter(data.spectra(chunk=1))).mz[0], dtype=np.float64)
    lo, hi = data.mz_range
    if ref[0] != lo or ref[-1] != hi or np.any(np.diff(ref) <= 0):
        return None
    return ref


def mean_spectrum(data: Any, frequency: bool = False) -> tuple[np.ndarray, ...]:
    """The mean spectrum candidates are searched in (module docstring, by storage).

    Returns (m/z, intensity) or, with ``frequency``, also the fraction of spectra holding a peak
    at each point (float64 arrays).
    """
    if getattr(data, "mz_axis", None) is not None or getattr(data, "spectrum_type", None) != "profile":
        return tuple(np.asarray(a) for a in data.mean_spectrum(frequency=True)) if frequency else \
            tuple(np.asarray(a) for a in data.mean_spectrum())
    ref = _reference_axis(data)
    if ref is not None:
        mid = (ref[1:] + ref[:-1]) / 2
        edges = np.concatenate([[ref[0] - (mid[0] - ref[0])], mid, [ref[-1] + (ref[-1] - mid[-1])]])
        _, y, freq = (np.asarray(a) for a in data.mean_spectrum(bins=edges, frequency=True))
        return (ref, y, freq) if frequency else (ref, y)
    m, y, freq = (np.asarray(a) for a in data.mean_spectrum(frequency=True))
    filled = freq > 0
    return (m[filled], y[filled], freq[filled]) if frequency else (m[filled], y[filled])


@contextlib.contextmanager
def _naming_file(data: Any) -> Iterator[None]:
    """Re-raise an :class:`ionmorph.errors.InputError` of the block (a mean spectrum that cannot be
    searched) as an :class:`ionmorph.errors.MSIFormatError` naming ``data``'s file."""
    try:
        yield
    except InputError as exc:
        path = getattr(data, "path", None)
        if path is None:
            raise
        raise MSIFormatError(path, str(exc)) from None


def _detected(data: Any, spectrum: tuple[np.ndarray, ...], *, snr: float, ppm: float, max_peaks: int | None,
              min_mz: float | None, max_mz: float | None, min_frequency: float) -> np.ndarray:
    """Candidates of a dataset from its mean ``spectrum`` (m/z, intensity[, frequency])."""
    with _naming_file(data):
        return _detected_in(data, spectrum, snr=snr, ppm=ppm, max_peaks=max_peaks, min_mz=min_mz, max_mz=max_mz,
                            min_frequency=min_frequency)


def _detected_in(data: Any, spectrum: tuple[np.ndarray, ...], *, snr: float, ppm: float, max_peaks: int | None,
                 min_mz: float | None, max_mz: float | None, min_frequency: float) -> np.ndarray:
    spec_mz, spec_int = spectrum[0], spectrum[1]
    keep = np.ones(spec_mz.shape, dtype=bool)
    if min_mz is not None:
        keep &= spec_mz >= min_mz
    if max_mz is not None:
        keep &= spec_mz <= max_mz
    axis = getattr(data, "mz_axis", None)
    if axis is not None and is_peak_list(axis):
        keep &= spec_int > 0
        out, height = spec_mz[keep], spec_int[keep]
    else:
        binned = None if axis is not None else False
        out, height = detect_peaks(spec_mz[keep], spec_int[keep], snr=snr, ppm=ppm, max_peaks=None, binned=binned)
        if min_frequency > 0:
            ok = window_frequency(out, spec_mz, spectrum[2], ppm) >= min_frequency
            out, height = out[ok], height[ok]
    if max_peaks is not None and out.size > max_peaks:
        out = np.sort(out[np.argsort(-height, kind="stable")[:max_peaks]])
    return out


def _in_range(data: Any, out: np.ndarray, ppm: float) -> np.ndarray:
    """Which user m/z have a +/- ``ppm`` window overlapping the data's m/z range (warns about the rest)."""
    lo, hi = data.mz_range
    inside = (out * (1 + ppm * 1e-6) >= lo) & (out * (1 - ppm * 1e-6) <= hi)
    if not inside.all():
        warn_external(f"{int((~inside).sum())} candidate m/z whose +/- {ppm:g} ppm window lies outside the "
                      f"data's range {lo:.4f}-{hi:.4f} dropped")
    return inside


#: Default detection settings of :func:`candidate_mz` (SNR, merge tolerance in ppm, cap).
DEFAULT_SNR, DEFAULT_MERGE_PPM, DEFAULT_MAX_PEAKS = 3.0, 10.0, 2000


def candidate_mz(
    data: Any,
    *,
    snr: float = DEFAULT_SNR,
    ppm: float = DEFAULT_MERGE_PPM,
    max_peaks: int | None = DEFAULT_MAX_PEAKS,
    mz: Sequence[float] | np.ndarray | None = None,
    labels: str | os.PathLike | None = None,
    min_mz: float | None = None,
    max_mz: float | None = None,
    min_frequency: float | None = None,
) -> np.ndarray:
    """Candidate m/z values of a dataset (float64, sorted ascending, unique).

    Parameters
    ----------
    data : ionmorph.io.msi.MSIData or None
        The dataset; peak lists give every channel, other files the peaks of their mean spectrum
        (module docstring), unless ``mz`` or ``labels`` is given (then ``data`` may be None, else
        candidates whose +/- ``ppm`` window misses the data's ``mz_range`` are dropped with a warning).
    snr, ppm, max_peaks : float, float, int or None
        Detection settings (see :func:`detect_peaks`); ``max_peaks`` caps detection only.
    mz : sequence of float, optional
        A user list of m/z values (validated, sorted, duplicates removed).
    labels : path, optional
        A label CSV in the published METASPACE label format; its ``mz`` column is the list.
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
            from ..labels import read_label_csv

            out, _ = _user_list([row.mz for row in read_label_csv(labels)], str(labels))
        else:
            out, _ = _user_list(mz, "mz list")
        if data is not None:
            out = out[_in_range(data, out, ppm)]
    else:
        if data is None:
            raise InputError("candidate_mz needs data (for peak detection) or an mz= / labels= list")
        if min_frequency is None:
            min_frequency = MIN_FREQUENCY if _is_centroid(data) else 0.0
        out = _detected(data, mean_spectrum(data, frequency=min_frequency > 0), snr=snr, ppm=ppm,
                        max_peaks=max_peaks, min_mz=min_mz, max_mz=max_mz, min_frequency=min_frequency)
    if min_mz is not None:
        out = out[out >= min_mz]
    if max_mz is not None:
        out = out[out <= max_mz]
    return out


@dataclass
class Candidates:
    """The candidates of one dataset and the ion-image tolerance to extract them with.

    Attributes
    ----------
    mz : float64 (n,)
        Candidate m/z, ascending, unique.
    ppm : float
        Ion-image half-width (ppm) to use.
    ppm_source : str
        ``"given"``, ``"estimated"`` (from the mean spectrum's peak widths, :func:`estimate_ppm`)
        or ``"default"`` (:data:`ionmorph.io.msi.DEFAULT_PPM`, when no width could be measured).
    kind : str
        ``"peak list"`` (every channel), ``"mean-spectrum peaks"`` or ``"user list"``.
    columns : dict of str to array
        Extra per-candidate columns from a user table (e.g. ``formula``, ``adduct``, ``name``).
    """

    mz: np.ndarray
    ppm: float
    ppm_source: str
    kind: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.mz)


def _table(candidates: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(m/z values, extra columns) of a user list: an array, or a mapping/DataFrame with an ``mz`` column."""
    if hasattr(candidates, "keys") and not isinstance(candidates, np.ndarray):
        names = [str(k) for k in candidates.keys()]
        if "mz" not in names:
            raise InputError(f"a candidate table needs an 'mz' column; it has {names}")
        mz = np.asarray(candidates["mz"], dtype=object)
        extra = {k: np.asarray(candidates[k]) for k in names if k != "mz"}
        bad = [k for k, v in extra.items() if v.shape != mz.shape]
        if bad:
            raise InputError(f"candidate table columns {bad} do not have one value per m/z")
        try:
            return np.asarray(mz, dtype=np.float64), extra
        except (TypeError, ValueError):
            raise InputError("a candidate table's 'mz' column must hold numbers") from None
    return np.asarray(candidates, dtype=np.float64), {}


def find_candidates(data: Any, candidates: Any = None, ppm: float | None = None) -> Candidates:
    """Candidates of an opened dataset and the ion-image half-width, as :func:`ionmorph.picking.pick.pick_peaks` uses them.

    Parameters
    ----------
    data : ionmorph.io.msi.MSIData
        The dataset.
    candidates : sequence of float, mapping or DataFrame, optional
        A user list, or a table with an ``mz`` column whose other columns are carried along
        (default: :func:`candidate_mz` of ``data``).
    ppm : float, optional
        Ion-image half-width. Default: :func:`estimate_ppm` of the mean spectrum (continuous files
        and processed profile files); :data:`ionmorph.io.msi.DEFAULT_PPM` for processed centroid
        files, peak lists, and when no peak width can be measured (give ``ppm`` for TOF centroid
        data: 20-100 ppm).
    """
    from ..io.msi import DEFAULT_PPM

    if ppm is not None and not (np.isfinite(ppm) and ppm > 0):
        raise InputError(f"ppm must be a positive number, got {ppm!r}")
    spectrum = None
    axis = getattr(data, "mz_axis", None)
    peak_list = axis is not None and is_peak_list(axis)
    if ppm is None and (peak_list or (axis is None and _is_centroid(data))):
        ppm_used, source = DEFAULT_PPM, "default"
    elif ppm is None:
        spectrum = mean_spectrum(data, frequency=_is_centroid(data))
        with _naming_file(data):
            est = estimate_ppm(*spectrum[:2])
        ppm_used, source = (DEFAULT_PPM, "default") if est is None else (est, "estimated")
    else:
        ppm_used, source = float(ppm), "given"
    if candidates is None:
        if spectrum is None:
            spectrum = mean_spectrum(data, frequency=_is_centroid(data))
        kind = "peak list" if peak_list else "mean-spectrum peaks"
        mz = _detected(data, spectrum, snr=DEFAULT_SNR, ppm=DEFAULT_MERGE_PPM, max_peaks=DEFAULT_MAX_PEAKS,
                       min_mz=None, max_mz=None,
                       min_frequency=MIN_FREQUENCY if _is_centroid(data) else 0.0)
        return Candidates(mz, ppm_used, source, kind)
    values, extra = _table(candidates)
    mz, first = _user_list(values, "candidate list")
    if extra and len(mz) < len(values):
        warn_external(f"candidate list: {len(values) - len(mz)} rows repeat an earlier m/z; the first row of each "
                      "m/z is kept")
    inside = _in_range(data, mz, ppm_used)
    take = first[inside]
    return Candidates(mz[inside], ppm_used, source, "user list", {k: v[take] for k, v in extra.items()})


#: Header names read as the m/z column of a candidate table (compared lower-case, spaces removed).
MZ_HEADERS = ("mz", "m/z", "m_z", "mass", "moverz")


def read_candidate_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A user's candidate list: ``{"mz": float64 array, <other column>: str array, ...}``.

    Accepted: one m/z per line (lines starting with ``#`` are comments), or a table separated by
    ``,``, ``;`` or tabs whose header names the m/z column ``mz`` or ``m/z`` (any case, quoted or
    not; also ``m_z``, ``mass``); every other column (``formula``, ``adduct``, ``name``, ...) is
    carried to the output as text. A published label CSV works as it is.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: candidate list not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the candidate list ({exc})") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{path}: the candidate list is empty")
    delimiter = max((",", ";", "\t"), key=lines[0].count)
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    keys = [h.lower().replace(" ", "") for h in header]
    mz_col = next((keys.index(k) for k in MZ_HEADERS if k in keys), None)
    if mz_col is None:
        body, header, mz_col = rows, [], 0
    else:
        body = rows[1:]
    try:
        mz = np.array([float(r[mz_col]) for r in body], dtype=np.float64)
    except (IndexError, ValueError) as exc:
        raise InputError(f"{path}: not a list of m/z values ({exc})") from None
    out: dict[str, np.ndarray] = {"mz": mz}
    for j, name in enumerate(header):
        if j != mz_col and name:
            out[name] = np.array([r[j].strip() if j < len(r) else "" for r in body], dtype=str)
    return out
