"""Per-image statistics of ion images, for comparing real and simulated data (realism benchmark).

Every function takes an ion-image stack ``images`` (n, H, W) (a single (H, W) image is accepted
and treated as n = 1) and the raster ``mask`` (bool (H, W), True = measured; None = all
measured), and returns one float64 value per image (n,), vectorised over the stack. Only measured
pixels count; non-finite and negative intensities count as 0 (as in
:func:`ionmorph.models.preprocessing.preprocess`). An image without any signal gets 0 for every
intensity statistic (never NaN), so the statistics can feed a classifier directly.

Intensity distribution (over the measured pixels)

- :func:`zero_fraction`: share of measured pixels that are exactly 0;
- :func:`coefficient_of_variation`: standard deviation / mean;
- :func:`dynamic_range`: ``log10(p99 / p50)`` of the **non-zero** measured values;
- :func:`top_energy_share`: share of the summed intensity held by the brightest 1 % of the
  measured pixels (at least one pixel);
- :func:`log_skew`: skewness of ``log1p(x / s)``, ``s`` the median non-zero measured value (scale
  free, so detector gains do not matter);
- :func:`distinct_share`: distinct non-zero values / non-zero pixels (low for counting data with
  few levels, near 1 for continuous intensities).

Texture

- :func:`roughness`: mean absolute difference of 4-neighbouring measured pixels / mean intensity;
- :func:`anisotropy`: ``ln`` of the mean absolute vertical over horizontal neighbour difference
  (0 = isotropic; stripes along rows (> 0) or columns (< 0) move it away from 0);
- Moran's I and spatial chaos come from :mod:`ionmorph.picking.baselines` (:func:`image_statistics`).

Framing (the image's bright area, its apparent tissue)

- :func:`bright_area`: the rule behind the next three: each image is smoothed with a Gaussian of
  ``sigma`` = 1 px over the measured pixels (normalised convolution, unmeasured pixels neither
  contribute nor receive), and a pixel is *bright* when it is measured and its smoothed value is
  above ``level`` = 10 % of the 99th percentile of the smoothed measured values (nothing is bright
  when that percentile is 0);
- :func:`tissue_share`: bright pixels / all raster pixels (H x W, measured or not);
- :func:`border_share`: bright pixels among the raster's outer ring (``width`` = 1 px) / ring size;
- :func:`touches_border`: 1.0 when :func:`border_share` is at least ``min_share`` = 1 % of the ring
  (and at least one pixel), else 0.0;
- :func:`blob_count`: 8-connected components of the bright area with at least ``min_size`` = 3 px.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..models.preprocessing import image_stack

#: Names of :func:`image_statistics`' outputs, in order.
STATISTICS: tuple[str, ...] = (
    "morans_i", "spatial_chaos", "zero_fraction", "cv", "dynamic_range", "top1_energy", "roughness",
    "anisotropy", "log_skew", "distinct_share", "tissue_share", "border_share", "touches_border", "blob_count",
)


def _stack(images: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(float32 (n, H, W) cleaned stack, bool (H, W) mask), validated."""
    arr = np.nan_to_num(image_stack(images).astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    np.maximum(arr, 0.0, out=arr)
    m = np.ones(arr.shape[1:], dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    if m.shape != arr.shape[1:]:
        raise InputError(f"mask shape {m.shape} does not match the ion images' raster {arr.shape[1:]}")
    return arr, m


def _measured(images: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(n, n_measured) float64 values of the measured pixels."""
    arr, m = _stack(images, mask)
    return arr[:, m].astype(np.float64)


def _tail_quantile(sorted_rows: np.ndarray, start: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolated quantile ``q`` of ``sorted_rows[i, start[i]:]``; NaN where that tail is empty."""
    n, k = sorted_rows.shape
    out = np.full(n, np.nan)
    if k == 0:
        return out
    count = k - start
    pos = start + q * np.maximum(count - 1, 0)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, k - 1)
    hi = np.clip(lo + 1, 0, k - 1)
    rows = np.arange(n)
    a, b = sorted_rows[rows, lo], sorted_rows[rows, hi]
    val = a + (b - a) * (pos - lo)
    return np.where(count > 0, val, out)


def zero_fraction(images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Share of the measured pixels whose intensity is 0 (0 when no pixel is measured)."""
    v = _measured(images, mask)
    return (v <= 0).mean(axis=1) if v.shape[1] else np.zeros(len(v))


def coefficient_of_variation(images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Standard deviation over mean of the measured pixels (population sd; 0 for an all-zero image)."""
    v = _measured(images, mask)
    if not v.shape[1]:
        return np.zeros(len(v))
    mean, sd = v.mean(axis=1), v.std(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean > 0, sd / mean, 0.0)


def dynamic_range(images: np.ndarray, mask: np.ndarray | None = None, *, low: float = 0.5,
                  high: float = 0.99) -> np.ndarray:
    """``log10(q_high / q_low)`` of the non-zero measured values (default p99 / p50; 0 without signal)."""
    v = np.sort(_measured(images, mask), axis=1)
    start = (v <= 0).sum(axis=1)
    lo, hi = _tail_quantile(v, start, low), _tail_quantile(v, start, high)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(hi / lo)
    return np.where(np.isfinite(out) & (lo > 0), out, 0.0)


def top_energy_share(images: np.ndarray, mask: np.ndarray | None = None, *, fraction: float = 0.01) -> np.ndarray:
    """Share of the total measured intensity in the brightest ``fraction`` of the measured pixels (>= 1 px)."""
    v = _measured(images, mask)
    n, k = v.shape
    if not k:
        return np.zeros(n)
    top = max(1, int(np.ceil(fraction * k)))
    part = -np.partition(-v, top - 1, axis=1)[:, :top] if top < k else v
    total = v.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, part.sum(axis=1) / total, 0.0)


def _neighbour_diffs(images: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """(sum |dy|, pairs dy, sum |dx|, pairs dx, mean intensity) over measured 4-neighbour pairs."""
    arr, m = _stack(images, mask)
    a = arr.astype(np.float64)
    my, mx = m[1:] & m[:-1], m[:, 1:] & m[:, :-1]
    dy = (np.abs(a[:, 1:] - a[:, :-1]) * my).sum(axis=(1, 2))
    dx = (np.abs(a[:, :, 1:] - a[:, :, :-1]) * mx).sum(axis=(1, 2))
    mean = a[:, m].mean(axis=1) if m.any() else np.zeros(len(a))
    return dy, float(my.sum()), dx, float(mx.sum()), mean


def roughness(images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean absolute difference of 4-neighbouring measured pixels over the mean intensity (0 without signal)."""
    dy, ny, dx, nx, mean = _neighbour_diffs(images, mask)
    pairs = ny + nx
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (dy + dx) / max(pairs, 1.0) / mean
    return np.where((mean > 0) & (pairs > 0), out, 0.0)


def anisotropy(images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``ln((dv + e) / (dh + e))``: mean absolute vertical over horizontal neighbour difference.

    ``e`` = 1e-3 x the mean intensity keeps perfect stripes finite; 0 for an image without signal.
    """
    dy, ny, dx, nx, mean = _neighbour_diffs(images, mask)
    e = 1e-3 * mean
    vy, vx = dy / max(ny, 1.0) + e, dx / max(nx, 1.0) + e
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(vy / vx)
    return np.where((mean > 0) & np.isfinite(out), out, 0.0)


def log_skew(images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Skewness of ``log1p(x / s)`` over the measured pixels, ``s`` = median non-zero value (0 if constant)."""
    v = np.sort(_measured(images, mask), axis=1)
    n, k = v.shape
    if not k:
        return np.zeros(n)
    s = _tail_quantile(v, (v <= 0).sum(axis=1), 0.5)
    s = np.where(np.isfinite(s) & (s > 0), s, 1.0)
    y = np.log1p(v / s[:, None])
    z = y - y.mean(axis=1, keepdims=True)
    m2, m3 = (z ** 2).mean(axis=1), (z ** 3).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = m3 / m2 ** 1.5
    return np.where(m2 > 1e-24, out, 0.0)


def distinct_share(images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Distinct non-zero measured values over the number of non-zero measured pixels (0 without signal)."""
    v = np.sort(_measured(images, mask), axis=1)
    n, k = v.shape
    if not k:
        return np.zeros(n)
    nonzero = (v > 0).sum(axis=1)
    steps = ((np.diff(v, axis=1) > 0) & (v[:, 1:] > 0)).sum(axis=1)   # new value among the non-zero tail
    first = (nonzero > 0) & (v[:, 0] > 0)                              # no zeros: the first value counts too
    distinct = steps + first
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(nonzero > 0, distinct / nonzero, 0.0)


def bright_area(images: np.ndarray, mask: np.ndarray | None = None, *, sigma: float = 1.0,
                level: float = 0.1) -> np.ndarray:
    """The bright area (apparent tissue) of each image: bool (n, H, W); the rule is in the module docstring."""
    from scipy import ndimage

    arr, m = _stack(images, mask)
    out = np.zeros(arr.shape, dtype=bool)
    if not m.any():
        return out
    mf = m.astype(np.float32)
    if sigma > 0:
        num = ndimage.gaussian_filter(arr * mf, sigma=(0, sigma, sigma), mode="constant")
        den = ndimage.gaussian_filter(mf, sigma=sigma, mode="constant")
        with np.errstate(divide="ignore", invalid="ignore"):
            smooth = np.where(m, num / np.where(den > 0, den, 1.0), 0.0)
    else:
        smooth = arr * mf
    v = np.sort(smooth[:, m].astype(np.float64), axis=1)
    p99 = _tail_quantile(v, np.zeros(len(v), dtype=np.int64), 0.99)
    thr = level * p99
    out = (smooth > thr[:, None, None]) & m & (p99 > 0)[:, None, None]
    return out


def _ring(shape: tuple[int, int], width: int) -> np.ndarray:
    h, w = shape
    ring = np.ones(shape, dtype=bool)
    if h > 2 * width and w > 2 * width:
        ring[width:h - width, width:w - width] = False
    return ring


def tissue_share(images: np.ndarray, mask: np.ndarray | None = None, **bright) -> np.ndarray:
    """Bright pixels (:func:`bright_area`) over all raster pixels, measured or not."""
    b = bright_area(images, mask, **bright)
    return b.reshape(len(b), -1).mean(axis=1)


def border_share(images: np.ndarray, mask: np.ndarray | None = None, *, width: int = 1, **bright) -> np.ndarray:
    """Share of the raster's outer ring (``width`` px) that is bright (:func:`bright_area`)."""
    if width < 1:
        raise InputError(f"border width must be >= 1, got {width}")
    b = bright_area(images, mask, **bright)
    ring = _ring(b.shape[1:], width)
    return b[:, ring].mean(axis=1)


def touches_border(images: np.ndarray, mask: np.ndarray | None = None, *, width: int = 1,
                   min_share: float = 0.01, **bright) -> np.ndarray:
    """1.0 where the bright area covers at least ``min_share`` of the outer ring (and >= 1 px), else 0.0."""
    b = bright_area(images, mask, **bright)
    ring = _ring(b.shape[1:], width)
    hits = b[:, ring].sum(axis=1)
    return ((hits >= 1) & (hits >= min_share * ring.sum())).astype(np.float64)


def blob_count(images: np.ndarray, mask: np.ndarray | None = None, *, min_size: int = 3, **bright) -> np.ndarray:
    """Number of 8-connected components of the bright area with at least ``min_size`` pixels."""
    from scipy import ndimage

    b = bright_area(images, mask, **bright)
    n = len(b)
    if not b.any():
        return np.zeros(n)
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True                                   # 8-connectivity within a slice, never across
    labels, count = ndimage.label(b, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    big = sizes >= min_size
    big[0] = False
    # labels are numbered in raster order and never span slices: slice i holds (top[i-1], top[i]]
    top = np.maximum.accumulate(labels.reshape(n, -1).max(axis=1))
    ids = np.nonzero(big)[0]
    return np.bincount(np.searchsorted(top, ids, side="left"), minlength=n).astype(np.float64)


def image_statistics(images: np.ndarray, mask: np.ndarray | None = None, *, block: int = 64) -> dict[str, np.ndarray]:
    """All :data:`STATISTICS` of each image: a dict name -> float64 (n,).

    ``morans_i`` is :func:`ionmorph.picking.baselines.morans_i` (4 neighbours) and ``spatial_chaos`` is
    :func:`ionmorph.picking.baselines.spatial_chaos` (its score ``1 - chaos``: high for coherent images).
    The stack is processed in blocks of ``block`` images to bound memory.
    """
    from .baselines import morans_i, spatial_chaos

    arr, m = _stack(images, mask)
    funcs = {
        "morans_i": morans_i, "spatial_chaos": spatial_chaos, "zero_fraction": zero_fraction,
        "cv": coefficient_of_variation, "dynamic_range": dynamic_range, "top1_energy": top_energy_share,
        "roughness": roughness, "anisotropy": anisotropy, "log_skew": log_skew, "distinct_share": distinct_share,
        "tissue_share": tissue_share, "border_share": border_share, "touches_border": touches_border,
        "blob_count": blob_count,
    }
    out = {k: np.zeros(len(arr)) for k in STATISTICS}
    for start in range(0, len(arr), block):
        chunk = arr[start:start + block]
        for name in STATISTICS:
            out[name][start:start + len(chunk)] = funcs[name](chunk, m)
    return out
