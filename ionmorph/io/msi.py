"""Reading imzML mass spectrometry images: :func:`open_msi` and :class:`MSIData`.

The XML is read in one streaming pass (:mod:`ionmorph.io.imzml_xml`: coordinates, offsets, array
lengths, number formats, no DTDs or entities); the .ibd beside it is found and checked against the
XML's UUID by :mod:`ionmorph.io.imzml_files`. The binary ``.ibd`` is read here with plain buffered
reads, one read per chunk of pixels, so memory stays bounded by one chunk whatever the file size
(no memory map: mapped pages would count towards the process's resident memory).

Conventions (docs/design.md):

- raster row = imzML y - min y, column = imzML x - min x; ``shape`` is (H, W);
- ``mask`` is True where a pixel has a spectrum; unmeasured pixels are 0 in every image;
- a pixel whose spectrum is empty (length 0) is measured, with zero signal;
- ion image at m/z M: the sum of intensities with M - w <= m/z <= M + w (both bounds inclusive),
  w = M * ppm * 1e-6, or w = ``tol_da`` when given (SPEC 3). Default ppm: :data:`DEFAULT_PPM`.

Checks: the file layout is validated when opening, vectorised over all spectra in exact integer
arithmetic (lengths, arrays inside the .ibd after its 16-byte header and not overlapping, duplicate
coordinates, a raster at most :data:`MAX_EMPTY_RATIO` times the pixel count, 3D data), and the
first spectra are checked for bytes that look like another number format. Each spectrum's m/z
order and its intensities (NaN, infinite or negative: ``nan_policy``) are checked while streaming
and reported with the pixel's imzML coordinates; sums are float64 and one beyond float32 (images)
is an error, not inf.
"""
from __future__ import annotations

import os
import warnings
from functools import cached_property
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from ..errors import InputError, MSIFormatError, warn_external
from .imzml_files import IBD_HEADER_BYTES, check_imzml_path, choose_ibd, ibd_candidates, not_imzml_hint
from .imzml_xml import parse_imzml

#: Default half-width of ion-image windows in ppm: the upper end of the Orbitrap/FT-ICR range
#: (3-10 ppm, SPEC 3) and narrow enough for most TOF peak lists; pass ``ppm=`` for TOF profiles.
DEFAULT_PPM = 10.0

#: Target size in bytes of one chunk's working arrays (read buffer, cumulative sums, results).
CHUNK_BYTES = 32 * 2**20

#: Default bin width (ppm) of :meth:`MSIData.mean_spectrum` for centroid/unknown processed data.
DEFAULT_BIN_PPM = 5.0

#: Working bytes per spectrum point and per (pixel, window) pair, for :meth:`MSIData.default_chunk`.
_BYTES_PER_POINT = 64
_BYTES_PER_WINDOW = 48

_DTYPES = {"f": "<f4", "d": "<f8", "i": "<i4", "l": "<i8"}
_FORMAT_NAMES = {"<f4": "32-bit float", "<f8": "64-bit float", "<i4": "32-bit integer", "<i8": "64-bit integer"}

#: A raster may hold up to this many times more positions than spectra (or MIN_RASTER_LIMIT
#: positions, whichever is more); beyond that the coordinates are taken to be corrupt.
MAX_EMPTY_RATIO = 100
MIN_RASTER_LIMIT = 2**16

#: Values read from the first spectra to check that the declared number format fits the bytes.
_FORMAT_SAMPLE = 4096
#: Below this many non-zero sampled values, all (not 90 %) must look like another number format.
_FORMAT_FEW = 8

#: Most bins :meth:`MSIData.mean_spectrum` builds from a ppm width (a float64 array of 128 MiB).
MAX_BINS = 2**24

#: Files whose contradictory cvParams were warned about already (once per file and process).
_CONFLICTS_TOLD: set[tuple[str, tuple[str, ...]]] = set()

_F32_MAX = float(np.finfo(np.float32).max)
_NAN_POLICIES = ("raise", "zero")


class SpectraChunk(NamedTuple):
    """One chunk of spectra from :meth:`MSIData.spectra`.

    Attributes
    ----------
    index : int64 array (n,)
        Pixel indices into ``MSIData.coords``.
    mz : array (L,) or list of n arrays
        Continuous data: the shared m/z axis. Processed data: one m/z array per pixel.
    intensity : array (n, L) or list of n arrays
        Continuous data: a 2D block, one row per pixel. Processed data: one array per pixel.
    """

    index: np.ndarray
    mz: np.ndarray | list[np.ndarray]
    intensity: np.ndarray | list[np.ndarray]


def _first_unsorted(flat: np.ndarray, counts: np.ndarray) -> int | None:
    """Position of the first run (``counts`` values each in ``flat``) not finite and non-decreasing."""
    ok = np.isfinite(flat)
    ok[1:] &= np.diff(flat) >= 0
    ends = np.cumsum(counts)
    starts = (ends - counts)[counts > 0]
    ok[starts] = np.isfinite(flat[starts])
    if ok.all():
        return None
    return int(np.searchsorted(ends, np.argmin(ok), "right"))


