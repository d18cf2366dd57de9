"""The realism benchmark's pieces on small fake pools (no simulation): discovery, weights, folds, report."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ionmorph.errors import InputError

from bench_testutil import load_benchmark


def _load():
    return load_benchmark("realism")


@pytest.fixture(scope="module")
def bench():
    return _load()


def _fake_stacks(bench, seed: int = 0):
    """Two 'real' datasets of smooth blobs and four 'simulated' sections of noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :48]
    out = []
    for d, n in (("alpha", 12), ("beta", 4)):
        imgs = np.stack([np.exp(-((yy - rng.uniform(10, 30)) ** 2 + (xx - rng.uniform(10, 38)) ** 2) / 60.0)
                         * 10 + rng.poisson(0.5, yy.shape) for _ in range(n)]).astype(np.float32)
        out.append(bench.Stack("real", d, d, d, imgs, np.ones(yy.shape, bool), np.arange(n, dtype=float)))
    for s in range(4):
        group = f"brain/{'tof' if s % 2 else 'desi'}"
        imgs = rng.poisson(2.0, (8, 40, 48)).astype(np.float32)
        out.append(bench.Stack("sim", "sim", group, f"{group}/{s // 2}", imgs, np.ones(yy.shape, bool),
                               np.arange(8, dtype=float), looks=["structured"] * 4 + ["none"] * 4))
    return out


def test_find_real_size_rule_and_duplicates(bench, tmp_path):
    (tmp_path / "big").mkdir()
    (tmp_path / "tiny").mkdir()
    cube = np.random.default_rng(0).poisson(1, (50, 60, 7)).astype(np.uint8)
    np.savez(tmp_path / "big" / "x_cube.npz", intensities=cube, mz=np.arange(7.0))
    np.savez(tmp_path / "big" / "x_ion_images.npz", images=np.moveaxis(cube, -1, 0), mz=np.arange(7.0))
    np.savez(tmp_path / "tiny" / "y_ion_images.npz", images=np.ones((2, 10, 10)), mz=np.arange(2.0))
    stacks, skipped = bench.find_real(tmp_path, max_per_dataset=5)
    assert [s.dataset for s in stacks] == ["big"]
    assert stacks[0].images.shape == (5, 50, 60) and stacks[0].mask.all()
    reasons = {s["file"]: s["reason"] for s in skipped}
    assert "same recording" in reasons["big/x_ion_images.npz"]
    assert "< 40 x 40" in reasons["tiny/y_ion_images.npz"]
    with pytest.raises(InputError):
        bench.find_real(tmp_path / "tiny", max_per_dataset=5)


def test_find_real_on_shared_realdata(bench, realdata):
    stacks, skipped = bench.find_real(realdata, max_per_dataset=200)
    names = {s.dataset: s for s in stacks}
    assert {"barley", "poplar", "plaque-brain"} <= set(names)
    assert names["barley"].images.shape == (101, 49, 106) and names["barley"].mask.sum() == 3422
    assert names["poplar"].images.shape[0] == 200
    assert all(min(s.shape) >= bench.MIN_SIDE for s in stacks)
    assert any("imzml-example" in s["file"] for s in skipped)


def test_balance_weights(bench):
    real = np.array([True] * 100 + [True] * 3 + [False] * 50)
    group = np.array(["a"] * 100 + ["b"] * 3 + ["s1"] * 20 + ["s2"] * 30)
    w = bench.balance_weights(real, group)
    assert w.mean() == pytest.approx(1.0)
    assert w[real].sum() == pytest.approx(w[~real].sum())
    assert w[100] / w[0] == pytest.approx(bench.MAX_WEIGHT_RATIO)          # the small dataset is capped
    assert w[103:123].sum() == pytest.approx(w[123:].sum())                 # simulated groups weigh the same


def test_fold_percentile_mean_is_the_auc(bench):
    from sklearn.metrics import roc_auc_score

    t = bench.build_table(_fake_stacks(bench))
    rng = np.random.default_rng(1)
    p = rng.random(len(t))
    fold = np.zeros(len(t), int)
    pct = bench.fold_percentile(t, p, fold)
    assert np.mean(pct[t.real]) == pytest.approx(roc_auc_score(t.real, p))


def test_pipeline_on_fake_pools(bench, tmp_path):
    stacks = _fake_stacks(bench)
    t = bench.build_table(stacks)
    assert t.x.shape == (len(t), 1, bench.SIZE, bench.SIZE)
    stats = bench.describe_stats(t)
    assert stats["morans_i"]["ks"] > 0.5                                    # blobs vs noise
    rf = bench.random_forest(t, seed=0, n_trees=20, n_ablate=2)
    assert rf["cv5_auc_weighted"] > 0.9 and set(rf["lodo_auc"]) == {"alpha", "beta"}
    cnn = bench.discriminator(t, epochs=1, seed=0)
    assert set(cnn["folds"]) == {"alpha", "beta"} and np.isfinite(cnn["oof_p_real"]).all()
    assert bench.differences(stats)[0].startswith("`")
    bench.side_by_side(t, tmp_path / "a.png", seed=0, n=4)
    bench.discriminator_figure(t, cnn["oof_p_real"], cnn["fold_percentile"], tmp_path / "b.png", n=3)
    bench.stats_figure(t, stats, tmp_path / "c.png")
    assert all((tmp_path / f).stat().st_size > 0 for f in ("a.png", "b.png", "c.png"))
    json.dumps({k: v for k, v in rf.items() if k != "oof_p_real"})
