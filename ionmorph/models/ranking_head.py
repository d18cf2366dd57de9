"""IonMorphNet's ranking head: a small perceptron from class probabilities and image statistics to a score.

The head sees, for each candidate ion image, the network's class probabilities beside statistics of
the image at native resolution (:mod:`ionmorph.picking.ranking` computes them, by the names the head
records), and predicts how strongly the image follows the section's main tissue compartments: the
largest Pearson correlation of the image with one of the segments that k-means finds in the
section's spectra, the quantity that mSCF1 (SPEC 6) thresholds. It is trained on simulated sections
only (:mod:`ionmorph.training.ranking_head`) and stored in the ``ranking_head`` entry of the weights'
config.json, so it travels and is versioned with the network.

The forward pass is plain NumPy (standardise, ReLU hidden layers, one linear output clipped to
[0, 1]), the same under the torch and the onnxruntime backends.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import WeightsError

#: Format of the ``ranking_head`` entry of config.json.
HEAD_FORMAT = 1


@dataclass(frozen=True)
class RankingHead:
    """A multilayer perceptron over named per-image features.

    Attributes
    ----------
    features : tuple of str
        Input names, in column order (class probabilities ``p_<class>`` and the native statistics of
        :data:`ionmorph.picking.ranking.NATIVE_FEATURES`).
    mean, scale : float arrays (F,)
        Standardisation of each input.
    weights, biases : tuples of float arrays
        Layer ``i`` maps ``h`` to ``h @ weights[i] + biases[i]``; ReLU between layers, none after the last.
    target : str
        What the output predicts (recorded for the model card).
    training : mapping
        How the head was trained (corpus, sections, validation score).
    """

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    target: str = ""
    training: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        n = len(self.features)
        shapes_ok = (np.shape(self.mean) == (n,) and np.shape(self.scale) == (n,) and len(self.weights) >= 1
                     and len(self.weights) == len(self.biases))
        width = n
        for w, b in zip(self.weights, self.biases):
            shapes_ok = shapes_ok and np.ndim(w) == 2 and np.shape(w)[0] == width and np.shape(b) == (np.shape(w)[1],)
            width = np.shape(w)[1] if np.ndim(w) == 2 else -1
        if not shapes_ok or width != 1:
            raise WeightsError(f"ranking head: layer shapes do not chain from {n} features to one output")
        if not np.all(np.asarray(self.scale) > 0):
            raise WeightsError("ranking head: every feature scale must be positive")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores in [0, 1], float32 (n,), of a feature matrix (n, F) in :attr:`features` order."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"ranking head expects (n, {len(self.features)}) features, got {x.shape}")
        h = (np.nan_to_num(x) - self.mean) / self.scale
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return np.clip(h[:, 0], 0.0, 1.0).astype(np.float32)

    def to_config(self) -> dict[str, Any]:
        """The ``ranking_head`` entry of config.json (plain lists)."""
        return {"format": HEAD_FORMAT, "features": list(self.features), "target": self.target,
                "mean": np.asarray(self.mean).tolist(), "scale": np.asarray(self.scale).tolist(),
                "layers": [{"weight": np.asarray(w).tolist(), "bias": np.asarray(b).tolist()}
                           for w, b in zip(self.weights, self.biases)],
                "training": dict(self.training or {})}

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> "RankingHead":
        """Read a ``ranking_head`` entry; :class:`WeightsError` (one line) when it is malformed."""
        try:
            if int(block.get("format", HEAD_FORMAT)) > HEAD_FORMAT:
                raise WeightsError(f"ranking head format {block['format']} is newer than this ionmorph ({HEAD_FORMAT})")
            layers = block["layers"]
            return cls(features=tuple(str(f) for f in block["features"]),
                       mean=np.asarray(block["mean"], dtype=np.float64),
                       scale=np.asarray(block["scale"], dtype=np.float64),
                       weights=tuple(np.asarray(layer["weight"], dtype=np.float64) for layer in layers),
                       biases=tuple(np.asarray(layer["bias"], dtype=np.float64) for layer in layers),
                       target=str(block.get("target", "")), training=dict(block.get("training") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"ranking head in config.json is malformed ({type(exc).__name__}: {exc})") from None


def head_from_settings(block: Mapping[str, Any] | None) -> RankingHead | None:
    """The head of a config's ``ionmorph`` block entry (``None`` when the weights carry none)."""
    return None if block is None else RankingHead.from_config(block)


def class_feature_names(classes: Sequence[str]) -> tuple[str, ...]:
    """Input names of the class probabilities: ``p_<class>`` in the model's class order."""
    return tuple(f"p_{c}" for c in classes)
