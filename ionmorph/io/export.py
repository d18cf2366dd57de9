"""Files other tools open: ion-image stacks (.npy, TIFF) and a reduced imzML of the picked peaks.

- :func:`save_ion_images`: an (n, H, W) float32 stack as ``.npy``, or as a multi-page float32
  ``.tif``/``.tiff`` (with tifffile when installed, else Pillow); unmeasured pixels are 0.
- :func:`write_reduced_imzml`: a continuous imzML 1.1 file (written with pyimzML's
  ``ImzMLWriter``) whose shared m/z axis is the given peaks and whose intensity at each peak is the
  pixel's ion-image value (the sum within +/- ppm); pixels keep their original imzML x/y, so
  METASPACE, Cardinal, SCiLS or pyimzML read it like any centroided peak list.

Every writer checks its output with :func:`ionmorph.fileio.check_output` (never onto an input,
never over a file it did not write unless ``overwrite``) and writes atomically.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..fileio import atomic_path, check_output

IMAGE_SUFFIXES: tuple[str, ...] = (".npy", ".tif", ".tiff")


def _stack(images: np.ndarray) -> np.ndarray:
    stack = np.asarray(images, dtype=np.float32)
    if stack.ndim != 3 or len(stack) == 0:
        raise InputError(f"ion images must be a non-empty (n, H, W) stack, got shape {stack.shape}")
    return stack


def save_ion_images(images: np.ndarray, path: str | os.PathLike, *, inputs: Sequence[Any] = (),
                    overwrite: bool = False) -> Path:
    """Write an ion-image stack to ``path`` (.npy, or multi-page .tif/.tiff); returns the path.

    ``inputs``: the files the images came from (the output may not be one of them).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"{path}: ion images are written as {', '.join(IMAGE_SUFFIXES)}")
    stack = _stack(images)
    check_output(path, inputs, force=overwrite)
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, stack)
        else:
            _write_tiff(tmp, stack)
    return path


def _write_tiff(path: Path, stack: np.ndarray) -> None:
    """Multi-page float32 TIFF: tifffile when installed, else Pillow (mode ``F`` pages)."""
    try:
        import tifffile
    except ImportError:
        tifffile = None
    if tifffile is not None:
        tifffile.imwrite(path, stack, photometric="minisblack")   # one page per image, never RGB samples
        return
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("TIFF output needs tifffile or Pillow: pip install tifffile (or write .npy)") from None
    pages = [Image.fromarray(np.ascontiguousarray(page), mode="F") for page in stack]
    pages[0].save(path, format="TIFF", save_all=True, append_images=pages[1:])


def write_reduced_imzml(path: str | os.PathLike, images: np.ndarray, mz: Sequence[float] | np.ndarray,
                        xy: np.ndarray, coords: np.ndarray, *, polarity: str | None = None,
                        inputs: Sequence[Any] = (), overwrite: bool = False) -> Path:
    """Write the ion images of peaks ``mz`` as a continuous centroid imzML (+ .ibd); returns the .imzML path.

    Parameters
    ----------
    path : path-like
        The ``.imzML`` file to write (the ``.ibd`` goes beside it).
    images : float32 (n, H, W)
        One ion image per peak, on the raster of ``coords``.
    mz : sequence of float (n,)
        The peaks (any order; the file's axis is ascending).
    xy : int (n_pixels, 2)
        Original imzML (x, y) of each measured pixel.
    coords : int (n_pixels, 2)
        Raster (row, col) of the same pixels.
    polarity : {"positive", "negative"}, optional
        Written into the file when known.
    inputs : sequence of path-like
        The files the images came from (never overwritten).
    overwrite : bool
        Replace an existing file that is not an earlier output.
    """
    from pyimzml.ImzMLWriter import ImzMLWriter

    path = Path(path)
    if path.suffix.lower() != ".imzml":
        raise InputError(f"{path}: a reduced imzML needs the .imzML suffix")
    stack = _stack(images)
    peaks = np.asarray(mz, dtype=np.float64).ravel()
    if len(peaks) != len(stack):
        raise InputError(f"{len(peaks)} m/z values for {len(stack)} ion images")
    order = np.argsort(peaks, kind="stable")
    if np.any(np.diff(peaks[order]) <= 0):
        raise InputError("the peaks of a reduced imzML must be distinct m/z values")
    ibd = path.with_suffix(".ibd")
    for out in (path, ibd):
        check_output(out, inputs, force=overwrite)
    rows, cols = np.asarray(coords).T
    values = stack[order][:, rows, cols].T                  # (n_pixels, n_peaks)
    axis = peaks[order]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        with ImzMLWriter(str(tmpdir / path.stem), mode="continuous", mz_dtype=np.float64,
                         intensity_dtype=np.float32, spec_type="centroid", polarity=polarity) as w:
            for (x, y), spectrum in zip(np.asarray(xy), values):
                w.addSpectrum(axis, spectrum, (int(x), int(y), 1))
        os.replace(tmpdir / f"{path.stem}.ibd", ibd)          # the .imzML appears last: a whole pair
        os.replace(tmpdir / f"{path.stem}.imzML", path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path