def _window_sums(mzs: list[np.ndarray], ints: list[np.ndarray], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum of each spectrum's intensities inside each window [lo_j, hi_j]; float64 (n_spectra, n_windows).

    ``lo`` and ``hi`` must both ascend. A peak at m/z m then lies in the contiguous run of windows
    b <= j < a with a = #(lo <= m) and b = #(hi < m), so two searchsorted calls over the whole
    chunk place every peak; a difference array per spectrum (+I at b, -I at a) and a cumulative sum
    over the windows give all sums. Windows that hold no peak are exactly 0.
    """
    k, n = len(mzs), len(lo)
    counts = np.array([len(m) for m in mzs], dtype=np.int64)
    if k == 0 or counts.sum() == 0:
        return np.zeros((k, n))
    flat_mz = np.concatenate(mzs)
    a = np.searchsorted(lo, flat_mz, "right")
    b = np.searchsorted(hi, flat_mz, "left")
    hit = np.flatnonzero(a > b)
    spec = np.repeat(np.arange(k), counts)[hit]
    weight = np.concatenate(ints)[hit].astype(np.float64)
    start, stop = spec * (n + 1) + b[hit], spec * (n + 1) + a[hit]
    size = k * (n + 1)
    sums = np.bincount(start, weight, size)
    sums -= np.bincount(stop, weight, size)
    inside = np.bincount(start, minlength=size)
    inside -= np.bincount(stop, minlength=size)
    sums = np.cumsum(sums.reshape(k, n + 1), axis=1, out=sums.reshape(k, n + 1))[:, :n]
    inside = np.cumsum(inside.reshape(k, n + 1), axis=1, out=inside.reshape(k, n + 1))[:, :n]
    sums[inside == 0] = 0.0
    return sums


def _misdeclared(values: np.ndarray) -> str | None:
    """The number format the bytes of ``values`` look like instead of their own dtype, or None.

    Integers whose bit patterns are, for at least 90 % of the non-zero values, normal (not
    subnormal) finite floats up to 1e15, at least one in ten of them of everyday magnitude (1e-6
    or more), are floats declared as integers (a float32 1.0 reads as the int32 1065353216; true
    counts below 2**23 read as subnormal floats). The everyday share is low because spectra hold
    many near-zero floats (1e-38 in the official example files). Floats that are mostly subnormal
    are integers declared as floats. With fewer than :data:`_FORMAT_FEW` non-zero values (a tiny
    file) every one of them must look so.
    """
    nz = values[values != 0]
    if not len(nz):
        return None
    share = 0.9 if len(nz) >= _FORMAT_FEW else 1.0
    bits = 8 * values.dtype.itemsize
    if values.dtype.kind == "i":
        as_float = nz.view(f"<f{values.dtype.itemsize}")
        with np.errstate(invalid="ignore", over="ignore"):
            size = np.abs(as_float)
            plausible = np.isfinite(as_float) & (size >= np.finfo(as_float.dtype).tiny) & (size <= 1e15)
            everyday = plausible & (size >= 1e-6)
        if plausible.mean() >= share and everyday.mean() >= min(share, 0.1):
            i = int(np.argmax(everyday))
            return f"{bits}-bit floats (e.g. {nz[i]} is {as_float[i]:.6g} as a float)"
    elif (np.abs(nz) < np.finfo(values.dtype).tiny).mean() >= share:
        return f"{bits}-bit integers (e.g. {nz[0]:.3g} is {nz[:1].view(f'<i{values.dtype.itemsize}')[0]} as an integer)"
    return None


def _storage_mode(declared: str | None, offsets: np.ndarray, lengths: np.ndarray) -> str:
    """'continuous' or 'processed': as declared in the file content, else inferred."""
    if declared is not None:
        return declared
    shared = bool(np.all(offsets == offsets[0]) and np.all(lengths == lengths[0]))
    return "continuous" if shared else "processed"


def _dtype(path: Path, code: str | None, what: str) -> np.dtype:
    if code not in _DTYPES:
        raise MSIFormatError(path, f"the {what} array has no supported number format "
                                   "(32/64-bit float or integer)")
    return np.dtype(_DTYPES[code])


def _unwrap_int32(offsets: np.ndarray) -> np.ndarray:
    """Offsets that writers stored as signed 32-bit integers and that wrapped past 2 GiB, unwrapped.

    Each switch from a non-negative to a negative offset (after the first spectrum) adds 2**32 to
    it and to every later offset, as pyimzML does. Values that cannot be such wraps are left for
    the bounds check to report.
    """
    neg = offsets < 0
    if not neg[1:].any():
        return offsets
    wraps = np.zeros(len(offsets), dtype=np.int64)
    wraps[1:] = neg[1:] & ~neg[:-1]
    delta = np.cumsum(wraps) << 32
    return np.where(offsets > 2**62, offsets, offsets + delta)


def open_msi(path: str | os.PathLike, z: int | None = None, *, nan_policy: str = "raise") -> "MSIData":
    """Open an imzML file (with its .ibd beside it).

    Parameters
    ----------
    path : path-like
        The ``.imzML`` file.
    z : int, optional
        The z slice to read from 3D data (required when the file has several z values).
    nan_policy : {"raise", "zero"}
        What to do with NaN, infinite or negative intensities met while streaming: raise
        :class:`MSIFormatError` naming the pixel (default), or treat them as 0 with one warning per pass.

    Returns
    -------
    MSIData

    Raises
    ------
    MSIFormatError
        A missing file, directory or broken link; XML that is not imzML or is malformed, declares a
        DTD or entities or an unknown encoding; a missing, ambiguous or foreign .ibd (UUID check);
        unsupported number format or compression; numbers beyond 64 bits; arrays outside the .ibd,
        inside its 16-byte header or overlapping each other; mismatched array lengths; duplicate
        coordinates; a raster far larger than the pixel count; 3D data without ``z``; continuous
        data without one shared m/z axis; bytes that look like another number format.

    Warns
    -----
    UserWarning
        When the XML declares no UUID, so the .ibd cannot be checked against it.
    """
    path = Path(path)
    if nan_policy not in _NAN_POLICIES:
        raise InputError(f"nan_policy must be one of {_NAN_POLICIES}, got {nan_policy!r}")
    if z is not None and not isinstance(z, (int, np.integer)):
        raise InputError(f"z must be an integer, got {z!r}")
    check_imzml_path(path)
    found: list[Path] = []
    try:
        head = parse_imzml(path, on_root=lambda: found.extend(ibd_candidates(path)))
    except MSIFormatError as exc:
        if exc.problem.startswith("not an XML file"):
            raise MSIFormatError(path, exc.problem + not_imzml_hint(path)) from None
        raise
    ibd = choose_ibd(path, found, head.uuid)
    mz_dtype = _dtype(path, head.mz_format, "m/z")
    int_dtype = _dtype(path, head.int_format, "intensity")
    xyz = head.xyz
    if len(xyz) == 0:
        raise MSIFormatError(path, "the file holds no spectra")
    zs = np.unique(xyz[:, 2])
    if z is None:
        if len(zs) > 1:
            more = f" ({len(zs)} in all)" if len(zs) > 10 else ""
            raise MSIFormatError(path, f"3D data with z values {zs[:10].tolist()}{more}; choose a slice with z=")
        z = int(zs[0])
    keep = np.flatnonzero(xyz[:, 2] == z)
    if len(keep) == 0:
        raise MSIFormatError(path, f"no spectra at z={z}; the file has z values {zs[:10].tolist()}")
    layout = _Layout(
        mz_offsets=_unwrap_int32(head.mz_offsets)[keep],
        mz_lengths=head.mz_lengths[keep],
        int_offsets=_unwrap_int32(head.int_offsets)[keep],
        int_lengths=head.int_lengths[keep],
    )
    mode = _storage_mode(head.mode, layout.mz_offsets, layout.mz_lengths)
    if head.conflicts and (str(Path(path).resolve()), head.conflicts) not in _CONFLICTS_TOLD:
        _CONFLICTS_TOLD.add((str(Path(path).resolve()), head.conflicts))
        warn_external(f"{path}: the XML gives {'; '.join(head.conflicts)}; the accession is trusted "
                      "(the name is ignored)")
    return MSIData(path, ibd, xyz[keep, :2], layout, mode, mz_dtype, int_dtype,
                   spectrum_type=head.spectrum_type, z=int(z), nan_policy=nan_policy)


class _Layout(NamedTuple):
    mz_offsets: np.ndarray
    mz_lengths: np.ndarray
    int_offsets: np.ndarray
    int_lengths: np.ndarray


class MSIData:
    """An opened imzML dataset (one z slice): raster geometry plus streaming access to spectra.

    Create it with :func:`open_msi`. Attributes: ``path``, ``ibd_path``, ``shape`` (H, W),
    ``mask`` (bool H x W), ``coords`` (n_pixels, 2) int (row, col) in file order, ``xy``
    (n_pixels, 2) the original imzML (x, y), ``n_pixels``, ``mode`` ("continuous" or "processed"),
    ``spectrum_type`` ("profile", "centroid" or None), ``mz_dtype``, ``intensity_dtype``,
    ``spectrum_lengths``, ``mz_axis`` (continuous only, else None), ``mz_range``.
    """

    def __init__(self, path: Path, ibd_path: Path, xy: np.ndarray, layout: _Layout, mode: str,
                 mz_dtype: np.dtype, intensity_dtype: np.dtype, *, spectrum_type: str | None,
                 z: int, nan_policy: str) -> None:
        self.path, self.ibd_path, self.mode = path, ibd_path, mode
        self.mz_dtype, self.intensity_dtype = mz_dtype, intensity_dtype
        self.spectrum_type, self.z, self.nan_policy = spectrum_type, z, nan_policy
        self.xy = xy
        self._layout = layout
        self.n_pixels = len(xy)
        self.shape = self._raster_shape()
        cols, rows = (xy - xy.min(axis=0)).T
        self.coords = np.stack([rows, cols], axis=1)
        self._check_layout()
        self.mask = np.zeros(self.shape, dtype=bool)
        self.mask[rows, cols] = True
        self.mz_axis = self._read_axis() if mode == "continuous" else None
        self._check_number_formats()

    # ----------------------------------------------------------------- validation
    def _where(self, i: int) -> str:
        x, y = self.xy[i]
        return f"the spectrum at pixel x={x}, y={y} (spectrum {i})"

    def _raster_shape(self) -> tuple[int, int]:
        """(H, W) of the bounding raster, refused when far larger than the pixel count (exact integers)."""
        (x0, y0), (x1, y1) = self.xy.min(axis=0).tolist(), self.xy.max(axis=0).tolist()
        h, w = y1 - y0 + 1, x1 - x0 + 1
        limit = max(MIN_RASTER_LIMIT, MAX_EMPTY_RATIO * self.n_pixels)
        if h * w > limit:
            raise MSIFormatError(self.path, f"the pixels span x {x0}..{x1} and y {y0}..{y1}: a {h} x {w} raster "
                                            f"for {self.n_pixels} spectra (more than {MAX_EMPTY_RATIO} times the "
                                            "pixel count); the coordinates look corrupt")
        return h, w

    def _check_layout(self) -> None:
        lay = self._layout
        lin = self.coords[:, 0] * self.shape[1] + self.coords[:, 1]
        order = np.argsort(lin, kind="stable")
        dup = np.flatnonzero(np.diff(lin[order]) == 0)
        if len(dup):
            i, j = sorted(order[dup[0]:dup[0] + 2])
            x, y = self.xy[j]
            raise MSIFormatError(self.path, f"duplicate coordinates: spectra {i} and {j} are both at "
                                            f"x={x}, y={y}")
        bad = np.flatnonzero(lay.mz_lengths != lay.int_lengths)
        if len(bad):
            i = bad[0]
            raise MSIFormatError(self.path, f"{self._where(i)} has {lay.mz_lengths[i]} m/z values but "
                                            f"{lay.int_lengths[i]} intensities")
        if self.ibd_path.stat().st_size < IBD_HEADER_BYTES:
            raise MSIFormatError(self.ibd_path, f"too short for the {IBD_HEADER_BYTES}-byte UUID header")
        for what, off, dt in (("m/z", lay.mz_offsets, self.mz_dtype),
                              ("intensity", lay.int_offsets, self.intensity_dtype)):
            self._check_extents(what, off, lay.mz_lengths, dt.itemsize)
        self._check_overlaps()
        if self.mode == "continuous":
            bad = np.flatnonzero((lay.mz_offsets != lay.mz_offsets[0]) | (lay.mz_lengths != lay.mz_lengths[0]))
            if len(bad):
                raise MSIFormatError(self.path, f"declared continuous, but {self._where(bad[0])} does not "
                                                "share the first spectrum's m/z array")

    def _check_extents(self, what: str, off: np.ndarray, length: np.ndarray, itemsize: int) -> None:
        """Every array lies inside the .ibd, after its header; checked without int64 overflow."""
        size = self.ibd_path.stat().st_size
        room = (size - np.clip(off, 0, size)) // itemsize
        full = length > 0
        bad = np.flatnonzero((length < 0) | (off < 0) | (off > size) | (length > room)
                             | (full & (off < IBD_HEADER_BYTES)))
        if len(bad):
            i = int(bad[0])
            start, n = int(off[i]), int(length[i])
            where = (f"starts at byte {start}, inside the {IBD_HEADER_BYTES}-byte UUID header of "
                     f"{self.ibd_path.name}" if 0 <= start < IBD_HEADER_BYTES and 0 <= n <= room[i] else
                     f"(bytes {start}-{start + n * itemsize}) lies outside {self.ibd_path.name} ({size} bytes); "
                     "the .ibd is truncated or does not belong to this file")
            raise MSIFormatError(self.path, f"{self._where(i)}: its {what} array {where}")

    def _check_overlaps(self) -> None:
        """No two stored arrays share bytes, unless they are the same array of the same kind (a shared axis)."""
        lay = self._layout
        n = self.n_pixels
        start = np.concatenate([lay.mz_offsets, lay.int_offsets])
        end = start + np.concatenate([lay.mz_lengths * self.mz_dtype.itemsize,
                                      lay.int_lengths * self.intensity_dtype.itemsize])
        keep = np.flatnonzero(end > start)
        order = keep[np.lexsort((end[keep], start[keep]))]
        s, e = start[order], end[order]
        same = (s[1:] == s[:-1]) & (e[1:] == e[:-1])
        mixed = np.flatnonzero(same & ((order[1:] < n) != (order[:-1] < n)))
        distinct = np.concatenate([[True], ~same])
        reach = np.maximum.accumulate(e)
        clash = np.flatnonzero(distinct[1:] & (s[1:] < reach[:-1]))
        if len(mixed) or len(clash):
            k = int(mixed[0]) if len(mixed) else int(clash[0])
            j = int(order[k + 1])
            i = int(order[k]) if len(mixed) else int(order[:k + 1][np.argmax(e[:k + 1])])

            def name(a: int) -> str:
                return f"{'m/z' if a < n else 'intensity'} array of {self._where(a % n)}"
            raise MSIFormatError(self.path, f"the {name(j)} overlaps the {name(i)} in {self.ibd_path.name}: "
                                            "the offsets are corrupt")

    def _check_number_formats(self) -> None:
        """Refuse arrays whose bytes look like another number format (e.g. floats declared int32).

        Looks at the first spectra (up to :data:`_FORMAT_SAMPLE` values of each array kind).
        """
        lay = self._layout
        with open(self.ibd_path, "rb") as fh:
            for what, off, dt in (("m/z", lay.mz_offsets, self.mz_dtype),
                                  ("intensity", lay.int_offsets, self.intensity_dtype)):
                cum = np.cumsum(lay.mz_lengths)
                k = int(np.searchsorted(cum, _FORMAT_SAMPLE)) + 1
                idx = np.arange(min(k, self.n_pixels))
                if what == "m/z" and self.mz_axis is not None:
                    idx = idx[:1]
                if not len(idx) or not lay.mz_lengths[idx].sum():
                    continue
                values = np.concatenate(self._read(fh, off[idx], lay.mz_lengths[idx], [dt] * len(idx)))
                other = _misdeclared(values)
                if other:
                    raise MSIFormatError(self.path, f"the {what} arrays are declared {_FORMAT_NAMES[dt.str]}, but "
                                                    f"their bytes look like {other} (wrong number format in the XML)")

    def _check_mz(self, mz: np.ndarray, i: int | None) -> None:
        """Raise unless ``mz`` is finite and non-decreasing (``i``: pixel index, None = shared axis)."""
        if len(mz) and not (np.isfinite(mz[0]) and np.isfinite(mz[-1]) and np.all(np.diff(mz) >= 0)):
            where = "the shared m/z axis" if i is None else self._where(i)
            raise MSIFormatError(self.path, f"{where}: m/z values are not finite and non-decreasing")

    def _check_intensity(self, values: np.ndarray, index: np.ndarray, counts: np.ndarray | None) -> np.ndarray:
        """Apply the NaN policy to a chunk's NaN, infinite and negative intensities.

        ``values`` is an (n, L) block (continuous data, ``counts`` None) or the concatenation of the
        chunk's spectra with ``counts`` values each (processed data).
        """
        ok = (values >= 0) & (values < np.inf) if values.dtype.kind == "f" else values >= 0
        if ok.all():
            return values
        if self.nan_policy == "raise":
            flat = int(np.argmin(ok.ravel()))
            pos = flat // values.shape[1] if counts is None else np.searchsorted(np.cumsum(counts), flat, "right")
            what = "negative" if values.ravel()[flat] < 0 and np.isfinite(values.ravel()[flat]) else "NaN or infinite"
            raise MSIFormatError(self.path, f"{self._where(index[pos])} holds {what} intensities "
                                            "(open with nan_policy='zero' to treat them as 0)")
        finite = np.isfinite(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
        self._invalid[0] += int((~finite).sum())
        self._invalid[1] += int((finite & ~ok).sum())
        return np.where(ok, values, 0)

    # ----------------------------------------------------------------- raw reads
    def _read(self, fh, offsets: np.ndarray, counts: np.ndarray, dtypes: Sequence[np.dtype]) -> list[np.ndarray]:
        """Read arrays at byte ``offsets`` of ``counts`` elements of ``dtypes`` (one dtype per array).

        Arrays that lie close together in the .ibd (the usual layout) are fetched with one read.
        """
        sizes = np.array([dt.itemsize for dt in dtypes], dtype=np.int64)
        nbytes = counts * sizes
        lo, hi = int(offsets.min()), int((offsets + nbytes).max())
        if hi - lo <= 2 * int(nbytes.sum()) + 65536:
            fh.seek(lo)
            buf = bytearray(hi - lo)
            if fh.readinto(buf) != len(buf):
                raise MSIFormatError(self.ibd_path, f"file ended before byte {hi}: truncated while reading")
            return [np.frombuffer(buf, dt, int(c), int(o) - lo) for o, c, dt in zip(offsets, counts, dtypes)]
        out = []
        for o, n, dt in zip(offsets, nbytes, dtypes):
            fh.seek(int(o))
            raw = fh.read(int(n))
            if len(raw) != n:
                raise MSIFormatError(self.ibd_path, f"file ended before byte {o + n}: truncated while reading")
            out.append(np.frombuffer(raw, dt))
        return out

    def _read_axis(self) -> np.ndarray:
        lay = self._layout
        with open(self.ibd_path, "rb") as fh:
            axis = self._read(fh, lay.mz_offsets[:1], lay.mz_lengths[:1], [self.mz_dtype])[0]
        self._check_mz(axis, None)
        return axis.copy()

    # ----------------------------------------------------------------- properties
    @property
    def spectrum_lengths(self) -> np.ndarray:
        """Number of (m/z, intensity) points of each pixel's spectrum, in file order."""
        return self._layout.mz_lengths

    @cached_property
    def mz_range(self) -> tuple[float, float]:
        """(lowest, highest) m/z over all spectra (first/last value of each sorted m/z array)."""
        if self.mz_axis is not None:
            return (float(self.mz_axis[0]), float(self.mz_axis[-1])) if len(self.mz_axis) else (np.nan, np.nan)
        lay = self._layout
        full = lay.mz_lengths > 0
        if not full.any():
            return (np.nan, np.nan)
        size = self.mz_dtype.itemsize
        off = lay.mz_offsets[full]
        ends = off + (lay.mz_lengths[full] - 1) * size
        with open(self.ibd_path, "rb") as fh:
            ones = np.ones(len(off), np.int64)
            first = self._read(fh, off, ones, [self.mz_dtype] * len(off))
            last = self._read(fh, ends, ones, [self.mz_dtype] * len(off))
        return float(np.min(first)), float(np.max(last))

    def default_chunk(self, n_windows: int = 0) -> int:
        """Pixels per chunk so that a chunk's working arrays take about :data:`CHUNK_BYTES`.

        Budget per pixel: :data:`_BYTES_PER_POINT` per spectrum point (read buffer, float64 copies,
        window positions) plus :data:`_BYTES_PER_WINDOW` per ion-image window (difference arrays,
        cumulative sums, result rows) when ``n_windows`` images are extracted.
        """
        mean_len = float(self._layout.mz_lengths.mean()) if self.n_pixels else 0.0
        per_pixel = mean_len * _BYTES_PER_POINT + (n_windows + 1) * _BYTES_PER_WINDOW * bool(n_windows) + 64
        return int(max(1, min(self.n_pixels, CHUNK_BYTES // per_pixel)))

    # ----------------------------------------------------------------- streaming
    def spectra(self, chunk: int | None = None, progress: bool = False) -> Iterator[SpectraChunk]:
        """Stream the spectra in file order, ``chunk`` pixels at a time.

        Parameters
        ----------
        chunk : int, optional
            Pixels per chunk; default :meth:`default_chunk` (about :data:`CHUNK_BYTES` per chunk).
        progress : bool
            Show a tqdm progress bar.

        Yields
        ------
        SpectraChunk
            ``(index, mz, intensity)``; for continuous data ``mz`` is the shared axis and
            ``intensity`` an (n, L) block, for processed data both are lists of per-pixel arrays.
            Arrays are read-only views of the chunk's buffer unless NaNs were replaced.
        """
        from tqdm.auto import tqdm

        chunk = self.default_chunk() if chunk is None else int(chunk)
        if chunk < 1:
            raise InputError(f"chunk must be a positive number of pixels, got {chunk}")
        lay = self._layout
        self._invalid = [0, 0]  # NaN/infinite, negative values replaced by 0 in this pass
        with open(self.ibd_path, "rb") as fh, tqdm(total=self.n_pixels, disable=not progress,
                                                   desc=f"reading {self.path.name}", unit="px") as bar:
            for start in range(0, self.n_pixels, chunk):
                index = np.arange(start, min(start + chunk, self.n_pixels))
                counts = lay.int_lengths[index]
                if self.mz_axis is not None:
                    ints = self._read(fh, lay.int_offsets[index], counts, [self.intensity_dtype] * len(index))
                    block = np.stack(ints) if len(self.mz_axis) else np.zeros((len(index), 0), self.intensity_dtype)
                    yield SpectraChunk(index, self.mz_axis, self._check_intensity(block, index, None))
                else:
                    yield self._processed_chunk(fh, index, counts)
                bar.update(len(index))
        if any(self._invalid):
            parts = [f"{c} {w}" for c, w in zip(self._invalid, ("NaN/infinite", "negative")) if c]
            warnings.warn(f"{self.path}: {' and '.join(parts)} intensities treated as 0", stacklevel=3)

    def _processed_chunk(self, fh, index: np.ndarray, counts: np.ndarray) -> SpectraChunk:
        """Read and check one chunk of processed spectra (m/z order, valid intensities)."""
        lay, n = self._layout, len(index)
        arrays = self._read(fh, np.concatenate([lay.mz_offsets[index], lay.int_offsets[index]]),
                            np.concatenate([counts, counts]),
                            [self.mz_dtype] * n + [self.intensity_dtype] * n)
        mzs, ints = arrays[:n], arrays[n:]
        if n:
            bad = _first_unsorted(np.concatenate(mzs), counts)
            if bad is not None:
                self._check_mz(mzs[bad], int(index[bad]))
        if n:
            flat = np.concatenate(ints)
            checked = self._check_intensity(flat, index, counts)
            if checked is not flat:
                ints = np.split(checked, np.cumsum(counts)[:-1])
        return SpectraChunk(index, mzs, ints)

    # ----------------------------------------------------------------- images and spectra
    def _scatter(self, out: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
        """Write per-pixel ``values`` (n, k) of pixels ``index`` into the (k, H, W) stack ``out``.

        ``values`` are float64 sums; one beyond the float32 range of ``out`` is an error, not inf.
        """
        if values.size and values.max() > _F32_MAX:
            i = index[np.argmax(values.max(axis=1))]
            raise MSIFormatError(self.path, f"{self._where(i)}: its intensities sum to {values.max():.3g}, beyond "
                                            "the float32 range of images (3.4e38); the intensities are corrupt")
        rows, cols = self.coords[index].T
        out[:, rows, cols] = values.T

    def tic_image(self, progress: bool = False) -> np.ndarray:
        """Total ion count per pixel, float32 (H, W); unmeasured pixels are 0."""
        out = np.zeros((1, *self.shape), dtype=np.float32)
        for index, _, ints in self.spectra(progress=progress):
            if self.mz_axis is not None:
                tic = ints.sum(axis=1, dtype=np.float64)
            else:
                counts = np.array([len(a) for a in ints])
                tic = np.bincount(np.repeat(np.arange(len(ints)), counts), minlength=len(ints),
                                  weights=np.concatenate(ints).astype(np.float64) if len(ints) else None)
            self._scatter(out, index, tic[:, None])
        return out[0]

    def ion_images(self, mz: float | Sequence[float] | np.ndarray, ppm: float = DEFAULT_PPM,
                   tol_da: float | None = None, progress: bool = False,
                   chunk: int | None = None) -> np.ndarray:
        """Ion images of all windows in one streaming pass over the spectra.

        Parameters
        ----------
        mz : float or sequence of float
            Window centres M (any order; windows may overlap).
        ppm : float
            Half-width M * ppm * 1e-6 (SPEC 3); ignored when ``tol_da`` is given.
        tol_da : float, optional
            Absolute half-width in Da.
        progress : bool
            Show a progress bar.
        chunk : int, optional
            Pixels per chunk (default: about :data:`CHUNK_BYTES` of working memory).

        Returns
        -------
        numpy.ndarray
            float32 (n, H, W): per pixel the sum of intensities with lo <= m/z <= hi (inclusive);
            unmeasured pixels are 0.
        """
        lo, hi = mz_windows(mz, ppm=ppm, tol_da=tol_da)
        n = len(lo)
        out = np.zeros((n, *self.shape), dtype=np.float32)
        if n == 0:
            return out
        if chunk is None:
            chunk = self.default_chunk(n_windows=n)
        if self.mz_axis is not None:
            axis = self.mz_axis.astype(np.float64)
            left, right = np.searchsorted(axis, lo, "left"), np.searchsorted(axis, hi, "right")
            first, last = int(left.min()), int(max(right.max(), left.min()))
            left, right = left - first, right - first
            for index, _, block in self.spectra(chunk, progress):
                sub = block[:, first:last]
                cs = np.zeros((len(index), sub.shape[1] + 1), dtype=np.float64)
                np.cumsum(sub, axis=1, dtype=np.float64, out=cs[:, 1:])
                self._scatter(out, index, cs[:, right] - cs[:, left])
            return out
        order = np.argsort(lo, kind="stable")
        # both bounds ascend with the centre; accumulate guards against 1-ulp rounding inversions
        lo_s, hi_s = np.maximum.accumulate(lo[order]), np.maximum.accumulate(hi[order])
        for index, mzs, ints in self.spectra(chunk, progress):
            vals = _window_sums(mzs, ints, lo_s, hi_s)
            self._scatter(out, index, vals[:, np.argsort(order)])
        return out

    def channel_images(self, idx: int | Sequence[int] | np.ndarray | None = None,
                       progress: bool = False) -> np.ndarray:
        """Raw channels of the shared m/z axis as images (continuous data only).

        Parameters
        ----------
        idx : int or sequence of int, optional
            Channel indices into ``mz_axis``; None means every channel (memory: L x H x W floats).

        Returns
        -------
        numpy.ndarray
            float32 (k, H, W); unmeasured pixels are 0.
        """
        if self.mz_axis is None:
            raise InputError(f"{self.path}: channel_images needs continuous data (one shared m/z axis); "
                             "use ion_images for processed data")
        L = len(self.mz_axis)
        sel = np.arange(L) if idx is None else np.atleast_1d(np.asarray(idx))
        if sel.ndim != 1 or (sel.size and (sel.dtype.kind not in "iu" or sel.min() < -L or sel.max() >= L)):
            raise InputError(f"channel indices must be integers in [0, {L}), got {idx!r}")
        out = np.zeros((len(sel), *self.shape), dtype=np.float32)
        for index, _, block in self.spectra(progress=progress):
            self._scatter(out, index, block[:, sel])
        return out

    def mean_spectrum(self, bins: np.ndarray | None = None, bin_ppm: float | None = None,
                      progress: bool = False, frequency: bool = False) -> tuple[np.ndarray, ...]:
        """Mean spectrum over the measured pixels.

        Continuous data without ``bins``/``bin_ppm``: the mean on the shared axis. Otherwise the
        intensities are summed into bins (value in [edge_i, edge_i+1)) and divided by ``n_pixels``.

        Parameters
        ----------
        bins : array, optional
            Increasing bin edges (m/z).
        bin_ppm : float, optional
            Width of constant-ppm (log-spaced) bins over ``mz_range``. Default for processed data:
            the median relative spacing of a profile spectrum's points, or :data:`DEFAULT_BIN_PPM`
            for centroid data (or when the type is unknown).
        progress : bool
            Show a progress bar.
        frequency : bool
            Also return, per axis point or bin, the number of positive values divided by
            ``n_pixels``: the fraction of spectra holding a peak there (meaningful for centroid data).

        Returns
        -------
        (mz, intensity) or (mz, intensity, frequency) : float64 arrays
            Axis values (bin centres, geometric mean of the edges), mean intensities and, if asked,
            peak frequencies.
        """
        if self.mz_axis is not None and bins is None and bin_ppm is None:
            total = np.zeros(len(self.mz_axis), dtype=np.float64)
            count = np.zeros(len(self.mz_axis), dtype=np.float64)
            for _, _, block in self.spectra(progress=progress):
                total += block.sum(axis=0, dtype=np.float64)
                if frequency:
                    count += (block > 0).sum(axis=0)
            self._check_total(total)
            out = (self.mz_axis.astype(np.float64), total / self.n_pixels)
            return out + (count / self.n_pixels,) if frequency else out
        edges = self._bin_edges(bin_ppm) if bins is None else np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0):
            raise InputError("bins must be at least two strictly increasing m/z edges")
        nb = len(edges) - 1
        total = np.zeros(nb, dtype=np.float64)
        count = np.zeros(nb, dtype=np.float64)
        for _, mzs, ints in self.spectra(progress=progress):
            if self.mz_axis is not None:
                m, a = self.mz_axis, ints.sum(axis=0, dtype=np.float64)
                positive = (ints > 0).sum(axis=0)
            else:
                m, a = (np.concatenate(mzs), np.concatenate(ints)) if len(mzs) else (np.zeros(0), np.zeros(0))
                positive = a > 0
            b = np.searchsorted(edges, m, "right") - 1
            ok = (b >= 0) & (b < nb)
            total += np.bincount(b[ok], weights=a[ok].astype(np.float64), minlength=nb)
            if frequency:
                count += np.bincount(b[ok], weights=np.asarray(positive, dtype=np.float64)[ok], minlength=nb)
        self._check_total(total)
        out = (np.sqrt(edges[:-1] * edges[1:]), total / self.n_pixels)
        return out + (count / self.n_pixels,) if frequency else out

    def _check_total(self, total: np.ndarray) -> None:
        """Raise when a float64 sum over all spectra overflowed."""
        if not np.isfinite(total).all():
            raise MSIFormatError(self.path, "the intensities sum beyond the float64 range in the mean spectrum; "
                                            "the intensities are corrupt")

    def _bin_edges(self, bin_ppm: float | None) -> np.ndarray:
        """Constant-ppm edges over ``mz_range`` (see :meth:`mean_spectrum` for the default width)."""
        if bin_ppm is None:
            bin_ppm = DEFAULT_BIN_PPM
            if self.spectrum_type == "profile":
                chunk = next(self.spectra(chunk=1))
                m = np.asarray(chunk.mz if self.mz_axis is not None else chunk.mz[0], dtype=np.float64)
                rel = np.diff(m) / m[1:] * 1e6 if len(m) > 2 else np.zeros(0)
                rel = rel[rel > 0]
                if len(rel):
                    bin_ppm = float(np.median(rel))
        if not bin_ppm > 0:
            raise InputError(f"bin_ppm must be positive, got {bin_ppm!r}")
        lo, hi = self.mz_range
        if not (np.isfinite(lo) and lo > 0):
            raise InputError(f"{self.path}: no positive m/z values to bin")
        step = np.log1p(bin_ppm * 1e-6)
        n = np.floor(np.log(hi / lo) / step) + 1
        if not n <= MAX_BINS:
            raise InputError(f"{self.path}: binning m/z {lo:.6g}-{hi:.6g} at {bin_ppm:g} ppm needs {n:.3g} bins "
                             f"(at most {MAX_BINS}); is an m/z value corrupt? Pass bins= or a larger bin_ppm")
        return lo * np.exp(step * np.arange(int(n) + 1))

    def __repr__(self) -> str:
        lo, hi = self.mz_range
        return (f"MSIData({self.path.name!r}, mode={self.mode!r}, shape={self.shape}, "
                f"n_pixels={self.n_pixels}, mz_range=({lo:.4f}, {hi:.4f}))")


def mz_windows(mz: float | Sequence[float] | np.ndarray, ppm: float = DEFAULT_PPM,
               tol_da: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive window bounds (lo, hi) around each m/z: M -/+ M*ppm*1e-6, or M -/+ tol_da."""
    centres = np.atleast_1d(np.asarray(mz, dtype=np.float64))
    if centres.ndim != 1 or not np.all(np.isfinite(centres)) or np.any(centres <= 0):
        raise InputError(f"m/z values must be a flat list of positive finite numbers, got {mz!r}")
    if tol_da is not None:
        if not (np.isfinite(tol_da) and tol_da > 0):
            raise InputError(f"tol_da must be a positive number of Da, got {tol_da!r}")
        half = np.full_like(centres, float(tol_da))
    else:
        if not (np.isfinite(ppm) and ppm > 0):
            raise InputError(f"ppm must be positive, got {ppm!r}")
        half = centres * float(ppm) * 1e-6
    return centres - half, centres + half
