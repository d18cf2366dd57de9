"""Isotopes and adducts of one ion: candidates that take one pick between them.

Two candidates are **linked** when both hold:

1. their m/z differ by a known shift (:data:`SHIFTS`: the 13C isotope spacing once and twice, for
   singly charged ions, and the [M+H]+ / [M+Na]+ / [M+K]+ and [M-H]- / [M+Cl]- differences), within
   the sum of their two ion-image half-widths (at least :data:`MIN_TOLERANCE_DA`);
2. their ion images agree: the Pearson correlation of their thumbnails (:func:`thumbnails`, block
   means over the measured pixels) is at least :data:`MIN_CORRELATION`. The m/z alone would link
   unrelated ions in a dense spectrum; the images of one molecule's isotopes and adducts follow
   the same distribution;
3. for an isotope shift, the heavier candidate is no brighter than a 13C isotope of the lighter one
   can be (:func:`max_isotope_ratio`). Without this check, a co-localised ion two hydrogens lighter
   (one more double bond in a lipid series: 2.016 Da, 4.5 mDa from the 13C2 spacing) would be taken
   for an M+2 isotope and chains of such species would merge into one group.

A **group** is a connected set of linked candidates (:func:`group_ions`); peak picking then lets
only the best-scoring member of each group be picked (``pick_peaks(group_isotopes=True)``).
"""
from __future__ import annotations

import math

import numpy as np

#: 13C - 12C mass difference (Da).
ISOTOPE_SPACING = 1.0033548
#: m/z shifts that link two candidates: name -> Da (heavier minus lighter).
SHIFTS: dict[str, float] = {
    "M+1": ISOTOPE_SPACING,
    "M+2": 2 * ISOTOPE_SPACING,
    "+Na vs +H": 21.981944,
    "+K vs +H": 37.955882,
    "+K vs +Na": 15.973938,
    "+Cl vs -H": 35.976678,
}
#: Shifts that make the heavier candidate an isotope of the lighter one.
ISOTOPE_SHIFTS: tuple[str, ...] = ("M+1", "M+2")
#: 13C natural abundance ratio 13C/12C (per carbon atom).
C13_PER_CARBON = 0.0107
#: Lightest mass per carbon atom (Da) assumed for the carbon-count bound (pure carbon: an upper bound
#: on the carbons of any ion of that m/z; organic ions hold fewer).
DA_PER_CARBON = 12.0
#: Allowance on the isotope intensity bound for counting noise and ion suppression.
ISOTOPE_RATIO_MARGIN = 1.5
#: Smallest m/z tolerance of a shift (Da): peak-list channels and centroids are not exact.
MIN_TOLERANCE_DA = 0.005
#: Smallest thumbnail correlation of two linked ion images.
MIN_CORRELATION = 0.7
#: Longest side (cells) of an ion-image thumbnail.
THUMBNAIL_SIZE = 64
#: Working pixels (float64) of one block of images in :func:`thumbnails` (32 MiB).
THUMBNAIL_BLOCK_PIXELS = 4 * 2**20


def mass_pairs(mz: np.ndarray, ppm: float) -> list[tuple[int, int, str]]:
    """Candidate pairs (i, j, shift name), i lighter than j, whose m/z differ by one of :data:`SHIFTS`.

    ``mz`` must be ascending; the tolerance is the sum of both +/- ``ppm`` windows, at least
    :data:`MIN_TOLERANCE_DA`.
    """
    mz = np.asarray(mz, dtype=np.float64)
    pairs: list[tuple[int, int, str]] = []
    for name, shift in SHIFTS.items():
        target = mz + shift
        tol = np.maximum((mz + target) * ppm * 1e-6, MIN_TOLERANCE_DA)
        lo = np.searchsorted(mz, target - tol, "left")
        hi = np.searchsorted(mz, target + tol, "right")
        for i in np.flatnonzero(hi > lo):
            pairs.extend((int(i), int(j), name) for j in range(lo[i], hi[i]))
    return pairs


def max_isotope_ratio(mz: float, n_heavy: int) -> float:
    """Largest intensity ratio M+n / M of an ion of mass ``mz`` (singly charged) from 13C alone.

    With at most ``mz / DA_PER_CARBON`` carbons of 13C share ``C13_PER_CARBON`` each, the M+1 ratio
    is at most ``p = n_C * C13_PER_CARBON`` and the M+2 ratio ``p**2 / 2`` (binomial), times
    :data:`ISOTOPE_RATIO_MARGIN`.
    """
    p = C13_PER_CARBON * float(mz) / DA_PER_CARBON
    return ISOTOPE_RATIO_MARGIN * (p if n_heavy == 1 else p ** n_heavy / math.factorial(n_heavy))


