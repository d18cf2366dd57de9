"""Rendering a simulated section's spectra and writing them as imzML (pyimzML's writer).

Per pixel: detected counts ~ Poisson(expected counts), with a few hotspot pixels per ion; the
stored intensity is counts x gain x log-normal detector noise (rounded to the digitiser's step for
TOF detectors, whose stored values are integers); every peak is shifted by the
pixel's mass-calibration error.

- ``processed`` (centroid): one m/z per detected peak, kept only at or above the instrument's
  detection threshold (low peaks go missing), centroid m/z scattered by the peak width over
  sqrt(counts), plus random low chemical-noise peaks; m/z stored as float32.
- ``continuous`` (profile): Gaussian peaks of the instrument's width on one shared m/z axis that
  is dense (FWHM / 2.5) around every ion and sparse in between (a zero-suppressed profile), plus a
  chemical-noise baseline of single-ion events falling with m/z. Rendered as (pixels x peaks)
  intensities times a sparse (peaks x axis) peak-shape matrix, one matrix per calibration-drift
  level, so no Python loop runs over peaks.
- ``binned`` (pre-binned continuous, what the published mSCF1 protocol scores): the profile spectra
  summed into one channel per peak (peaks closer than one FWHM share a channel) plus the noise-only
  channels of the sparse grid between peaks; stored as continuous centroid spectra. Its noise is
  the ``continuous`` file's, so each channel is exactly the sum of that file's points in its bin.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from scipy import sparse

from ..errors import InputError
from .instruments import Instrument

MODES: tuple[str, ...] = ("continuous", "processed", "binned")
_CHUNK = 2048          # pixels rendered at once
_POINTS_PER_FWHM = 2.5  # profile axis spacing around peaks
_HALF_WINDOW = 3        # profile axis points on each side of a peak (+/- 1.2 FWHM)
_GRID_PPM = 4000.0      # spacing of the sparse profile axis between peaks
_SIGMAS = 3.0          # peak shapes are cut at +/- 3 sigma


def profile_axis(mz: np.ndarray, inst: Instrument) -> np.ndarray:
    """The shared profile m/z axis: dense around each peak, a sparse grid in between."""
    mz = np.sort(np.asarray(mz, dtype=np.float64))
    step = inst.fwhm(mz) / _POINTS_PER_FWHM
    dense = (mz[:, None] + np.arange(-_HALF_WINDOW, _HALF_WINDOW + 1)[None, :] * step[:, None]).ravel()
    lo, hi = float(dense.min()), float(dense.max())
    ratio = 1.0 + _GRID_PPM * 1e-6
    grid = lo * ratio ** np.arange(int(np.log(hi / lo) / np.log(ratio)) + 1)
    axis = np.sort(np.concatenate([dense, grid]))
    keep = np.concatenate([[True], np.diff(axis) > 0.4 * inst.fwhm(axis[1:]) / _POINTS_PER_FWHM])
    return axis[keep]


def binned_axis(mz: np.ndarray, inst: Instrument) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Channels of the ``binned`` mode and the (profile axis x channels) 0/1 matrix that sums into them.

    A profile point within half a window of a peak goes to that peak's channel (peaks closer than one
    FWHM form one channel, at their mean m/z); every other point (the grid between peaks) is a
    channel of its own.
    """
    axis = profile_axis(mz, inst)
    peaks = np.sort(np.asarray(mz, dtype=np.float64))
    cluster = np.cumsum(np.concatenate([[True], np.diff(peaks) > inst.fwhm(peaks[1:])])) - 1
    centre = np.bincount(cluster, peaks) / np.bincount(cluster)
    right = np.clip(np.searchsorted(peaks, axis), 1, len(peaks) - 1)
    nearest = np.where(axis - peaks[right - 1] < peaks[right] - axis, right - 1, right)
    half = (_HALF_WINDOW + 0.5) * inst.fwhm(peaks[nearest]) / _POINTS_PER_FWHM
    on_peak = np.abs(axis - peaks[nearest]) <= half
    channel_mz = np.concatenate([centre, axis[~on_peak]])
    key = np.concatenate([cluster[nearest[on_peak]], len(centre) + np.arange(int((~on_peak).sum()))])
    rows = np.concatenate([np.flatnonzero(on_peak), np.flatnonzero(~on_peak)])
    order = np.argsort(channel_mz, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    matrix = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, position[key])),
                               shape=(len(axis), len(channel_mz)))
    return channel_mz[order], matrix


