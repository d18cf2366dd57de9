"""Recordings that are not imzML: an ion-image cube in a NumPy ``.npz`` file.

Many recordings reach users as arrays (an HDF5 export, an R data set, a pre-binned cube). An
``.npz`` holding the intensities (one image per m/z channel) and the m/z values is read by
:func:`read_cube` into what :func:`ionmorph.picking.pick.pick_peaks` takes as an array source:
``pick_peaks(images, mz=mz, mask=mask)``. The channel axis is the one as long as the m/z array,
first ``(n, H, W)`` or last ``(H, W, n)``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import MSIFormatError

#: Suffixes read as an ion-image cube rather than an imzML file.
CUBE_SUFFIXES: tuple[str, ...] = (".npz",)


class Cube(NamedTuple):
    """An ion-image cube: ``images`` float32 (n, H, W), ``mz`` float64 (n,), ``mask`` bool (H, W) or None."""

    images: np.ndarray
    mz: np.ndarray
    mask: np.ndarray | None


def is_cube_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an ion-image cube file (:data:`CUBE_SUFFIXES`)."""
    return Path(path).suffix.lower() in CUBE_SUFFIXES


def read_cube(path: str | os.PathLike, mz_key: str = "mz", images_key: str | None = None,
              mask_key: str | None = None) -> Cube:
    """Read an ion-image cube from an ``.npz`` file.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.
    mz_key : str
        Name of the m/z array (one value per channel, finite, positive, distinct).
    images_key : str, optional
        Name of the intensity array, (n, H, W) or (H, W, n). Default: the file's only 3-D array.
    mask_key : str, optional
        Name of a 2-D array of measured pixels (non-zero = measured). Default: every pixel measured.

    Raises
    ------
    MSIFormatError
        One line naming the file: not an npz, a missing key (the keys it has are listed), wrong
        shapes, or bad m/z values.
    FileNotFoundError
        No such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise MSIFormatError(path, f"not a readable .npz file ({exc})") from None
    with archive:
        keys = list(archive.files)

        def get(key: str, what: str) -> np.ndarray:
            if key not in keys:
                raise MSIFormatError(path, f"no array {key!r} ({what}); it has {', '.join(keys) or 'none'}")
            try:
                return archive[key]
            except ValueError as exc:
                raise MSIFormatError(path, f"array {key!r} cannot be read ({exc})") from None

        if images_key is None:
            cubes = [k for k in keys if archive[k].ndim == 3]
            if len(cubes) != 1:
                raise MSIFormatError(path, f"{'no' if not cubes else 'several'} 3-D arrays ({', '.join(cubes)}); "
                                           "name the intensities with --images-key (images_key=)")
            images_key = cubes[0]
        raw = get(images_key, "the intensities")
        mz = np.asarray(get(mz_key, "the m/z values"))
        mask = None if mask_key is None else np.asarray(get(mask_key, "the measured pixels")) != 0
    if raw.ndim != 3 or raw.dtype.kind not in "uif":
        raise MSIFormatError(path, f"{images_key!r} must be a 3-D numeric array, got {raw.dtype} {raw.shape}")
    if mz.ndim != 1 or mz.dtype.kind not in "uif":
        raise MSIFormatError(path, f"{mz_key!r} must be a 1-D numeric array, got {mz.dtype} {mz.shape}")
    mz = mz.astype(np.float64)
    if not np.all(np.isfinite(mz) & (mz > 0)) or len(np.unique(mz)) != len(mz):
        raise MSIFormatError(path, f"{mz_key!r} must hold finite, positive, distinct m/z values")
    if raw.shape[0] == len(mz):
        images = raw
    elif raw.shape[-1] == len(mz):
        images = np.moveaxis(raw, -1, 0)
    else:
        raise MSIFormatError(path, f"{images_key!r} has shape {raw.shape}: neither its first nor its last axis "
                                   f"has one image per m/z ({len(mz)} values in {mz_key!r})")
    images = np.ascontiguousarray(images, dtype=np.float32)
    if not np.all(np.isfinite(images)):
        raise MSIFormatError(path, f"{images_key!r} holds NaN or infinite intensities")
    if mask is not None and mask.shape != images.shape[1:]:
        raise MSIFormatError(path, f"{mask_key!r} has shape {mask.shape}, the images {images.shape[1:]}")
    return Cube(images, mz, mask)


#: Suffixes :func:`read_region` reads.
REGION_SUFFIXES: tuple[str, ...] = (".npy", ".png")


def read_region(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """A region of interest on a raster of ``shape`` (H, W): a 2-D ``.npy`` array or a ``.png`` image,
    non-zero (any colour but black, or any opaque pixel of a transparent PNG) = inside.

    Raises
    ------
    MSIFormatError
        One line naming the file: not .npy/.png, unreadable, not 2-D, another shape than the raster,
        or an empty region.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in REGION_SUFFIXES:
        raise MSIFormatError(path, f"a region is a {' or '.join(REGION_SUFFIXES)} file")
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            region = np.asarray(arr) != 0
        else:
            from PIL import Image

            with Image.open(path) as im:
                rgba = np.asarray(im.convert("RGBA"))
            opaque = rgba[..., 3] > 0
            region = (rgba[..., :3].max(axis=-1) > 0) & opaque if not opaque.all() or rgba[..., :3].any() else opaque
    except (OSError, ValueError) as exc:
        raise MSIFormatError(path, f"cannot read the region ({exc})") from None
    if region.ndim != 2:
        raise MSIFormatError(path, f"a region must be 2-D (H, W), got shape {region.shape}")
    if region.shape != tuple(shape):
        raise MSIFormatError(path, f"the region is {region.shape[0]} x {region.shape[1]}, the data's raster "
                                   f"{shape[0]} x {shape[1]} (H x W)")
    if not region.any():
        raise MSIFormatError(path, "the region is empty (no non-zero pixel)")
    return region
