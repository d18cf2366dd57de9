"""Native-resolution image statistics: the ranking head's inputs."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import WeightsError
from ionmorph.models.ranking_head import RankingHead
from ionmorph.picking.ranking import (IMAGE_STATISTICS, NATIVE_FEATURES, block_sums, head_inputs,
                                      image_statistics, section_features)

COL = {name: i for i, name in enumerate(IMAGE_STATISTICS)}


def _stack(seed: int = 0) -> np.ndarray:
    """Smooth two-region image, Poisson speckle, a hotspot image and a sparse one, (4, 40, 48)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:40, 0:48]
    smooth = np.where(xx < 24, 10.0, 2.0) + 0.05 * yy
    speckle = rng.poisson(3.0, smooth.shape).astype(float)
    hotspot = np.full(smooth.shape, 0.01)
    hotspot[5, 7] = 1e4
    sparse = np.where(rng.random(smooth.shape) < 0.05, 1.0, 0.0)
    return np.stack([smooth, speckle, hotspot, sparse]).astype(np.float32)


def test_statistics_tell_structure_noise_hotspots_and_sparsity_apart():
    s = image_statistics(_stack(), None)
    assert s.shape == (4, len(IMAGE_STATISTICS)) and s.dtype == np.float32
    assert s[0, COL["coherence"]] > 0.9 and s[1, COL["coherence"]] < 0.1
    assert s[0, COL["coherence_4"]] > 0.8 and s[1, COL["coherence_4"]] < 0.5
    assert s[2, COL["top1_share"]] > 0.95 and s[0, COL["top1_share"]] < 0.05
    assert s[0, COL["nonzero"]] == 1.0 and 0.02 < s[3, COL["nonzero"]] < 0.1
    assert s[0, COL["coverage"]] == pytest.approx(0.5, abs=0.05)
    assert np.isclose(s[0, COL["log_mean"]], np.log10(_stack()[0].mean()), atol=1e-5)


def test_statistics_use_measured_pixels_and_survive_bad_values():
    images = _stack()
    mask = np.zeros(images.shape[1:], dtype=bool)
    mask[:, :24] = True     # only the bright flat half of the smooth image
    s = image_statistics(images, mask)
    assert s[0, COL["coverage"]] > 0.9   # the half is flat: near its clipped maximum everywhere
    bad = images.copy()
    bad[1, 0, 0], bad[1, 0, 1], bad[1, 0, 2] = np.nan, np.inf, -5.0
    assert np.isfinite(image_statistics(bad, None)).all()
    assert not image_statistics(images, np.zeros_like(mask)).any()


def test_block_sums_pad_and_compose():
    img = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    mask = np.ones((3, 4), dtype=np.float32)
    mask[0, 0] = 0.0
    sums, count = block_sums(img * mask, mask, 2)
    assert sums.shape == (1, 2, 2) and count.tolist() == [[3, 4], [2, 2]]
    assert sums[0, 0, 0] == 1 + 4 + 5 and sums[0, 1, 1] == 10 + 11
    twice, count4 = block_sums(*block_sums(img * mask, mask, 2), 2)
    once, count1 = block_sums(img * mask, mask, 4)
    np.testing.assert_allclose(twice, once)
    np.testing.assert_array_equal(count4, count1)


def test_section_features_are_section_relative():
    stats = image_statistics(_stack(), None)
    f = section_features(stats)
    assert tuple(f) == NATIVE_FEATURES
    assert np.median(f["rel_log_mean"]) == pytest.approx(0.0, abs=1e-6)
    assert sorted(f["mean_pct"]) == pytest.approx([0.125, 0.375, 0.625, 0.875])
    scaled = stats.copy()
    scaled[:, COL["log_mean"]] += 3.0       # the same section recorded 1000x brighter
    g = section_features(scaled)
    assert np.allclose(g["rel_log_mean"], f["rel_log_mean"], atol=1e-5) and np.array_equal(g["mean_pct"], f["mean_pct"])


def test_head_inputs_order_and_unknown_features():
    stats = image_statistics(_stack(), None)
    proba = np.tile([[0.7, 0.3]], (4, 1)).astype(np.float32)
    head = RankingHead(("coherence", "p_b"), np.zeros(2), np.ones(2), (np.ones((2, 1)),), (np.zeros(1),))
    x = head_inputs(head.features, proba, ("a", "b"), stats)
    assert np.allclose(x[:, 0], stats[:, COL["coherence"]]) and np.allclose(x[:, 1], 0.3)
    odd = RankingHead(("p_b", "entropy"), np.zeros(2), np.ones(2), (np.ones((2, 1)),), (np.zeros(1),))
    with pytest.raises(WeightsError, match="entropy"):
        head_inputs(odd.features, proba, ("a", "b"), stats)
