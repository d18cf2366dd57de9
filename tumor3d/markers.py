"""Channel selection read-out: the share of true markers among the selected channels, and why markers were missed.

For a selection of n channels from L candidates holding M true markers, chance is M / L. A marker
that was not selected is put down to one reason, in this order:

- ``scored low``: its score ranks below the n-th candidate;
- ``removed as duplicate``: it ranks among the top n but an already kept, near-identical image
  (correlation above :data:`ionmorph.picking.reduction.MAX_SIMILARITY`) displaced it;
- and independently, ``outranked by off-sample``: how many of the candidates ranked above it are
  labelled ``negative`` (off-sample) by IonMorphNet.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .explain import precision_at_k


def is_marker(mz: np.ndarray, markers: np.ndarray, ppm: float) -> np.ndarray:
    """bool (L,): candidates within ``ppm`` of a true marker m/z."""
    mz, markers = np.asarray(mz, dtype=np.float64), np.asarray(markers, dtype=np.float64)
    if not markers.size:
        return np.zeros(len(mz), dtype=bool)
    return (np.abs(mz[:, None] - markers[None]) <= markers[None] * ppm * 1e-6).any(axis=1)


def marker_share(data: Any, channels: np.ndarray) -> float:
    """Share of true markers among the candidates ``channels`` of ``data``."""
    return precision_at_k(data.mz[channels], data.markers, len(channels), data.ppm)


def why_missed(data: Any, selection: str, n_channels: int) -> dict[str, Any]:
    """Counts of the reasons (module docstring) for the markers a label-free selection left out."""
    from ionmorph.picking.baselines import rank

    marker = is_marker(data.mz, data.markers, data.ppm)
    from .train import DIVERSE

    scores = data.scores["ionmorphnet" if selection == DIVERSE else selection]
    chosen = set(data.channels(selection, n_channels).tolist())
    order = rank(scores)
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    negative = np.zeros(len(data.mz), dtype=bool)
    label = None
    if data.proba is not None and "negative" in data.classes:
        label = np.asarray(data.classes)[data.proba.argmax(axis=1)]
        negative = label == "negative"
    out = {"candidates": int(len(data.mz)), "markers": int(marker.sum()),
           "selected_markers": int(sum(marker[i] for i in chosen)), "scored_low": 0, "removed_as_duplicate": 0,
           "negative_ranked_above_missed_marker": 0.0,
           "mean_score_markers": float(scores[marker].mean()) if marker.any() else float("nan"),
           "mean_score_others": float(scores[~marker].mean()) if (~marker).any() else float("nan"),
           "negative_share_of_selected": float(np.mean([negative[i] for i in chosen])) if chosen else float("nan")}
    above = []
    for i in np.flatnonzero(marker):
        if i in chosen:
            continue
        out["scored_low" if position[i] >= n_channels else "removed_as_duplicate"] += 1
        above.append(int(negative[order[:position[i]]].sum()))
    out["negative_ranked_above_missed_marker"] = float(np.mean(above)) if above else 0.0
    if label is not None and marker.any():
        names, counts = np.unique(label[marker], return_counts=True)
        out["marker_labels"] = {str(n): int(c) for n, c in zip(names, counts)}
    return out