def _shape_matrix(axis: np.ndarray, centres: np.ndarray, sigma: np.ndarray) -> sparse.csr_matrix:
    """Sparse (peaks x axis) Gaussian peak shapes, each summing to about 1 over the axis points.

    Each point holds the peak's height there, scaled by the dense spacing around the peak
    (FWHM / points per FWHM); the wide gaps of the sparse grid between peaks must not inflate the
    outermost points of a peak window.
    """
    lo = np.searchsorted(axis, centres - _SIGMAS * sigma, "left")
    hi = np.searchsorted(axis, centres + _SIGMAS * sigma, "right")
    n = hi - lo
    rows = np.repeat(np.arange(len(centres)), n)
    cols = np.repeat(lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    step = sigma * 2.355 / _POINTS_PER_FWHM
    x = (axis[cols] - centres[rows]) / sigma[rows]
    vals = np.exp(-0.5 * x * x) * step[rows] / (sigma[rows] * np.sqrt(2 * np.pi))
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(centres), len(axis)))


def _hotspots(rng: np.random.Generator, expected: np.ndarray, inst: Instrument) -> None:
    """Multiply 1-3 random pixels of some ions by 5-30 (in place): single-pixel hotspots."""
    n_pix, n_ions = expected.shape
    for j in np.flatnonzero(rng.random(n_ions) < inst.hotspot_rate):
        pix = rng.integers(0, n_pix, int(rng.integers(1, 4)))
        expected[pix, j] *= rng.uniform(5.0, 30.0, len(pix))


def _intensity(rng: np.random.Generator, counts: np.ndarray, inst: Instrument) -> np.ndarray:
    """Stored intensity: counts x gain x detector noise, on the digitiser's grid when it has one."""
    noise = rng.lognormal(0.0, inst.gain_cv, counts.shape) if inst.gain_cv > 0 else 1.0
    value = counts * inst.gain * noise
    if inst.quantum > 0:
        value = np.round(value / inst.quantum) * inst.quantum
    return value.astype(np.float32)


def _processed_chunk(rng, mz, counts, drift, inst, mz_lo, mz_hi):
    """Centroid peaks of a chunk of pixels: (pixel index, m/z, intensity) sorted by pixel then m/z."""
    pix, ion = np.nonzero(counts >= inst.threshold)
    c = counts[pix, ion]
    sigma_ppm = inst.fwhm(mz[ion]) / mz[ion] * 1e6 / 2.355 / np.sqrt(c)
    mzs = mz[ion] * (1.0 + (drift[pix] + rng.standard_normal(len(c)) * sigma_ppm) * 1e-6)
    n_noise = 1 + rng.poisson(max(inst.noise_peaks - 1.0, 0.0), len(counts))  # never an empty spectrum
    npix = np.repeat(np.arange(len(counts)), n_noise)
    nmz = rng.uniform(mz_lo, mz_hi, len(npix))
    ncounts = inst.threshold + rng.exponential(1.5, len(npix))
    all_pix = np.concatenate([pix, npix])
    all_mz = np.concatenate([mzs, nmz])
    all_int = np.concatenate([_intensity(rng, c, inst), _intensity(rng, ncounts, inst)])
    order = np.argsort(all_pix + (all_mz - mz_lo) / (mz_hi - mz_lo + 1.0))  # by pixel, then m/z
    return all_pix[order], all_mz[order].astype(np.float32), all_int[order]


