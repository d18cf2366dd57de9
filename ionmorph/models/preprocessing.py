"""The one preprocessing function that turns ion images into model input (SPEC 3).

Training, inference and benchmarks all call :func:`preprocess`, so a model sees the same kind of
input everywhere. Per image:

1. non-finite and negative intensities become 0;
2. hotspot clip (METASPACE): clip at the ``hotspot_quantile`` of the measured pixels brighter
   than max/256;
3. scale by the ``scale_quantile`` of the **measured** pixels only (empty raster positions do not
   count); when that quantile is 0 (sparse images) the maximum of the clipped measured pixels is
   used instead, and an all-zero image stays all zero;
4. clip to [0, 1]; unmeasured pixels are 0;
5. aspect-preserving resize (anti-aliased bilinear, i.e. area-like when shrinking, plain
   bilinear when enlarging) so that the longer side is ``size``, then centred zero padding to
   ``size x size``.

The work is vectorised over the stack and needs numpy only: one sort of the (n, n_measured)
matrix yields both quantiles of every image, and the resize, a fixed linear map per axis (the
weights of torch's ``interpolate(mode="bilinear", antialias=True)``, :func:`resize_matrix`), is two
matrix products per image.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import InputError

#: Pixels per block (4M: a few 16 MB float32 copies per block; larger blocks were slower and held ~0.5 GB).
_BLOCK_PIXELS = 1 << 22


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of :func:`preprocess`; stored in a model's ``config.json``.

    Parameters
    ----------
    size : int
        Output side length in pixels (the model's input is ``size x size``).
    hotspot_quantile : float
        Quantile (0-1] of the pixels brighter than max/256 at which hotspots are clipped.
    scale_quantile : float
        Quantile (0-1] of the measured pixels that is mapped to 1.
    """

    size: int = 64
    hotspot_quantile: float = 0.99
    scale_quantile: float = 0.99

    def __post_init__(self) -> None:
        if not isinstance(self.size, (int, np.integer)) or isinstance(self.size, bool) or self.size < 1:
            raise InputError(f"PreprocessConfig.size must be a positive integer, got {self.size!r}")
        for name in ("hotspot_quantile", "scale_quantile"):
            q = getattr(self, name)
            if not (isinstance(q, (int, float)) and 0.0 < float(q) <= 1.0):
                raise InputError(f"PreprocessConfig.{name} must be in (0, 1], got {q!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON storage."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PreprocessConfig":
        """Build from :meth:`to_dict` output; unknown keys raise :class:`InputError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"unknown preprocessing setting(s) {unknown}; expected some of {sorted(names)}")
        return cls(**dict(d))


def _tail_quantile(sorted_rows: np.ndarray, start: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolated quantile ``q`` of ``sorted_rows[i, start[i]:]`` for every row.

    Rows are sorted ascending; rows whose tail is empty give NaN.
    """
    n, m = sorted_rows.shape
    count = m - start
    pos = start + q * np.maximum(count - 1, 0)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, m - 1)
    hi = np.clip(lo + 1, 0, m - 1)
    frac = (pos - lo).astype(np.float64)
    rows = np.arange(n)
    a = sorted_rows[rows, lo].astype(np.float64)
    b = sorted_rows[rows, hi].astype(np.float64)
    out = a + (b - a) * frac
    out[count <= 0] = np.nan
    return out


