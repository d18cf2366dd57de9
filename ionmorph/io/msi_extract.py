"""Extracting ion images, spectra and the TIC: the second job of :class:`ionmorph.io.msi.MSIData`.

:class:`MSIReader` streams the spectra of a checked :class:`~ionmorph.io.msi_layout.MSILayout` in
chunks of pixels (one read per chunk, so memory stays bounded by one chunk whatever the file size)
and builds everything else on that one stream: ion images, raw channels of a continuous axis, the
total ion count and the mean spectrum.

Contract:

- ion image at m/z M: the sum of intensities with M - w <= m/z <= M + w (both bounds inclusive),
  w = M * ppm * 1e-6, or w = ``tol_da`` when given (SPEC 3; :func:`mz_windows`). Default ppm:
  :data:`DEFAULT_PPM`. Unmeasured pixels are 0 in every image;
- each spectrum's m/z order and its intensities (NaN, infinite or negative: ``nan_policy``) are
  checked while streaming and reported with the pixel's imzML coordinates;
- sums are float64; one beyond float32 (images) or float64 (mean spectrum) is an error, not inf.

Plotting is not a job of the reader: :mod:`ionmorph.plotting` draws the arrays returned here
(``ionmorph images`` and ``ionmorph info --tic`` in :mod:`ionmorph.cli.msi`).
"""
from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

import numpy as np

from ..errors import InputError, MSIFormatError, warn_external
from .binning import add_to_cells, binned_shape, cell_index, measured_counts, to_means
from .msi_layout import MSILayout
from .normalisation import check_norm, norm_factor, normalise

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

#: Most bins :meth:`MSIData.mean_spectrum` builds from a ppm width (a float64 array of 128 MiB).
MAX_BINS = 2**24

_F32_MAX = float(np.finfo(np.float32).max)


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


def _window_sums(mzs: list[np.ndarray], ints: list[np.ndarray], lo: np.ndarray, hi: np.ndarray,
                 rows: np.ndarray | None = None, n_rows: int | None = None,
                 scale: np.ndarray | None = None) -> np.ndarray:
    """Sum of each spectrum's intensities inside each window [lo_j, hi_j]; float64 (n_spectra, n_windows).

    ``lo`` and ``hi`` must both ascend. A peak at m/z m then lies in the contiguous run of windows
    b <= j < a with a = #(lo <= m) and b = #(hi < m), so two searchsorted calls over the whole
    chunk place every peak; a difference array per spectrum (+I at b, -I at a) and a cumulative sum
    over the windows give all sums. Windows that hold no peak are exactly 0.

    With ``rows`` (one output row per spectrum, ``n_rows`` rows) spectra sharing a row are summed
    into it (the cells of a binned raster), each multiplied by its ``scale`` (default 1) first.
    """
    k, n = len(mzs), len(lo)
    rows = np.arange(k) if rows is None else np.asarray(rows, dtype=np.int64)
    n_rows = k if n_rows is None else int(n_rows)
    counts = np.array([len(m) for m in mzs], dtype=np.int64)
    if k == 0 or counts.sum() == 0:
        return np.zeros((n_rows, n))
    flat_mz = np.concatenate(mzs)
    span = (flat_mz >= lo[0]) & (flat_mz <= hi[-1])      # only these peaks can fall in a window
    near = np.flatnonzero(span) if span.mean() < 0.5 else None   # worth a copy when most are outside
    a = np.searchsorted(lo, flat_mz if near is None else flat_mz[near], "right")
    b = np.searchsorted(hi, flat_mz if near is None else flat_mz[near], "left")
    inside = a > b
    hit, a, b = (np.flatnonzero(inside) if near is None else near[inside]), a[inside], b[inside]
    spec = np.repeat(np.arange(k), counts)[hit]
    weight = np.concatenate(ints)[hit].astype(np.float64)
    if scale is not None:
        weight *= scale[spec]
    spec = rows[spec]
    k = n_rows
    start, stop = spec * (n + 1) + b, spec * (n + 1) + a
    size = k * (n + 1)
    sums = np.bincount(start, weight, size)
    sums -= np.bincount(stop, weight, size)
    inside = np.bincount(start, minlength=size)
    inside -= np.bincount(stop, minlength=size)
    sums = np.cumsum(sums.reshape(k, n + 1), axis=1, out=sums.reshape(k, n + 1))[:, :n]
    inside = np.cumsum(inside.reshape(k, n + 1), axis=1, out=inside.reshape(k, n + 1))[:, :n]
    sums[inside == 0] = 0.0
    return sums



