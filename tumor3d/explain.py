"""Biomarker read-out: per-m/z attribution of the tumour class, and its precision at k.

Attribution is integrated gradients (Sundararajan et al. 2017) of the tumour logit with a zero
baseline (zero = no signal after normalisation), summed over each channel's p x p pixels and
averaged over tumour patches: positive values push towards tumour. Ranking channels by it gives
the candidate-biomarker table; on simulated cohorts :func:`precision_at_k` checks the top k
against the true tumour-marking ions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ionmorph.errors import InputError


@dataclass
class Attribution:
    """Channels ranked by their tumour attribution (descending)."""

    mz: np.ndarray
    attribution: np.ndarray

    def to_csv(self, path, overwrite: bool = False) -> None:
        """Write ``rank,mz,attribution`` (atomic); an existing file that is not such a table needs ``overwrite``."""
        from ionmorph.fileio import atomic_write_text, check_output

        check_output(path, force=overwrite, owned=is_attribution_table)
        lines = ["rank,mz,attribution"] + [f"{i + 1},{m:.5f},{a:.6g}"
                                             for i, (m, a) in enumerate(zip(self.mz, self.attribution))]
        atomic_write_text(path, "\n".join(lines) + "\n")


def is_attribution_table(path) -> bool:
    """True for a CSV written by :meth:`AttributionTable.to_csv` (``tumor3d explain`` may replace it)."""
    from ionmorph.fileio import csv_columns

    return csv_columns(path) == ["rank", "mz", "attribution"]


def integrated_gradients(model, patches: np.ndarray, target: int = -1, steps: int = 24,
                         batch_size: int = 256) -> np.ndarray:
    """Mean integrated-gradients attribution per channel (C,) of ``patches`` (N, C, p, p)."""
    import torch

    if patches.ndim != 4 or len(patches) == 0:
        raise InputError(f"need a non-empty (N, C, p, p) patch array, got shape {patches.shape}")
    model.eval()
    target = target % len(model.config.classes)
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps   # midpoint rule
    total = torch.zeros(patches.shape[1], dtype=torch.float64)
    for i in range(0, len(patches), batch_size):
        x = torch.from_numpy(patches[i:i + batch_size]).unsqueeze(1)
        grads = torch.zeros_like(x)
        for a in alphas:
            xa = (a * x).requires_grad_(True)
            grads += torch.autograd.grad(model(xa)[:, target].sum(), xa)[0]
        total += (x * grads / steps).sum(dim=(0, 1, 3, 4)).double()
    return (total / len(patches)).numpy()


def explain(model, patches: np.ndarray, mz: np.ndarray | None = None, steps: int = 24) -> Attribution:
    """Rank the model's channels by tumour attribution over ``patches`` (ideally tumour patches)."""
    mz = np.asarray(model.config.mz if mz is None else mz, dtype=np.float64)
    if len(mz) != patches.shape[1]:
        raise InputError(f"{len(mz)} m/z for {patches.shape[1]} channels")
    att = integrated_gradients(model, patches, steps=steps)
    order = np.argsort(-att, kind="stable")
    return Attribution(mz[order], att[order])


def precision_at_k(ranked_mz: np.ndarray, markers: np.ndarray, k: int, ppm: float) -> float:
    """Share of the top ``k`` m/z lying within ``ppm`` of a true marker m/z."""
    top = np.asarray(ranked_mz, dtype=np.float64)[:k]
    markers = np.asarray(markers, dtype=np.float64)
    if len(top) == 0 or len(markers) == 0:
        return float("nan")
    close = np.abs(top[:, None] - markers[None]) <= markers[None] * ppm * 1e-6
    return float(close.any(axis=1).mean())