def normalise_measured(values: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Steps 1-4 of :func:`preprocess` on the rows of an (n, n_measured) matrix (float32, [0, 1])."""
    x = np.nan_to_num(values.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    x = np.maximum(x, 0.0)
    s = np.sort(x, axis=1)
    peak = s[:, -1].astype(np.float64)
    above = (s > (peak / 256.0)[:, None]).sum(axis=1)
    clip = _tail_quantile(s, s.shape[1] - above, config.hotspot_quantile)
    clip = np.where(np.isnan(clip), peak, clip)
    np.minimum(s, clip[:, None].astype(np.float32), out=s)
    scale = _tail_quantile(s, np.zeros(len(s), dtype=np.int64), config.scale_quantile)
    scale = np.where(scale > 0, scale, clip)
    scale = np.where(scale > 0, scale, 1.0)
    np.minimum(x, clip[:, None].astype(np.float32), out=x)
    x /= scale[:, None].astype(np.float32)
    return np.clip(x, 0.0, 1.0, out=x)


@functools.lru_cache(maxsize=64)
def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix of an anti-aliased bilinear resize along one axis.

    The weights of ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
    antialias=True)``: output pixel ``i`` centred at ``c = (i + 0.5) * n_in / n_out`` averages the
    input pixels within the triangle filter's support (half-width 1 input pixel, stretched by the
    scale when shrinking), each row normalised to sum 1.

    Parameters
    ----------
    n_in, n_out : int
        Input and output lengths (positive).

    Returns
    -------
    numpy.ndarray
        float32 (n_out, n_in), read-only (cached per ``(n_in, n_out)``).
    """
    # Every step in float32 where torch's CPU kernel uses float for float input, so that the
    # matrices agree with it to float rounding (float64 weights would differ by up to ~1e-5).
    f32 = np.float32
    scale = f32(n_in) / f32(n_out)
    support = max(scale, f32(1.0))                 # filter half-width in input pixels
    inv = f32(1.0 / float(support))
    center = (float(scale) * (np.arange(n_out) + 0.5)).astype(f32)
    lo = np.maximum(((center - support).astype(np.float64) + 0.5).astype(np.int64), 0)   # truncation, as in torch
    hi = np.minimum(((center + support).astype(np.float64) + 0.5).astype(np.int64), n_in)
    width = np.clip(hi - lo, 0, 2 * int(np.ceil(support)) + 1)
    j = np.arange(n_in)
    offset = (j[None, :].astype(f32) - center[:, None]).astype(np.float64) + 0.5
    x = np.abs(offset * float(inv)).astype(f32)
    w = np.where(x < 1.0, (1.0 - x.astype(np.float64)).astype(f32), f32(0.0))
    w[(j[None, :] < lo[:, None]) | (j[None, :] >= (lo + width)[:, None])] = 0.0
    total = np.cumsum(w, axis=1, dtype=f32)[:, -1:]                              # sequential float32 sum
    m = np.divide(w, total, out=np.zeros_like(w), where=total != 0)
    m.setflags(write=False)
    return m


def fitted_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """(height, width) of an (h, w) image resized, aspect kept, so that its longer side is ``size``."""
    factor = size / max(h, w)
    return max(1, min(size, round(h * factor))), max(1, min(size, round(w * factor)))


def resize(stack: np.ndarray, height: int, width: int) -> np.ndarray:
    """Anti-aliased bilinear resize of an (n, H, W) float32 stack to (n, height, width).

    Two matrix products with :func:`resize_matrix`, ``M_h @ image @ M_w.T``, done per image (numpy
    stacks them), so an image's result does not depend on the rest of the stack. BLAS runs
    single-threaded here: threads only slow such small products down, by orders of magnitude on a
    busy CPU. Equal to torch's ``interpolate`` within 1e-6 except where torch's CPU kernel errs
    (an output width of 1 with several output rows, where it repeats the first row).
    """
    _, h, w = stack.shape
    with threadpool_limits(1, user_api="blas"):
        return resize_matrix(h, height) @ stack @ resize_matrix(w, width).T


def _resize_pad(stack: np.ndarray, size: int) -> np.ndarray:
    """Aspect-preserving resize of an (n, H, W) float32 stack to fit ``size``, centred zero padding."""
    n, h, w = stack.shape
    nh, nw = fitted_shape(h, w, size)
    if (nh, nw) != (h, w):
        stack = np.clip(resize(stack, nh, nw), 0.0, 1.0)
    out = np.zeros((n, 1, size, size), dtype=np.float32)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[:, 0, top:top + nh, left:left + nw] = stack
    return out


def image_stack(images: np.ndarray) -> np.ndarray:
    """``images`` as an (n, H, W) numeric array (a 2D image becomes a stack of one); InputError otherwise."""
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or 0 in arr.shape[1:]:
        raise InputError(f"ion images must be (n, H, W) or (H, W) with H, W > 0, got shape {np.shape(images)}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"ion images must be numeric, got dtype {arr.dtype}")
    return arr


def preprocess(
    images: np.ndarray,
    mask: np.ndarray | None = None,
    config: PreprocessConfig | None = None,
    *,
    size: int | None = None,
    each_normalised: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Turn ion images into model input.

    Parameters
    ----------
    images : array (n, H, W) or (H, W)
        Raw ion images of one section (shared raster).
    mask : bool array (H, W), optional
        True where the pixel has a spectrum; None means every pixel is measured.
    config : PreprocessConfig, optional
        Settings; defaults to ``PreprocessConfig()``.
    size : int, optional
        Overrides ``config.size``.
    each_normalised : callable, optional
        Called as ``each_normalised(start, raw, normalised)`` for every block of images before it is
        resized: ``raw`` = ``images[start:start + len(raw)]`` and ``normalised`` the same after
        steps 1-4, float32 (b, H, W) at native resolution (read them there; the arrays are reused).
        Statistics at native resolution so share the work of steps 1-4 with the model input.

    Returns
    -------
    numpy.ndarray
        float32 (n, 1, size, size) in [0, 1]; a 2D input gives (1, 1, size, size).
    """
    config = config or PreprocessConfig()
    if size is not None:
        config = dataclasses.replace(config, size=size)
    arr = image_stack(images)
    n, h, w = arr.shape
    if mask is None:
        mask = np.ones((h, w), dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != (h, w):
        raise InputError(f"mask shape {mask.shape} does not match the ion images' raster {(h, w)}")
    mask = mask.astype(bool)
    out = np.zeros((n, 1, config.size, config.size), dtype=np.float32)
    if n == 0:
        return out
    n_measured = int(mask.sum())
    block = max(1, _BLOCK_PIXELS // (h * w))
    for start in range(0, n, block):
        chunk = arr[start:start + block]
        full = np.zeros(chunk.shape, dtype=np.float32)
        if n_measured:
            full[:, mask] = normalise_measured(chunk[:, mask], config)
        if each_normalised is not None:
            each_normalised(start, chunk, full)
        out[start:start + block] = _resize_pad(full, config.size)
    return out
