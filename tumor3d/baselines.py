"""Pixel-wise spectral classifiers on full candidate spectra (the baselines of SPEC 8 (a)).

Every classifier of the harness takes patches (N, C, p, p) and integer labels; the pixel-wise
ones read the centre pixel's spectrum, or (``average=True``) the mean spectrum of the patch's
measured pixels: the honest test of whether a 3D CNN learns more than neighbourhood denoising. The 1D CNN baseline is :class:`tumor3d.model.Tumor3DNet`
with ``patch=1`` over every candidate (a 3D CNN with a 1 x 1 footprint is a 1D CNN along m/z), so
it is trained by the same code as the 3D CNN (see :data:`tumor3d.train.METHODS`).
"""
from __future__ import annotations

import numpy as np

from ionmorph.errors import InputError


class PixelClassifier:
    """A scikit-learn classifier on the centre-pixel spectrum of each patch.

    Parameters
    ----------
    kind : {"logreg", "forest"}
        Standardised L2 logistic regression, or a random forest (300 trees).
    seed : int
        Random state.
    n_jobs : int
        Threads of the forest.
    average : bool
        Classify the patch's mean spectrum (over pixels with signal) instead of its centre pixel's.
    """

    def __init__(self, kind: str = "logreg", seed: int = 0, n_jobs: int = 2, average: bool = False) -> None:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if kind == "logreg":
            self.estimator = make_pipeline(StandardScaler(), LogisticRegression(
                C=0.1, max_iter=2000, class_weight="balanced", random_state=seed))
        elif kind == "forest":
            self.estimator = RandomForestClassifier(n_estimators=300, min_samples_leaf=2, class_weight="balanced",
                                                    n_jobs=n_jobs, random_state=seed)
        else:
            raise InputError(f"kind must be 'logreg' or 'forest', got {kind!r}")
        self.kind, self.average = kind, average

    def spectra(self, patches: np.ndarray) -> np.ndarray:
        """Centre-pixel (or mean, ``average``) spectra (N, C) of patches (N, C, p, p)."""
        if self.average:
            measured = patches.sum(axis=1, keepdims=True) > 0          # normalised cubes are 0 off the mask
            return (patches * measured).sum(axis=(2, 3)) / np.maximum(measured.sum(axis=(2, 3)), 1)
        c = patches.shape[-1] // 2
        return patches[:, :, c, c]

    def fit(self, patches: np.ndarray, labels: np.ndarray) -> "PixelClassifier":
        """Fit on the patches' centre spectra."""
        self.estimator.fit(self.spectra(patches), labels)
        return self

    def predict_proba(self, patches: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n_classes)."""
        return self.estimator.predict_proba(self.spectra(patches))
