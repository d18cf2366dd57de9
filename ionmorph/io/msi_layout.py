"""Opening an imzML dataset and checking its layout: the first job of :class:`ionmorph.io.msi.MSIData`.

:meth:`MSILayout.open` reads the XML in one streaming pass (:mod:`ionmorph.io.imzml_xml`:
coordinates, offsets, array lengths, number formats, no DTDs or entities), finds the .ibd beside it
and checks it against the XML's UUID (:mod:`ionmorph.io.imzml_files`), picks the z slice and builds
the raster geometry: row = imzML y - min y, column = imzML x - min x, ``shape`` (H, W), ``mask``
True where a pixel has a spectrum (a pixel whose spectrum is empty is measured, with zero signal).

Contract: an :class:`MSILayout` that exists has passed every layout check, vectorised over all
spectra in exact integer arithmetic: array lengths, arrays inside the .ibd after its 16-byte header
and not overlapping, duplicate coordinates, a raster at most :data:`MAX_EMPTY_RATIO` times the pixel
count, 3D data, one shared m/z axis for continuous data, and the first spectra's bytes against the
declared number format. Beyond that sample it reads no intensities: streaming them is
:mod:`ionmorph.io.msi_extract`'s job. Raw reads (:meth:`MSILayout._read`) are plain buffered reads
(no memory map: mapped pages would count towards the process's resident memory).
"""
from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import NamedTuple, Sequence, TypeVar

import numpy as np

from ..errors import InputError, MSIFormatError, warn_external
from .imzml_files import IBD_HEADER_BYTES, check_imzml_path, choose_ibd, ibd_candidates, not_imzml_hint
from .imzml_xml import parse_imzml

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

#: Files whose contradictory cvParams were warned about already (once per file and process).
_CONFLICTS_TOLD: set[tuple[str, tuple[str, ...]]] = set()
_NAN_POLICIES = ("raise", "zero")

_Self = TypeVar("_Self", bound="MSILayout")


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


class Layout(NamedTuple):
    """Byte offsets and lengths (elements) of every spectrum's m/z and intensity arrays in the .ibd."""

    mz_offsets: np.ndarray
    mz_lengths: np.ndarray
    int_offsets: np.ndarray
    int_lengths: np.ndarray


class MSILayout:
    """An imzML dataset (one z slice), opened and checked: raster geometry, storage layout, raw reads.

    Create it with :meth:`open` (users call :func:`ionmorph.io.msi.open_msi`, which returns the
    subclass :class:`ionmorph.io.msi.MSIData`). Attributes: ``path``, ``ibd_path``, ``shape`` (H, W),
    ``mask`` (bool H x W), ``coords`` (n_pixels, 2) int (row, col) in file order, ``xy``
    (n_pixels, 2) the original imzML (x, y), ``n_pixels``, ``mode`` ("continuous" or "processed"),
    ``spectrum_type`` ("profile", "centroid" or None), ``mz_dtype``, ``intensity_dtype``, ``z``,
    ``nan_policy``, ``spectrum_lengths``, ``mz_axis`` (continuous only, else None), ``mz_range``.
    """

    @classmethod
    def open(cls: type[_Self], path: str | os.PathLike, z: int | None = None, *,
             nan_policy: str = "raise") -> _Self:
        """Open ``path`` and check its layout (parameters and errors: :func:`ionmorph.io.msi.open_msi`)."""
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
        layout = Layout(
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
        return cls(path, ibd, xyz[keep, :2], layout, mode, mz_dtype, int_dtype,
                   spectrum_type=head.spectrum_type, z=int(z), nan_policy=nan_policy)

    def __init__(self, path: Path, ibd_path: Path, xy: np.ndarray, layout: Layout, mode: str,
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
