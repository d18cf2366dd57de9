"""Per-pixel intensity normalisation of ion images (TIC or RMS), as Cardinal, SCiLS and METASPACE offer it.

Each ion image is divided, pixel by pixel, by a factor that measures how much signal the pixel's
spectrum holds, so that differences in ionisation or matrix coverage between pixels do not show as
structure:

- ``"tic"``: the pixel's total ion current, the sum of its spectrum's intensities
  (:meth:`ionmorph.io.msi.MSIData.tic_image`);
- ``"rms"``: the root mean square of its spectrum's intensities
  (:meth:`ionmorph.io.msi.MSIData.rms_image`);
- ``"none"``: no normalisation (the raw sums of SPEC 3).

The factor image is scaled so that its median over the measured pixels with a positive factor is 1:
normalised images keep the order of magnitude of the raw intensities. A pixel whose factor is 0 (an
empty spectrum) or that was not measured is 0 in every normalised image, never NaN or infinite.

An ion-image stack (an ``.npz`` cube, an array source of :func:`ionmorph.picking.pick.pick_peaks`)
has no spectra: its factor is computed over the stack's own channels (TIC = their sum, RMS = the
root mean square over them). For a cube of picked peaks that is the TIC of those peaks, which is
what Cardinal or SCiLS compute on a peak-picked dataset too, but not the TIC of the full spectra.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

#: Normalisations accepted by ``norm=`` (module docstring).
NORMS: tuple[str, ...] = ("none", "tic", "rms")
#: Each normalisation in words (report headers, figure titles).
NORM_WORDS: dict[str, str] = {"none": "none (raw ion counts)",
                              "tic": "TIC (each pixel divided by its total ion current, median 1)",
                              "rms": "RMS (each pixel divided by the root mean square of its spectrum, median 1)"}
#: Channels per chunk of a stack's factor (bounds the float64 working copy).
_STACK_CHUNK = 64


def check_norm(norm: str) -> str:
    """``norm`` when it is one of :data:`NORMS`, else a one-line :class:`InputError`."""
    if norm not in NORMS:
        raise InputError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    return norm


def norm_factor(source: Any, norm: str, measured: np.ndarray | None = None,
                progress: bool = False) -> np.ndarray | None:
    """The per-pixel normalisation factor of a dataset, float32 (H, W), or None for ``"none"``.

    Parameters
    ----------
    source : MSIData or array (n, H, W)
        An opened imzML (one streaming pass over its spectra) or an ion-image stack (its channels
        stand in for the spectra; module docstring).
    norm : {"none", "tic", "rms"}
        Which factor (:data:`NORMS`).
    measured : bool array (H, W), optional
        For a stack: its measured pixels (default all). An MSIData uses its own ``mask``.
    progress : bool
        Show a progress bar while the spectra are read.

    Returns
    -------
    numpy.ndarray or None
        float32 (H, W): TIC or RMS divided by its median over the measured pixels with a positive
        value (so that median is 1); 0 where not measured or where the spectrum holds no signal.
        None for ``"none"``.
    """
    check_norm(norm)
    if norm == "none":
        return None
    if isinstance(source, np.ndarray):
        if source.ndim != 3:
            raise InputError(f"an ion-image stack must be (n, H, W), got shape {source.shape}")
        raw = _stack_factor(source, norm)
        mask = np.ones(source.shape[1:], dtype=bool) if measured is None else np.asarray(measured, dtype=bool)
    else:
        raw = (source.tic_image if norm == "tic" else source.rms_image)(progress=progress).astype(np.float64)
        mask = source.mask
    raw = np.where(mask & np.isfinite(raw) & (raw > 0), raw, 0.0)
    positive = raw[raw > 0]
    if positive.size == 0:
        return np.zeros(raw.shape, dtype=np.float32)
    return (raw / np.median(positive)).astype(np.float32)


def _stack_factor(images: np.ndarray, norm: str) -> np.ndarray:
    """Raw TIC or RMS of each pixel over the channels of a stack (n, H, W), float64 (H, W)."""
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in range(0, len(images), _STACK_CHUNK):
        block = np.asarray(images[start:start + _STACK_CHUNK], dtype=np.float64)
        total += (block * block if norm == "rms" else block).sum(axis=0)
    if norm == "rms":
        return np.sqrt(total / max(len(images), 1))
    return total


def normalise(images: np.ndarray, factor: np.ndarray | None) -> np.ndarray:
    """Ion images (n, H, W) divided by a :func:`norm_factor` image, float32; 0 where the factor is 0.

    ``factor`` None (``norm="none"``) returns ``images`` unchanged.
    """
    if factor is None:
        return images
    images = np.asarray(images)
    if images.shape[1:] != factor.shape:
        raise InputError(f"normalisation factor of shape {factor.shape} for ion images of raster {images.shape[1:]}")
    out = np.zeros(images.shape, dtype=np.float32)
    np.divide(images, factor, out=out, where=np.broadcast_to(factor > 0, images.shape), casting="unsafe")
    return out
