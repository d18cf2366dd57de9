"""Pixels x ions for scverse users: AnnData tables and SpatialData stores with one coordinate convention.

Both writers put a measured pixel at its **imzML x / y** (raster column + origin x, raster row +
origin y; origin = the file's smallest x and y, so the top-left pixel of a 1-based file is (1, 1)):

- :func:`pixel_table` (AnnData, ``ionmorph[anndata]``): ``X`` float32 (n_pixels, C);
  ``obsm["spatial"]`` = float (x, y) in imzML pixel units; ``obs`` the raster ``row``/``col`` and
  the imzML ``x``/``y``; ``var`` the per-ion annotations with ``mz`` first (index: m/z with 6
  decimals); ``uns["ionmorph"]`` the raster shape, origin, pixel size (um) and the caller's
  metadata. Without a known origin (an image stack) the origin is (0, 0): x = column, y = row.
- :func:`write_spatialdata` (SpatialData Zarr store, ``ionmorph[spatialdata]``): the ion images as
  the image element ``ion_images`` (dims c, y, x; channel names = m/z with 6 decimals), the
  measured pixels as the labels element ``pixels`` (instance id i + 1 for table row i, 0 where no
  spectrum), optional further labels (a tumour map, segments) on the same raster, and the
  :func:`pixel_table` as the table ``table`` annotating ``pixels``. Every element is placed in two
  coordinate systems: ``global`` in imzML pixel units (pixel centres at the integer x / y, so
  ``obsm["spatial"]`` lands on the image) and, when the file declares a pixel size,
  ``micrometres`` (x * pixel width, y * pixel height).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..fileio import atomic_dir, check_output

#: Name of the SpatialData elements written by :func:`write_spatialdata`.
IMAGE_ELEMENT, PIXELS_ELEMENT, TABLE_ELEMENT = "ion_images", "pixels", "table"
#: Coordinate systems of :func:`write_spatialdata`.
PIXEL_SYSTEM, MICRON_SYSTEM = "global", "micrometres"


def mz_names(mz: Sequence[float] | np.ndarray) -> list[str]:
    """Channel / variable names of ion images: m/z with 6 decimals (the CSV precision), unique."""
    names = [f"{float(m):.6f}" for m in np.asarray(mz, dtype=np.float64).ravel()]
    if len(set(names)) != len(names):
        raise InputError("two ion images share an m/z (to 6 decimals); channel names must be unique")
    return names


def _checked(cube: np.ndarray, mask: np.ndarray, mz: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cube = np.asarray(cube, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    mz = np.asarray(mz, dtype=np.float64).ravel()
    if cube.ndim != 3 or cube.shape[1:] != mask.shape or len(mz) != len(cube):
        raise InputError(f"ion images {cube.shape}, mask {mask.shape} and {len(mz)} m/z values do not match")
    return cube, mask, mz


def pixel_table(cube: np.ndarray, mask: np.ndarray, mz: Sequence[float] | np.ndarray, *,
                origin: Sequence[int] | None = None, pixel_size_um: Sequence[float] | None = None,
                var: Mapping[str, Any] | None = None, uns: Mapping[str, Any] | None = None) -> Any:
    """The measured pixels of an ion-image stack as an AnnData (pixels x ions; module docstring).

    Parameters
    ----------
    cube : float (C, H, W)
        Ion images on the raster; ``mask`` marks the pixels with a spectrum.
    mask : bool (H, W)
    mz : sequence of float (C,)
    origin : (int, int), optional
        imzML (x, y) of raster (row 0, column 0); default (0, 0).
    pixel_size_um : (float, float), optional
        Pixel width and height declared by the file.
    var : mapping of str to array (C,), optional
        Per-ion annotations (score, class probabilities, ...) after ``mz``.
    uns : mapping, optional
        Metadata stored under ``uns["ionmorph"]`` (None values left out).
    """
    try:
        import anndata as ad
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the pixels x ions table needs the optional extra: pip install 'ionmorph[anndata]'") from exc
    cube, mask, mz = _checked(cube, mask, mz)
    ox, oy = (0, 0) if origin is None else (int(origin[0]), int(origin[1]))
    rows, cols = np.nonzero(mask)
    x, y = cols + ox, rows + oy
    table = {"mz": mz, **{k: np.asarray(v) for k, v in (var or {}).items() if k != "mz"}}
    var_df = pd.DataFrame(table, index=mz_names(mz))
    obs = pd.DataFrame({"row": rows, "col": cols, "x": x, "y": y}, index=[f"{a}_{b}" for a, b in zip(x, y)])
    adata = ad.AnnData(X=np.ascontiguousarray(cube[:, rows, cols].T), obs=obs, var=var_df)
    adata.obsm["spatial"] = np.stack([x, y], axis=1).astype(np.float64)
    meta = {**(uns or {}), "shape": list(mask.shape), "origin": [ox, oy],
            "pixel_size_um": None if pixel_size_um is None else [float(v) for v in pixel_size_um]}
    adata.uns["ionmorph"] = {k: v for k, v in meta.items() if v is not None}
    return adata


def _transformations(origin: tuple[int, int], pixel_size_um: Sequence[float] | None) -> dict[str, Any]:
    """Raster (intrinsic) -> ``global`` (imzML pixel units, pixel centres on integers) and -> ``micrometres``."""
    from spatialdata.transformations import Scale, Sequence as Chain, Translation

    to_pixels = Translation([origin[0] - 0.5, origin[1] - 0.5], axes=("x", "y"))
    out = {PIXEL_SYSTEM: to_pixels}
    if pixel_size_um is not None:
        out[MICRON_SYSTEM] = Chain([to_pixels, Scale([float(pixel_size_um[0]), float(pixel_size_um[1])],
                                                     axes=("x", "y"))])
    return out


def write_spatialdata(path: str | os.PathLike, cube: np.ndarray, mask: np.ndarray, mz: Sequence[float] | np.ndarray,
                      *, origin: Sequence[int] | None = None, pixel_size_um: Sequence[float] | None = None,
                      var: Mapping[str, Any] | None = None, uns: Mapping[str, Any] | None = None,
                      labels: Mapping[str, np.ndarray] | None = None, inputs: Sequence[Any] = (),
                      overwrite: bool = False) -> Path:
    """Write ion images, pixel ids, extra ``labels`` and the pixels x ions table as a SpatialData store.

    Parameters as in :func:`pixel_table`; ``labels``: name -> integer (H, W) raster (a tumour map,
    segments; 0 = background). ``path`` (a ``.zarr`` folder) may not hold an input; an existing
    store is replaced only when it is a SpatialData store ionmorph wrote, or with ``overwrite``.
    Written into a temporary folder that replaces ``path`` whole. Returns the path.
    """
    try:
        import spatialdata as sd
        from spatialdata.models import Image2DModel, Labels2DModel, TableModel
    except ImportError as exc:
        raise ImportError("SpatialData export needs the optional extra: pip install 'ionmorph[spatialdata]'") from exc
    path = Path(path)
    if path.suffix != ".zarr":
        raise InputError(f"{path}: a SpatialData store is a folder ending in .zarr")
    check_output(path, inputs, force=overwrite, owned=is_spatialdata_store, folder=True)
    cube, mask, mz = _checked(cube, mask, mz)
    adata = pixel_table(cube, mask, mz, origin=origin, pixel_size_um=pixel_size_um, var=var,
                        uns={**(uns or {}), "writer": "ionmorph"})
    ox, oy = adata.uns["ionmorph"]["origin"]
    tf = _transformations((ox, oy), pixel_size_um)
    ids = np.zeros(mask.shape, dtype=np.int32)
    ids[mask] = np.arange(1, int(mask.sum()) + 1)            # row-major, as np.nonzero orders the table
    adata.obs["region"] = PIXELS_ELEMENT
    adata.obs["region"] = adata.obs["region"].astype("category")
    adata.obs["instance_id"] = ids[mask]
    elements: dict[str, Any] = {PIXELS_ELEMENT: Labels2DModel.parse(ids, dims=("y", "x"), transformations=tf)}
    for name, lab in (labels or {}).items():
        lab = np.asarray(lab)
        if lab.shape != mask.shape or lab.dtype.kind not in "iub":
            raise InputError(f"labels {name!r}: expected an integer {mask.shape} raster, got {lab.dtype} {lab.shape}")
        if name in (PIXELS_ELEMENT, IMAGE_ELEMENT):
            raise InputError(f"labels {name!r}: the name is taken by ionmorph's own elements")
        elements[name] = Labels2DModel.parse(lab.astype(np.int32), dims=("y", "x"), transformations=tf)
    sdata = sd.SpatialData(
        images={IMAGE_ELEMENT: Image2DModel.parse(cube, dims=("c", "y", "x"), c_coords=mz_names(mz),
                                                  transformations=tf)},
        labels=elements,
        tables={TABLE_ELEMENT: TableModel.parse(adata, region=PIXELS_ELEMENT, region_key="region",
                                                instance_key="instance_id")})
    with atomic_dir(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*autosharding", category=UserWarning)   # zarr's notice
        sdata.write(tmp / path.name)
        for item in (tmp / path.name).iterdir():             # the store's contents become tmp's
            os.replace(item, tmp / item.name)
        (tmp / path.name).rmdir()
    return path


def is_spatialdata_store(path: Path) -> bool:
    """True for a folder laid out as :func:`write_spatialdata` writes it (its ``ion_images`` image and ``table``)."""
    return path.is_dir() and (path / "tables" / TABLE_ELEMENT).is_dir() and (path / "images" / IMAGE_ELEMENT).is_dir()
