"""The class an ion image *looks like* after counting noise and detection, how clearly, and which ions resolve.

A structured ion with few counts looks weak_structured or unstructured; a localized ion whose
region is absent from a section looks unstructured; fragmented clusters that merged into one or
two blobs look localized. Labels are therefore decided from the expected counts per pixel and the
instrument's detection threshold: a pixel "shows" the ion with probability P(N >= k), N Poisson.

The labelling guide (SPEC 2) in code, for the two classes real sparse images are confused between:

- **localized**: the detected pixels sit in one or two regions. A *sparse* image confined to its
  region is still localized (a person sees dots inside the region and nothing outside): its region
  (noise-free level >= :data:`REGION_LEVEL` x the 99th percentile) must cover less than
  :data:`LOCALIZED_MAX_AREA` of the tissue and be shown (expected counts x detection probability)
  at least :data:`LOCALIZED_MIN_CONTRAST` times brighter than the rest of the tissue, with at least
  :data:`LOCALIZED_MIN_DENSITY` of its own pixels detected; an image with fewer than
  :data:`MIN_SHOWN` expected detected pixels looks unstructured. A faint image of the rest of the
  tissue does not make it structured (many real localized ions show one).
- **weak_structured**: a faint image of the *whole* structure (detections spread over the tissue,
  coverage 0.1-0.6). A structured or weak_structured ion whose signal concentrates in one or two
  regions follows the localized rule above instead, however dense the rest of the tissue is: on the
  99th-percentile display the region is bright and the rest dark (barley seed sections show many
  such ions over a dense, speckled image of the whole seed).

:func:`clarity` grades how clearly an image shows its pattern: the Pearson correlation, over the
measured pixels of the model's view (both images through ``preprocess`` at :data:`VIEW_SIZE`), of
one noisy draw of the image (shot-to-shot yield, Poisson counts, detection threshold, detector
noise) with its noise-free expected counts.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..models.preprocessing import PreprocessConfig, preprocess
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


#: Fraction of the 99th-percentile noise-free level that marks an ion's region.
REGION_LEVEL = 0.25
#: A localized ion's region covers less than this share of the tissue.
LOCALIZED_MAX_AREA = 0.5
#: The region's shown signal (expected counts x detection probability) against the rest of the tissue.
LOCALIZED_MIN_CONTRAST = 2.5
#: Expected share of the region's own pixels that show the ion.
LOCALIZED_MIN_DENSITY = 0.08
#: Fewest expected detected pixels of an image that is not noise.
MIN_SHOWN = 8.0


def confined(expected: np.ndarray, det: np.ndarray, tissue: np.ndarray, mask: np.ndarray,
             max_area: float = LOCALIZED_MAX_AREA) -> bool | None:
    """Whether an image shows its region against the rest of the tissue (the localized rule, module docstring).

    The shown signal of a pixel is its expected counts times the probability that it shows the ion:
    dense dots in a sparse image, brightness in a dense one. Returns True (a region of less than
    ``max_area`` of the tissue, shown at least :data:`LOCALIZED_MIN_CONTRAST` times brighter than the
    rest of the tissue and with at least :data:`LOCALIZED_MIN_DENSITY` of its pixels detected),
    False (no such region) or None (fewer than :data:`MIN_SHOWN` expected detections: noise).
    """
    on = tissue & mask
    vals = expected[mask]
    if vals.size == 0 or not on.any():
        return None
    top = float(np.percentile(vals, 99))
    if float(det[mask].sum()) < MIN_SHOWN or top <= 0:
        return None
    region = (expected >= REGION_LEVEL * top) & mask
    rest = on & ~region
    shown = expected * det
    area = float((region & tissue).sum()) / float(on.sum())
    inside = float(shown[region].mean()) if region.any() else 0.0
    outside = float(shown[rest].mean()) if rest.any() else 0.0
    return bool(area < max_area and inside >= LOCALIZED_MIN_CONTRAST * outside
                and float(det[region].mean()) >= LOCALIZED_MIN_DENSITY)


#: Side (pixels) of the view that clarity is judged at: the shipped models' input size, at which
#: the model (and a person looking at a thumbnail) sees neighbouring pixels averaged.
VIEW_SIZE = PreprocessConfig().size
#: Fewest view pixels that clarity is judged over.
MIN_JUDGED = 16


def judged_view(mask: np.ndarray, judged: np.ndarray | None = None, size: int = VIEW_SIZE) -> np.ndarray:
    """The pixels of the model's view (``size x size``) that :func:`clarity` is judged over.

    Where ``judged`` (default: the measured pixels ``mask``; a section passes its tissue for
    on-tissue ions) covers the view; the whole measured view when that leaves fewer than
    :data:`MIN_JUDGED` pixels. One view serves every ion of a section.
    """
    config = PreprocessConfig(size=size)
    views = preprocess(np.stack([mask, mask if judged is None else judged & mask]).astype(np.float32), None,
                       config)[:, 0] > 0.5
    return views[1] if views[1].sum() >= MIN_JUDGED else views[0]


def clarity(expected: np.ndarray, mask: np.ndarray, threshold: float, gain_cv: float,
            rng: np.random.Generator, pixel_yield: np.ndarray | None = None,
            seen: np.ndarray | None = None) -> float:
    """How clearly one noisy draw of an image shows its noise-free pattern at the model's view (0-1).

    The draw and the noise-free expected counts both go through :func:`ionmorph.models.preprocessing.preprocess`
    (hotspot clip, scaling, resize to the view's side); the result is the Pearson r of the two views
    over the ``seen`` pixels (0 when either is flat). At the pixel scale, shot-to-shot yield and
    Poisson noise of single pixels cap r of a clearly confined sparse image near 0.75; at the view
    scale, where they average out as they do for the eye, such an image scores about 0.95 and an
    image drowned in noise stays low. Judged over the tissue (:func:`judged_view`), the outline of
    the tissue, which every on-tissue ion shows, does not count as structure: a speckled image of
    the whole tissue is unclear however sharp its edge.

    Parameters
    ----------
    expected : float array (H, W)
        Noise-free expected counts per pixel.
    mask : bool array (H, W)
        Measured pixels.
    threshold : float
        Detection threshold (counts below it are lost).
    gain_cv : float
        Log-normal detector noise.
    rng : numpy.random.Generator
    pixel_yield : float array (H, W), optional
        The draw's per-pixel yield factors (shot-to-shot variation), part of its noise.
    seen : bool array (S, S), optional
        The view pixels judged (:func:`judged_view`; default: the measured view at :data:`VIEW_SIZE`).
    """
    lam = np.where(mask, np.maximum(expected.astype(np.float64), 0.0), 0.0)
    on = lam[mask]
    if on.size < 3 or on.std() <= 1e-12 * max(on.mean(), 1e-300):
        return 0.0
    counts = rng.poisson(lam if pixel_yield is None else lam * pixel_yield).astype(np.float64)
    counts[counts < threshold] = 0.0
    if gain_cv > 0:
        counts *= rng.lognormal(0.0, gain_cv, counts.shape)
    if seen is None:
        seen = judged_view(mask)
    noisy, clean = preprocess(np.stack([counts, lam]), mask, PreprocessConfig(size=seen.shape[-1]))[:, 0]
    a, b = noisy[seen], clean[seen]
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return 0.0
    r = float(np.corrcoef(a, b)[0, 1])
    return max(0.0, r) if np.isfinite(r) else 0.0


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
        inside = confined(expected, det, tissue, mask)
        if inside or visible_fraction(expected, on) < 0.3:
            # one or two regions outshine the rest of the tissue (a dense image of the rest does not
            # change that), or the few detections sit in them: looks localized
            return "localized" if inside is not None else "unstructured"
        if cov_on < 0.1:
            return "unstructured"
        if cls == "structured" and cov_on < 0.6:
            return "weak_structured"
        if style == "faint" and cov_on > 0.9:
            return "structured"
        return cls
    if cls in ("localized", "fragmented"):
        if cls == "localized" and cov_on > 0.6 and visible_fraction(expected, on, rel=0.5) > 0.6:
            return "structured"  # its regions cover nearly all of this section
        if cls == "localized":  # its region may be large on this section, but must stand out
            inside = confined(expected, det, tissue, mask, max_area=1.01)
            if inside is None:
                return "unstructured"
            if inside:
                return "localized"
            return "structured" if cov_on > 0.6 else "weak_structured" if cov_on > 0.1 else "unstructured"
        shown = (det > 0.5) & mask
        if shown.sum() < 5:
            return "unstructured"
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
