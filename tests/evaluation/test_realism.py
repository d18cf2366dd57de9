"""ionmorph.evaluation.realism on small fake pools (no simulation): discovery, weights, folds, both judges."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.evaluation.realism import (MAX_WEIGHT_RATIO, MIN_SIDE, SIZE, balance_weights, build_table, find_real,
                                         fold_percentile, quantiles, random_forest, raster_summary, weighted_auc)
from realism_testutil import fake_judged, fake_stacks


def test_find_real_size_rule_and_duplicates(tmp_path):
    (tmp_path / "big").mkdir()
    (tmp_path / "tiny").mkdir()
    cube = np.random.default_rng(0).poisson(1, (50, 60, 7)).astype(np.uint8)
    np.savez(tmp_path / "big" / "x_cube.npz", intensities=cube, mz=np.arange(7.0))
    np.savez(tmp_path / "big" / "x_ion_images.npz", images=np.moveaxis(cube, -1, 0), mz=np.arange(7.0))
    np.savez(tmp_path / "tiny" / "y_ion_images.npz", images=np.ones((2, 10, 10)), mz=np.arange(2.0))
    stacks, skipped = find_real(tmp_path, max_per_dataset=5)
    assert [s.dataset for s in stacks] == ["big"]
    assert stacks[0].images.shape == (5, 50, 60) and stacks[0].mask.all()
    reasons = {s["file"]: s["reason"] for s in skipped}
    assert "same recording" in reasons["big/x_ion_images.npz"]
    assert "< 40 x 40" in reasons["tiny/y_ion_images.npz"]
    with pytest.raises(InputError):
        find_real(tmp_path / "tiny", max_per_dataset=5)


def test_find_real_on_shared_realdata(realdata):
    stacks, skipped = find_real(realdata, max_per_dataset=200)
    names = {s.dataset: s for s in stacks}
    assert {"barley", "poplar", "plaque-brain"} <= set(names)
    assert names["barley"].images.shape == (101, 49, 106) and names["barley"].mask.sum() == 3422
    assert names["poplar"].images.shape[0] == 200
    assert all(min(s.shape) >= MIN_SIDE for s in stacks)
    assert any("imzml-example" in s["file"] for s in skipped)


def test_balance_weights():
    real = np.array([True] * 100 + [True] * 3 + [False] * 50)
    group = np.array(["a"] * 100 + ["b"] * 3 + ["s1"] * 20 + ["s2"] * 30)
    w = balance_weights(real, group)
    assert w.mean() == pytest.approx(1.0)
    assert w[real].sum() == pytest.approx(w[~real].sum())
    assert w[100] / w[0] == pytest.approx(MAX_WEIGHT_RATIO)          # the small dataset is capped
    assert w[103:123].sum() == pytest.approx(w[123:].sum())                 # simulated groups weigh the same


def test_fold_percentile_mean_is_the_auc():
    from sklearn.metrics import roc_auc_score

    t = build_table(fake_stacks())
    rng = np.random.default_rng(1)
    p = rng.random(len(t))
    fold = np.zeros(len(t), int)
    pct = fold_percentile(t, p, fold)
    assert np.mean(pct[t.real]) == pytest.approx(roc_auc_score(t.real, p))


def test_statistics_forest_and_discriminator_on_fake_pools():
    stacks = fake_stacks()
    t, stats, cnn = fake_judged()
    assert t.x.shape == (len(t), 1, SIZE, SIZE)
    assert stats["morans_i"]["ks"] > 0.5                                    # blobs vs noise
    rf = random_forest(t, seed=0, n_trees=20, n_ablate=2)
    assert rf["cv5_auc_weighted"] > 0.9 and set(rf["lodo_auc"]) == {"alpha", "beta"}
    assert set(cnn["folds"]) == {"alpha", "beta"} and np.isfinite(cnn["oof_p_real"]).all()
    json.dumps({k: v for k, v in rf.items() if k != "oof_p_real"})
    raster = raster_summary(stacks)
    assert set(raster["real"]) == {"alpha", "beta"} and raster["sim"]["n_sections"] == 4


def test_weighted_auc_and_quantiles():
    y = np.array([0, 0, 1, 1])
    assert weighted_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert weighted_auc(np.ones(3), np.arange(3.0)) is None                 # one class: no AUC
    assert weighted_auc(y, np.array([0.1, 0.9, 0.8, 0.2]), np.array([1.0, 0.0, 1.0, 0.0])) == 1.0
    q = quantiles(np.arange(11.0))
    assert q["n"] == 11 and q["median"] == 5.0 and q["p10"] == 1.0 and quantiles(np.zeros(0)) == {"n": 0}
