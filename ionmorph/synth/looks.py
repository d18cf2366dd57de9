"""The class an ion image *looks like* after counting noise and detection, and which ions resolve.

A structured ion with few counts looks weak_structured or unstructured; a localized ion whose
region is absent from a section looks unstructured; fragmented clusters that merged into one or
two blobs look localized. Labels are therefore decided from the expected counts per pixel and the
instrument's detection threshold: a pixel "shows" the ion with probability P(N >= k), N Poisson.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .instruments import Instrument
from .ions import IonPanel


def detection_probability(expected: np.ndarray, threshold: float) -> np.ndarray:
    """P(N >= k) for N ~ Poisson(expected), k = ceil(threshold) (at least 1)."""
    lam = np.maximum(np.asarray(expected, dtype=np.float32), 0.0)
    term = np.exp(-lam)
    below = term.copy()
    for j in range(1, max(1, math.ceil(threshold))):
        term = term * lam / j
        below += term
    return np.clip(1.0 - below, 0.0, 1.0)


def visible_fraction(expected: np.ndarray, on: np.ndarray, rel: float = 0.15) -> float:
    """Share of the tissue pixels brighter than ``rel`` x the tissue's 99th percentile (display contrast)."""
    vals = expected[on]
    if vals.size == 0:
        return 0.0
    top = float(np.percentile(vals, 99))
    return float(np.mean(vals >= rel * top)) if top > 0 else 0.0


def apparent_class(cls: str, style: str, expected: np.ndarray, det: np.ndarray, tissue: np.ndarray,
                   mask: np.ndarray) -> str:
    """The class a labeller would give an ion image.

    Parameters
    ----------
    cls, style : str
        The generating class and style.
    expected, det : float arrays (H, W)
        Expected counts per pixel and the probability that a pixel shows the ion.
    tissue, mask : bool arrays (H, W)
    """
    on, off = tissue & mask, ~tissue & mask
    cov_on = float(det[on].mean()) if on.any() else 0.0
    if cls in ("structured", "weak_structured"):
        if cov_on < 0.1:
            return "unstructured"
        if visible_fraction(expected, on) < 0.3:  # one region outshines the rest: looks localized
            return "localized"
        if cls == "structured" and cov_on < 0.6:
            return "weak_structured"
        if style == "faint" and cov_on > 0.9:
            return "structured"
        return cls
    if cls in ("localized", "fragmented"):
        shown = (det > 0.5) & mask
        if shown.sum() < 5:
            return "unstructured"
        if cls == "localized" and cov_on > 0.6 and visible_fraction(expected, on) > 0.8:
            return "structured"  # its regions cover nearly all of this section
        if cls == "fragmented":  # count clusters on the noise-free pattern: brightness must not merge them
            vals = expected[mask]
            lab, n = ndimage.label((expected >= 0.4 * float(np.percentile(vals, 99.5))) & mask)
            sizes = np.bincount(lab.ravel())[1:]
            return "fragmented" if int((sizes >= 4).sum()) >= 3 else "localized"
        return cls
    if cls == "negative":
        if off.sum() < 0.03 * mask.sum() or float(det[off].mean()) < 0.3:
            return "unstructured"
        return cls
    return cls


def resolved(panel: IonPanel, totals: np.ndarray, instrument: Instrument, max_share: float = 0.25) -> np.ndarray:
    """True for ions whose ion-image window holds no other peak worth more than ``max_share`` of them.

    The window is +/- the instrument's ppm plus half a peak width; ``totals`` is each ion's total
    expected counts on the section.
    """
    mz = panel.mz
    order = np.argsort(mz)
    mzs, tot = mz[order], np.asarray(totals, dtype=np.float64)[order]
    half = mzs * instrument.ppm * 1e-6 + 0.5 * instrument.fwhm(mzs)
    lo, hi = np.searchsorted(mzs, mzs - half, "left"), np.searchsorted(mzs, mzs + half, "right")
    cum = np.concatenate([[0.0], np.cumsum(tot)])
    others = cum[hi] - cum[lo] - tot
    ok = np.empty(len(mz), dtype=bool)
    ok[order] = others <= max_share * tot
    return ok
