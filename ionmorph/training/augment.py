"""Class-preserving augmentation of preprocessed ion images (albumentations).

Only transforms that keep an ion image's morphology class are used: reframing (the sample squeezed
along one axis, or zoomed out, and moved off centre, with zero padding: what aspect-preserving
preprocessing makes of elongated, small or off-centre sections), flips, 90-degree rotations,
small affine and elastic warps, gamma, blur, Gaussian and Poisson-like (shot) noise, and random
hotspots. No shuffling or surrogate transforms, which would destroy the spatial structure that
defines the class.

Hotspots add a few very bright pixels and then re-apply the shared intensity normalisation
(:func:`ionmorph.models.preprocessing.normalise_measured`, with the non-zero pixels taken as the measured
ones), so the model sees what preprocessing makes of raw data with hotspots: they are clipped.

Every output is float32 in [0, 1] with the input's shape. :class:`Augmenter` is deterministic:
the transform drawn for a sample depends only on ``(seed, epoch, index)``, whatever the data
loader's worker layout or sample order.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import InputError
from ..models.preprocessing import PreprocessConfig, normalise_measured

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402


class RandomHotspots(A.ImageOnlyTransform):
    """Set 1-``max_spots`` non-zero pixels to 3-30 times the image maximum, then renormalise.

    Parameters
    ----------
    max_spots : int
        Largest number of hotspot pixels.
    config : PreprocessConfig, optional
        Quantiles of the renormalisation (the model's preprocessing settings).
    p : float
        Probability of applying the transform.
    """

    def __init__(self, max_spots: int = 4, config: PreprocessConfig | None = None, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.max_spots = max_spots
        self.config = config or PreprocessConfig()

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        image = data["image"]
        on = np.flatnonzero(image.reshape(-1) > 0)
        n = min(len(on), int(self.py_random.randint(1, self.max_spots)))
        spots = self.random_generator.choice(on, size=n, replace=False) if n else np.empty(0, np.int64)
        factors = self.random_generator.uniform(3.0, 30.0, size=n)
        return {"spots": spots, "factors": factors}

    def apply(self, img: np.ndarray, spots: np.ndarray, factors: np.ndarray, **params: Any) -> np.ndarray:
        if len(spots) == 0:
            return img
        flat = img.astype(np.float32).reshape(-1)
        peak = float(flat.max()) or 1.0
        flat[spots] = peak * factors.astype(np.float32)
        on = flat > 0
        flat[on] = normalise_measured(flat[on][None], self.config)[0]
        return flat.reshape(img.shape)


#: Probability of the reframing transform at strength 1.
REFRAME_P = 0.4


def reframe(p: float = 1.0) -> A.OneOf:
    """Squeeze the image along x to 35-90 % (or shrink it to 50-90 %) and shift it, padding with 0.

    Applied before the 90-degree rotations, so the squeezed axis is either one.
    """
    return A.OneOf([
        A.Affine(scale={"x": (0.35, 0.9), "y": (1.0, 1.0)}, keep_ratio=False,
                 translate_percent={"x": (-0.15, 0.15), "y": (-0.05, 0.05)}, border_mode=0, fill=0, p=1.0),
        A.Affine(scale=(0.5, 0.9), translate_percent=(-0.15, 0.15), border_mode=0, fill=0, p=1.0),
    ], p=p)


def build_pipeline(size: int, config: PreprocessConfig | None = None, strength: float = 1.0) -> A.Compose:
    """The albumentations pipeline for ``size x size`` preprocessed images.

    Parameters
    ----------
    size : int
        Image side length (warp magnitudes scale with it).
    config : PreprocessConfig, optional
        Preprocessing settings used by the hotspot renormalisation.
    strength : float
        Multiplies the probability of every transform but the flips and 90-degree rotations
        (0 disables them).
    """
    if not 0.0 <= strength <= 2.0:
        raise InputError(f"augmentation strength must be in [0, 2], got {strength}")

    def p(v: float) -> float:
        return min(1.0, v * strength)

    return A.Compose([
        reframe(p=p(REFRAME_P)),
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.RandomRotate90(p=1.0),
        A.OneOf([
            A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-15, 15),
                     border_mode=0, fill=0, p=1.0),
            A.ElasticTransform(alpha=size / 4, sigma=size / 10, border_mode=0, fill=0, p=1.0),
        ], p=p(0.3)),
        A.RandomGamma(gamma_limit=(70, 150), p=p(0.3)),
        A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.3, 1.0), p=p(0.15)),
        A.OneOf([
            A.GaussNoise(std_range=(0.01, 0.05), mean_range=(0.0, 0.0), p=1.0),
            A.ShotNoise(scale_range=(0.002, 0.02), p=1.0),
        ], p=p(0.3)),
        RandomHotspots(config=config, p=p(0.15)),
    ])


def _seed(compose: A.BaseCompose, seq: np.random.SeedSequence) -> None:
    """Seed ``compose`` and, with independent seeds, each transform inside it (recursively).

    albumentations' own ``set_random_seed`` gives every transform the same seed, which makes
    their random decisions identical (e.g. both flips always together).
    """
    own, *children = seq.spawn(1 + len(compose.transforms))
    compose.set_random_seed(int(own.generate_state(1)[0]))
    for t, child in zip(compose.transforms, children):
        if isinstance(t, A.BaseCompose):
            _seed(t, child)
        else:
            t.set_random_seed(int(child.generate_state(1)[0]))


class Augmenter:
    """Seeded augmentation of single preprocessed images.

    Parameters
    ----------
    size : int
        Image side length.
    seed : int
        Base seed; the transform of a sample depends only on ``(seed, epoch, index)``.
    config : PreprocessConfig, optional
        Preprocessing settings (hotspot renormalisation).
    strength : float
        See :func:`build_pipeline`.
    """

    def __init__(self, size: int, seed: int = 0, config: PreprocessConfig | None = None,
                 strength: float = 1.0) -> None:
        self.seed = int(seed)
        self.pipeline = build_pipeline(size, config, strength)

    def __call__(self, image: np.ndarray, index: int, epoch: int = 0) -> np.ndarray:
        """Augment one (H, W) float image in [0, 1]; returns float32 (H, W) in [0, 1]."""
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 2:
            raise InputError(f"augmentation expects one (H, W) image, got shape {image.shape}")
        _seed(self.pipeline, np.random.SeedSequence([self.seed, int(epoch), int(index)]))
        out = self.pipeline(image=np.ascontiguousarray(image))["image"]
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
