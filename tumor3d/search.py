"""A small architecture search for the 3D CNN, decided on inner validation patients only.

The candidates (:data:`CANDIDATES`) vary depth and widths, pooling along m/z and the patch side
p = 5 / 9 / 13, all inside :data:`MAX_PARAMETERS`. Each is trained by the one training rule of
every network (:func:`tumor3d.train.fit_network`: class-balanced patches, early stopping on the
smoothed inner-validation balanced accuracy) on the inner training patients of a search cohort,
and scored by its best smoothed inner-validation balanced accuracy. The choice
(:func:`choose`) is the cheapest candidate (fewest multiply-adds per patch) within
:data:`TOLERANCE` of the best score: differences smaller than that are noise on two or three
validation patients, and a cheaper network trains more epochs in the same time.

The benchmark runs the search on a development cohort: new patients of the same simulated disease
(:func:`tumor3d.cohort.cohort_design`, numbered after the benchmark's), who never enter the
cross-validation, so no test patient of any fold (and no patient of the benchmark at all) takes
part in the choice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from ionmorph.errors import InputError

#: The parameter budget of every candidate (the issue's 1 M).
MAX_PARAMETERS = 1_000_000
#: Candidates whose score is within this of the best count as tied (then the cheapest wins).
TOLERANCE = 0.01


@dataclass(frozen=True)
class Architecture:
    """One candidate: feature maps per block (depth = their number), m/z pooling, patch side."""

    widths: tuple[int, ...]
    pool_mz: bool = True
    patch: int = 9

    @property
    def name(self) -> str:
        """A short label, e.g. ``16-32-64, p=9``."""
        return "-".join(map(str, self.widths)) + ("" if self.pool_mz else ", no m/z pooling") + f", p={self.patch}"


CANDIDATES: tuple[Architecture, ...] = (
    Architecture((16, 32, 64)),                  # the earlier default
    Architecture((8, 16, 32)),                   # narrower
    Architecture((32, 64, 128)),                 # wider
    Architecture((16, 32)),                      # shallower
    Architecture((16, 32, 64, 64)),              # deeper
    Architecture((16, 32, 64), pool_mz=False),   # every m/z position kept to the head
    Architecture((16, 32, 64), patch=5),
    Architecture((16, 32, 64), patch=13),
)


def multiply_adds(model: Any) -> int:
    """Multiply-adds of one forward pass of one patch (convolutions and linear layers)."""
    import torch

    total = 0

    def count(module: Any, _inputs: Any, output: Any) -> None:
        nonlocal total
        if isinstance(module, (torch.nn.Conv3d, torch.nn.Conv2d)):
            total += output[0].numel() * module.weight[0].numel()
        elif isinstance(module, torch.nn.Linear):
            total += module.weight.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (torch.nn.Conv3d, torch.nn.Conv2d, torch.nn.Linear))]
    cfg = model.config
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        model(torch.zeros(1, 1, cfg.n_channels, cfg.patch, cfg.patch))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return int(total)


def architecture_search(data: Any, channels: np.ndarray, train: Any,
                        candidates: Sequence[Architecture] = CANDIDATES, seed: int = 0,
                        progress: bool = False) -> list[dict[str, Any]]:
    """Train every candidate on ``data``'s inner training patients with ``channels``; one row each.

    ``data`` is a :class:`tumor3d.train.TaskData` (the search cohort); ``train`` the
    :class:`tumor3d.train.TrainConfig` whose training rule every candidate follows (its widths,
    pooling and patch are replaced by the candidate's). Rows: the candidate, its parameters and
    multiply-adds, the best smoothed and the raw inner-validation BA at the kept epoch, epochs run,
    the kept epoch and seconds.
    """
    from .train import MethodSpec, fit_network, make_classifier

    rows = []
    spec = MethodSpec("3d-cnn/search", "search", "3d")
    for arch in candidates:
        cfg = replace(train, widths=tuple(arch.widths), pool_mz=arch.pool_mz, patch=arch.patch)
        clf = make_classifier(spec, channels, data.mz, data.ppm, cfg, ("healthy", "tumour"))
        n_par = clf.model.n_parameters()
        if n_par > MAX_PARAMETERS:
            raise InputError(f"candidate {arch.name} has {n_par:,} parameters, over the budget {MAX_PARAMETERS:,}")
        t0 = time.perf_counter()
        fit_network(clf, data, np.arange(len(data.slides)), channels, arch.patch, cfg, seed)
        h, best = clf.history, clf.best_epoch
        rows.append({"architecture": arch.name, "widths": list(arch.widths), "pool_mz": arch.pool_mz,
                     "patch": arch.patch, "parameters": n_par, "multiply_adds": multiply_adds(clf.model),
                     "val_ba_smooth": h["val_ba_smooth"][best], "val_ba": h["val_ba"][best],
                     "epochs": len(h["train_loss"]), "best_epoch": best, "seconds": time.perf_counter() - t0})
        if progress:
            r = rows[-1]
            print(f"  search {arch.name:34s} smoothed val BA {r['val_ba_smooth']:.3f} ({r['epochs']} epochs, "
                  f"{r['parameters']:,} parameters, {r['seconds']:.0f} s)", flush=True)
    return rows


def choose(rows: Sequence[dict[str, Any]], tolerance: float = TOLERANCE) -> dict[str, Any]:
    """The cheapest row (fewest multiply-adds) whose smoothed validation BA is within ``tolerance`` of the best."""
    if not rows:
        raise InputError("the architecture search has no candidates")
    top = max(r["val_ba_smooth"] for r in rows)
    return min((r for r in rows if r["val_ba_smooth"] >= top - tolerance), key=lambda r: r["multiply_adds"])