def _profile_chunk(rng, axis, mz, counts, drift, inst, shapes, q_ppm, baseline):
    """Profile intensities (pixels x axis) of a chunk of pixels."""
    out = np.empty((len(counts), len(axis)), dtype=np.float32)
    peaks = _intensity(rng, counts, inst)
    level = np.round(drift / q_ppm).astype(np.int64)
    sigma = inst.fwhm(mz) / 2.355
    for lv in np.unique(level):
        if lv not in shapes:
            shapes[lv] = _shape_matrix(axis, mz * (1.0 + lv * q_ppm * 1e-6), sigma)
        rows = level == lv
        out[rows] = (shapes[lv].T @ peaks[rows].T).T
    tic = counts.sum(axis=1)
    rel = np.sqrt(tic / max(float(tic.mean()), 1e-9))[:, None]
    events = rng.random(out.shape, dtype=np.float32) < np.minimum(baseline[None, :] * rel, 0.9)
    out += events * np.float32(inst.gain)
    if inst.quantum > 0:  # the digitiser stores each profile point on its grid
        np.round(out / inst.quantum, out=out)
        out *= np.float32(inst.quantum)
    return out


def write_imzml(section, path: str | os.PathLike, mode: str = "continuous", progress: bool = False) -> Path:
    """Write ``section`` (a :class:`~ionmorph.synth.section.SimulatedSection`) as imzML + ibd.

    Parameters
    ----------
    section : SimulatedSection
    path : path
        Output ``.imzML`` (the ``.ibd`` goes beside it); both appear atomically.
    mode : {"continuous", "processed", "binned"}
        Profile spectra on a shared axis, centroided spectra, or profile spectra summed into one
        channel per peak (module docstring).
    progress : bool
        Show a progress bar over pixel chunks.

    Noise is deterministic from the section's seed and the mode.
    """
    from pyimzml.ImzMLWriter import ImzMLWriter
    from tqdm.auto import tqdm

    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    path = Path(path)
    if path.suffix.lower() != ".imzml":
        raise InputError(f"{path}: the output name must end in .imzML")
    inst = section.instrument
    profile = mode in ("continuous", "binned")
    rng = np.random.default_rng([section.seed, 0x1B0, MODES.index("continuous" if profile else mode)])
    rr, cc = np.nonzero(section.mask)
    mz = section.panel.mz
    expected = np.ascontiguousarray(section.abundance[:, rr, cc].T)
    _hotspots(rng, expected, inst)
    drift = section.drift_ppm[rr, cc].astype(np.float64)
    mz_lo, mz_hi = float(mz.min()) * 0.98, float(mz.max()) * 1.02
    if profile:
        axis = profile_axis(mz, inst)
        channels, binning = binned_axis(mz, inst) if mode == "binned" else (axis, None)
        baseline = (inst.baseline * np.exp(-(axis - axis[0]) / 400.0)).astype(np.float32)
        q_ppm = float(np.min(inst.fwhm(mz) / mz)) * 1e6 / 12.0
        shapes: dict[int, sparse.csr_matrix] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent))
    try:
        tmp = tmpdir / path.name
        with ImzMLWriter(str(tmp), mode="continuous" if profile else "processed",
                         mz_dtype=np.float64 if profile else np.float32, intensity_dtype=np.float32,
                         spec_type="profile" if mode == "continuous" else "centroid",
                         polarity="positive") as writer:
            for start in tqdm(range(0, len(rr), _CHUNK), desc=f"write {path.name}", disable=not progress):
                sl = slice(start, start + _CHUNK)
                counts = rng.poisson(expected[sl]).astype(np.float64)
                if profile:
                    block = _profile_chunk(rng, axis, mz, counts, drift[sl], inst, shapes, q_ppm, baseline)
                    if binning is not None:
                        block = np.asarray(block @ binning, dtype=np.float32)
                    for k in range(len(block)):
                        writer.addSpectrum(channels, block[k], (int(cc[start + k]) + 1, int(rr[start + k]) + 1))
                else:
                    pix, pmz, pint = _processed_chunk(rng, mz, counts, drift[sl], inst, mz_lo, mz_hi)
                    bounds = np.searchsorted(pix, np.arange(len(counts) + 1))
                    for k in range(len(counts)):
                        a, b = bounds[k], bounds[k + 1]
                        writer.addSpectrum(pmz[a:b], pint[a:b], (int(cc[start + k]) + 1, int(rr[start + k]) + 1))
        os.replace(tmp.with_suffix(".ibd"), path.with_suffix(".ibd"))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path