def thumbnails(images: np.ndarray, mask: np.ndarray | None = None, size: int = THUMBNAIL_SIZE,
               index: np.ndarray | None = None) -> np.ndarray:
    """Block means of each image (or of the images ``index``) over its measured pixels, flattened;
    float64 (n, cells).

    Blocks are f x f pixels with f = ceil(longest side / ``size``) (f = 1 keeps every pixel);
    only blocks holding a measured pixel are kept, in the same order for every image. Images are
    reduced a few at a time (at most :data:`THUMBNAIL_BLOCK_PIXELS` float64 working pixels), so
    memory stays bounded on large rasters.
    """
    images = np.asarray(images)
    _, h, w = images.shape
    index = np.arange(len(images)) if index is None else np.asarray(index, dtype=np.int64)
    n = len(index)
    measured = np.ones((h, w), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    f = max(1, math.ceil(max(h, w) / size))
    hp, wp = math.ceil(h / f) * f, math.ceil(w / f) * f
    count = np.zeros((hp, wp))
    count[:h, :w] = measured
    cells = count.reshape(hp // f, f, wp // f, f).sum(axis=(1, 3)).ravel()
    keep = cells > 0
    out = np.empty((n, int(keep.sum())))
    step = max(1, THUMBNAIL_BLOCK_PIXELS // (hp * wp))
    padded = np.zeros((min(n, step), hp, wp))
    for start in range(0, n, step):
        chunk = np.asarray(images[index[start:start + step]], dtype=np.float64)
        k = len(chunk)
        np.multiply(chunk, measured, out=padded[:k, :h, :w])
        sums = padded[:k].reshape(k, hp // f, f, wp // f, f).sum(axis=(2, 4)).reshape(k, -1)
        out[start:start + k] = sums[:, keep] / cells[keep]
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, m) centred and scaled to unit length, float64 (flat rows become 0), so that
    the dot product of two rows is their Pearson correlation."""
    z = np.asarray(x, dtype=np.float64)
    z = z - z.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(z, axis=1)
    return np.divide(z, norm[:, None], out=np.zeros_like(z), where=norm[:, None] > 0)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two flattened images (0 when either is flat)."""
    a = np.asarray(a, dtype=np.float64) - np.mean(a)
    b = np.asarray(b, dtype=np.float64) - np.mean(b)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0


def group_ions(mz: np.ndarray, pairs: list[tuple[int, int, str]], thumbs: dict[int, np.ndarray],
               min_correlation: float = MIN_CORRELATION) -> tuple[np.ndarray, np.ndarray]:
    """Groups of linked candidates (module docstring).

    Parameters
    ----------
    mz : float64 (n,)
        Candidate m/z, ascending.
    pairs : list of (i, j, shift name)
        Mass-matched pairs (:func:`mass_pairs`).
    thumbs : dict of int to array
        Thumbnail of every candidate named in ``pairs`` (:func:`thumbnails`).
    min_correlation : float
        Smallest thumbnail correlation of a link.

    Returns
    -------
    group : int64 (n,)
        Group number of each candidate (0, 1, ... in m/z order of each group's lightest member).
    isotope_of : float64 (n,)
        For an isotope, the m/z of the lightest candidate of its isotope chain; NaN otherwise.
    """
    n = len(mz)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    isotope_of = np.full(n, np.nan)
    for i, j, name in sorted(pairs, key=lambda p: (p[1], p[0])):
        if correlation(thumbs[i], thumbs[j]) < min_correlation:
            continue
        if name in ISOTOPE_SHIFTS and \
                np.mean(thumbs[j]) > max_isotope_ratio(mz[i], ISOTOPE_SHIFTS.index(name) + 1) * np.mean(thumbs[i]):
            continue
        ri, rj = root(i), root(j)
        parent[max(ri, rj)] = min(ri, rj)
        if name in ISOTOPE_SHIFTS and np.isnan(isotope_of[j]):
            isotope_of[j] = mz[i] if np.isnan(isotope_of[i]) else isotope_of[i]
    roots = np.array([root(i) for i in range(n)], dtype=np.int64)
    _, group = np.unique(roots, return_inverse=True)
    return group.astype(np.int64), isotope_of
