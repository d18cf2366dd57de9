"""The coherence-weighted scores and the redundancy rule of pick_peaks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ionmorph.errors import InputError
from ionmorph.models.inference import clear_cache
from ionmorph.models.model import IonMorphNet
from ionmorph.picking.pick import coherence, pick_peaks, select
from ionmorph.models.preprocessing import PreprocessConfig


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(1)
    model = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="test")
    return model.save_pretrained(tmp_path_factory.mktemp("w") / "tiny", dtype="float32")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IONMORPH_CACHE", str(tmp_path / "cache"))
    yield
    clear_cache()


def _smooth_and_noise(seed: int = 0) -> np.ndarray:
    """A smooth gradient with a blob, and Poisson speckle of the same mean, (2, 40, 50)."""
    yy, xx = np.mgrid[0:40, 0:50]
    smooth = 5.0 + 20.0 * np.exp(-((yy - 20) ** 2 + (xx - 25) ** 2) / 80.0) + 0.1 * xx
    noise = np.random.default_rng(seed).poisson(smooth.mean(), smooth.shape).astype(float)
    return np.stack([smooth, noise]).astype(np.float32)


def test_coherence_ranks_smooth_above_speckle_and_ignores_hotspots():
    images = _smooth_and_noise()
    c = coherence(images, None)
    assert c[0] > 0.9 and c[1] < 0.1
    hot = images.copy()
    hot[0, 3, 3] = 1e6   # one hotspot would make raw Moran's I near 0
    assert coherence(hot, None)[0] > 0.8
    assert coherence(np.zeros((1, 10, 10), np.float32), None)[0] == 0.0


def test_coherence_uses_measured_pixels_only():
    images = _smooth_and_noise()
    mask = np.zeros(images.shape[1:], dtype=bool)
    mask[5:35, 5:45] = True
    outside = images.copy()
    outside[:, ~mask] = 1e4   # garbage where nothing was measured
    np.testing.assert_allclose(coherence(outside, mask), coherence(images, mask), atol=1e-6)


def test_redundancy_skips_near_identical_images():
    score = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    base = np.random.default_rng(0).normal(size=(4, 50))
    base[1] = base[0] * 2.0 + 0.01 * base[1]   # a near copy of candidate 0
    picked = select(score, 2, None, redundancy=0.95, thumbs=base)
    assert picked.tolist() == [True, False, True, False]
    assert select(score, 2, None).tolist() == [True, True, False, False]
    assert select(score, None, 0.65, redundancy=0.95, thumbs=base).tolist() == [True, False, True, False]
    for bad in (0.0, 1.5, True, "0.9"):
        with pytest.raises(InputError, match="redundancy"):
            select(score, 2, None, redundancy=bad, thumbs=base)


def test_clarity_scores_are_the_class_scores_times_coherence(weights):
    images = np.concatenate([_smooth_and_noise(0), _smooth_and_noise(1)])
    mz = np.array([100.0, 200.0, 300.0, 400.0])
    plain = pick_peaks(images, mz=mz, model=weights, progress=False, score="classes", group_isotopes=False)
    clear = pick_peaks(images, mz=mz, model=weights, progress=False, score="clarity", group_isotopes=False)
    views = pick_peaks(images, mz=mz, model=weights, progress=False, score="views", group_isotopes=False)
    both = pick_peaks(images, mz=mz, model=weights, progress=False, score="views_clarity", group_isotopes=False)
    weight = coherence(images, None, PreprocessConfig(size=32))
    np.testing.assert_allclose(clear.score, plain.score * weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both.score, views.score * weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clear.proba, plain.proba)
    assert "coherence" in clear.timings and "coherence" not in plain.timings


def test_pick_peaks_redundancy_picks_one_of_two_copies(weights):
    images = _smooth_and_noise()
    stack = np.stack([images[0], images[0] * 1.01, images[1]])
    res = pick_peaks(stack, mz=[100.0, 150.0, 300.0], model=weights, progress=False, k=2, score="clarity",
                     group_isotopes=False, redundancy=0.99)
    assert res.picked[:2].sum() == 1 and res.picked[2]
    assert "redundancy=0.99" in repr(res)
    with pytest.raises(InputError, match="redundancy"):
        pick_peaks(stack, mz=[100.0, 150.0, 300.0], model=weights, progress=False, k=2, redundancy=2.0)
