"""Patches for tumour classification: normalisation, sampling, extraction and grouped splits.

- :func:`normalise_cube`: the one intensity normalisation (training and inference alike): each
  ion as per mille of its pixel's total ion count (removes a patient's global intensity scale),
  then ``log1p``.
- :func:`sample_centres`: patch centres on annotated pixels of a stride grid, one label each,
  optionally balanced per slide (every present class cut to the rarest one's count).
- :func:`extract_patches`: (N, C, p, p) cuboids around centres (zero padding off the raster).
- :func:`grouped_folds`: k folds over slides grouped by patient: no patient in two splits.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ionmorph.errors import InputError

PER_MILLE = 1000.0
NORMALISATION = "tic-permille-log1p"


def normalise_cube(cube: np.ndarray, tic: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalised float32 copy of ``cube`` (C, H, W): ``log1p(1000 * ion / TIC)``, 0 off the mask.

    ``tic`` is the pixel's total ion count (H, W) over its whole spectrum, so the value does not
    depend on which channels were selected.
    """
    cube = np.nan_to_num(np.asarray(cube, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    tic = np.asarray(tic, dtype=np.float64)
    if tic.shape != cube.shape[1:] or np.shape(mask) != cube.shape[1:]:
        raise InputError(f"TIC {tic.shape} and mask {np.shape(mask)} must match the cube's raster {cube.shape[1:]}")
    scale = np.where(np.asarray(mask) & (tic > 0), PER_MILLE / np.maximum(tic, 1e-30), 0.0).astype(np.float32)
    return np.log1p(np.clip(cube, 0, None) * scale[None])


def sample_centres(annotation: np.ndarray, stride: int = 2, *, classes: Sequence[int] = (1, 2),
                   balance: bool = True, max_per_class: int | None = None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Patch centres on annotated pixels of a stride grid.

    Parameters
    ----------
    annotation : numpy.ndarray
        int (H, W) annotation (0 background, 1 healthy, 2 tumour for the tumour tasks).
    stride : int
        Grid step in pixels (neighbouring patches overlap when stride < p).
    classes : sequence of int
        Annotation values sampled; label i means ``classes[i]``.
    balance : bool
        Cut every present class to the count of the rarest present class (seeded choice).
    max_per_class : int, optional
        Cap per class (seeded choice).

    Returns
    -------
    centres : int (N, 2) array of (row, col)
    labels : int (N,) array of class indices into ``classes``
    """
    if stride < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    ann = np.asarray(annotation)
    grid = np.zeros(ann.shape, dtype=bool)
    grid[::stride, ::stride] = True
    rng = np.random.default_rng(seed)
    found = [np.argwhere(grid & (ann == c)) for c in classes]
    present = [len(f) for f in found if len(f)]
    cap = min(present) if balance and present else None
    if max_per_class is not None:
        cap = max_per_class if cap is None else min(cap, max_per_class)
    centres, labels = [], []
    for i, pts in enumerate(found):
        if cap is not None and len(pts) > cap:
            pts = pts[np.sort(rng.choice(len(pts), cap, replace=False))]
        centres.append(pts)
        labels.append(np.full(len(pts), i, dtype=np.int64))
    return np.concatenate(centres).astype(np.int64), np.concatenate(labels)


def extract_patches(cube: np.ndarray, centres: np.ndarray, patch: int,
                    channels: np.ndarray | None = None) -> np.ndarray:
    """Cuboids (N, C, p, p) float32 of ``cube`` (L, H, W) centred on ``centres`` (row, col).

    ``channels`` selects C of the L channels (default all); pixels off the raster are 0.
    """
    if patch < 1 or patch % 2 == 0:
        raise InputError(f"patch side must be odd and >= 1, got {patch}")
    sub = cube if channels is None else cube[np.asarray(channels)]
    r = patch // 2
    padded = np.pad(sub, ((0, 0), (r, r), (r, r)))
    centres = np.asarray(centres, dtype=np.int64).reshape(-1, 2)
    offs = np.arange(patch)
    rows = centres[:, 0, None] + offs[None]          # padded coordinates of each window
    cols = centres[:, 1, None] + offs[None]
    out = padded[:, rows[:, :, None], cols[:, None, :]]  # (C, N, p, p)
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3), dtype=np.float32)


def grouped_folds(groups: Sequence[str], k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped k-fold over items (slides) by group (patient): (train, test) index arrays.

    Patients are shuffled with ``seed`` and dealt round-robin into ``k`` folds, so every patient's
    slides sit in exactly one test fold and never on both sides of a split.
    """
    groups = np.asarray([str(g) for g in groups])
    patients = np.unique(groups)
    if not 2 <= k <= len(patients):
        raise InputError(f"k must be between 2 and the number of patients ({len(patients)}), got {k}")
    order = np.random.default_rng(seed).permutation(patients)
    fold_of = {p: i % k for i, p in enumerate(order)}
    fold = np.array([fold_of[g] for g in groups])
    return [(np.flatnonzero(fold != i), np.flatnonzero(fold == i)) for i in range(k)]