def _inverse(factor: np.ndarray | None, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """1 / ``factor`` at the pixels (``rows``, ``cols``), float64; 0 where the factor is 0; 1 for None."""
    if factor is None:
        return np.ones(len(rows))
    f = factor[rows, cols].astype(np.float64)
    return np.divide(1.0, f, out=np.zeros(len(f)), where=f > 0)


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


class MSIReader(MSILayout):
    """Streaming access to the spectra of a checked layout, and the images and spectra built on it."""

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
            warn_external(f"{self.path}: {' and '.join(parts)} intensities treated as 0")

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


    # ----------------------------------------------------------------- images and spectra
    def _scatter(self, out: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
        """Write per-pixel ``values`` (n, k) of pixels ``index`` into the (k, H, W) stack ``out``.

        ``values`` are float64 sums; one beyond the float32 range of ``out`` is an error, not inf.
        """
        self._check_sums(index, values)
        rows, cols = self.coords[index].T
        out[:, rows, cols] = values.T

    def _check_sums(self, index: np.ndarray, values: np.ndarray) -> None:
        """Raise :class:`MSIFormatError` naming the pixel when a window sum is beyond the float32 range."""
        if values.size and values.max() > _F32_MAX:
            i = index[np.argmax(values.max(axis=1))]
            raise MSIFormatError(self.path, f"{self._where(i)}: its intensities sum to {values.max():.3g}, beyond "
                                            "the float32 range of images (3.4e38); the intensities are corrupt")

    def _add_to_cells(self, out: np.ndarray, index: np.ndarray, values: np.ndarray, binning: int,
                      factor: np.ndarray | None) -> None:
        """Divide per-pixel ``values`` (n, k) of pixels ``index`` by ``factor`` (None: 1) and add them
        to their cells of the stack ``out`` binned by ``binning`` (:mod:`ionmorph.io.binning`)."""
        self._check_sums(index, values)
        rows, cols = self.coords[index].T
        add_to_cells(out, cell_index(rows, cols, self.shape, binning), values * _inverse(factor, rows, cols)[:, None])

    def _pixel_sums(self, square: bool = False, progress: bool = False) -> np.ndarray:
        """Per-pixel float64 sum of the intensities (or of their squares), (n_pixels,) in file order;
        one streaming pass."""
        out = np.zeros(self.n_pixels, dtype=np.float64)
        for index, _, ints in self.spectra(progress=progress):
            if self.mz_axis is not None:
                if square:
                    block = ints.astype(np.float64)
                    out[index] = np.einsum("ij,ij->i", block, block)
                else:
                    out[index] = ints.sum(axis=1, dtype=np.float64)
            elif len(ints):
                flat = np.concatenate(ints).astype(np.float64)
                counts = np.array([len(a) for a in ints])
                out[index] = np.bincount(np.repeat(np.arange(len(ints)), counts), minlength=len(ints),
                                         weights=flat * flat if square else flat)
        return out

    def _pixel_image(self, values: np.ndarray) -> np.ndarray:
        """Per-pixel ``values`` (n_pixels,) as a float32 (H, W) image; unmeasured pixels are 0."""
        out = np.zeros((1, *self.shape), dtype=np.float32)
        self._scatter(out, np.arange(self.n_pixels), values[:, None])
        return out[0]

    def tic_image(self, progress: bool = False) -> np.ndarray:
        """Total ion count per pixel, float32 (H, W); unmeasured pixels are 0."""
        return self._pixel_image(self._pixel_sums(progress=progress))

    def rms_image(self, progress: bool = False) -> np.ndarray:
        """Root mean square of each pixel's spectrum intensities, float32 (H, W); unmeasured pixels
        and empty spectra are 0.

        The mean runs over the points the pixel's spectrum stores (the shared axis of continuous
        data; the pixel's own points of processed data), as Cardinal's ``rmsNorm`` does.
        """
        n = np.asarray(self.spectrum_lengths, dtype=np.float64)
        sums = self._pixel_sums(square=True, progress=progress)
        return self._pixel_image(np.sqrt(np.divide(sums, n, out=np.zeros_like(sums), where=n > 0)))

    def ion_images(self, mz: float | Sequence[float] | np.ndarray, ppm: float = DEFAULT_PPM,
                   tol_da: float | None = None, progress: bool = False,
                   chunk: int | None = None, norm: str | np.ndarray = "none", binning: int = 1) -> np.ndarray:
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
        norm : {"none", "tic", "rms"} or float32 array (H, W)
            Divide each pixel by its TIC or RMS factor (:mod:`ionmorph.io.normalisation`; one more
            streaming pass); default none. An array is a factor image of
            :func:`~ionmorph.io.normalisation.norm_factor` already computed (a caller reading the
            file in several passes computes it once).
        binning : int
            Bin the raster by this factor inside the pass (:mod:`ionmorph.io.binning`: each cell is
            the mean over its measured pixels, after normalisation); default 1, full resolution.

        Returns
        -------
        numpy.ndarray
            float32 (n, H, W) (binned: (n, ceil(H / binning), ceil(W / binning))): per pixel the sum
            of intensities with lo <= m/z <= hi (inclusive), divided by the pixel's normalisation
            factor; unmeasured pixels (cells) are 0.
        """
        if int(binning) < 1:       # before the factor's pass over the file
            raise InputError(f"binning must be a positive number of pixels, got {binning!r}")
        factor = norm if isinstance(norm, np.ndarray) else norm_factor(self, check_norm(norm), progress=progress)
        if binning == 1:
            return normalise(self._window_images(mz, ppm, tol_da, progress, chunk), factor)
        if factor is not None and factor.shape != self.shape:
            raise InputError(f"normalisation factor of shape {factor.shape} for the raster {self.shape} of {self.path}")
        return self._window_images(mz, ppm, tol_da, progress, chunk, int(binning), factor)

    def _window_images(self, mz: float | Sequence[float] | np.ndarray, ppm: float, tol_da: float | None,
                       progress: bool, chunk: int | None, binning: int = 1,
                       factor: np.ndarray | None = None) -> np.ndarray:
        """The ion images of :meth:`ion_images`: raw at full resolution, or binned by ``binning``
        with each pixel divided by ``factor`` (None: 1) before the cell means."""
        lo, hi = mz_windows(mz, ppm=ppm, tol_da=tol_da)
        n = len(lo)
        out = np.zeros((n, *binned_shape(self.shape, binning)), dtype=np.float32)
        if n == 0:
            return out
        if chunk is None:      # binned: the working arrays of the window sums are per cell, not per pixel
            chunk = self.default_chunk(n_windows=max(1, n // binning**2))
        if self.mz_axis is not None:
            axis = self.mz_axis.astype(np.float64)
            left, right = np.searchsorted(axis, lo, "left"), np.searchsorted(axis, hi, "right")
            first, last = int(left.min()), int(max(right.max(), left.min()))
            left, right = left - first, right - first
            for index, _, block in self.spectra(chunk, progress):
                sub = block[:, first:last]
                cs = np.zeros((len(index), sub.shape[1] + 1), dtype=np.float64)
                np.cumsum(sub, axis=1, dtype=np.float64, out=cs[:, 1:])
                if binning == 1:
                    self._scatter(out, index, cs[:, right] - cs[:, left])
                else:
                    self._add_to_cells(out, index, cs[:, right] - cs[:, left], binning, factor)
        else:
            order = np.argsort(lo, kind="stable")
            unsort = slice(None) if np.array_equal(order, np.arange(n)) else np.argsort(order)
            # both bounds ascend with the centre; accumulate guards against 1-ulp rounding inversions
            lo_s, hi_s = np.maximum.accumulate(lo[order]), np.maximum.accumulate(hi[order])
            flat = out.reshape(n, -1)
            for index, mzs, ints in self.spectra(chunk, progress):
                if binning == 1:
                    self._scatter(out, index, _window_sums(mzs, ints, lo_s, hi_s)[:, unsort])
                    continue
                rows, cols = self.coords[index].T
                cells, local = np.unique(cell_index(rows, cols, self.shape, binning), return_inverse=True)
                sums = _window_sums(mzs, ints, lo_s, hi_s, local, len(cells), _inverse(factor, rows, cols))
                self._check_sums(index[np.unique(local, return_index=True)[1]], sums)
                flat[:, cells] += sums[:, unsort].T.astype(np.float32)
        return out if binning == 1 else to_means(out, measured_counts(self.mask, binning))

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
