"""The ``learned`` score: the weights' ranking head over class probabilities and native statistics."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ionmorph.models.model import IonMorphNet
from ionmorph.models.preprocessing import PreprocessConfig
from ionmorph.models.ranking_head import RankingHead
from ionmorph.picking.pick import HEAD_SCORE, HEADLESS_SCORE, pick_peaks, score_source
from ionmorph.picking.ranking import head_inputs, image_statistics
from ionmorph.training.ranking_head import feature_names
from tiny_testutil import isolated_cache  # noqa: F401  (autouse fixture)


def _images(n: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:36, 0:40]
    out = [np.where(xx < 20 + 2 * i, 8.0, 1.0) + 0.1 * yy if i % 2 == 0 else rng.poisson(4.0, xx.shape)
           for i in range(n)]
    return np.stack(out).astype(np.float32)


def _coherence_head(classes) -> RankingHead:
    """A head that reads one input: the coherence (weight 1, the rest 0)."""
    features = feature_names(classes)
    w = np.zeros((len(features), 1))
    w[features.index("coherence"), 0] = 1.0
    return RankingHead(features, np.zeros(len(features)), np.ones(len(features)), (w,), (np.zeros(1),), target="test")


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(3)
    net = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="9.9.9")
    net.ranking_head = _coherence_head(net.classes)
    return net.save_pretrained(tmp_path / "with_head", dtype="float32"), net


def test_learned_score_is_the_heads_prediction(weights):
    folder, net = weights
    images = _images()
    mz = 100.0 + 10.0 * np.arange(len(images))
    res = pick_peaks(images, mz=mz, k=3, model=folder, progress=False, score=HEAD_SCORE, group_isotopes=False)
    stats = image_statistics(images, None, net.preprocess_config)
    expected = net.ranking_head.predict(head_inputs(net.ranking_head.features, res.proba, net.classes, stats))
    np.testing.assert_allclose(res.score, expected, atol=1e-6)
    assert res.scoring == HEAD_SCORE and "statistics" in res.timings
    t = res.timings      # every step counted once: the statistics are not also in preprocessing or inference
    parts = sum(t[k] for k in ("reading", "model", "ion_images", "preprocess", "inference", "statistics"))
    assert parts <= t["total"] + 1e-3 and min(t.values()) >= 0
    assert set(np.flatnonzero(res.picked)) <= {0, 2, 4}     # the smooth images, not the speckle
    assert "ranking head" in score_source(HEAD_SCORE, net.informative)


def test_weights_without_a_head_fall_back_with_one_warning(tmp_path):
    torch.manual_seed(3)
    folder = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="0.4.9").save_pretrained(
        tmp_path / "plain", dtype="float32")
    images = _images()
    mz = 100.0 + 10.0 * np.arange(len(images))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = pick_peaks(images, mz=mz, k=2, model=folder, progress=False, score=HEAD_SCORE, group_isotopes=False)
    messages = [str(w.message) for w in caught if "ranking head" in str(w.message)]
    assert len(messages) == 1 and "0.4.9" in messages[0] and HEADLESS_SCORE in messages[0]
    assert res.scoring == HEADLESS_SCORE
