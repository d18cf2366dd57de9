"""Tests of ionmorph.picking.baselines: each ranks clearly structured images above pure noise."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.picking.baselines import (connected_area, join_count_null, mean_intensity, morans_i, otsu_bins,
                                        random_scores, rank, s3pl, signal_pixels, spatial_chaos, spectrum_snr,
                                        sputnik_csr, sputnik_reference)
from ionmorph.errors import InputError

YY, XX = np.mgrid[:40, :50]
BLOB = np.exp(-((YY - 20) ** 2 + (XX - 25) ** 2) / 200.0)
MASK = np.ones((40, 50), bool)
MASK[:6, :8] = False  # an unmeasured corner


def _stack(seed: int = 0) -> np.ndarray:
    """Structured (blob + counting noise), two noise images, a sparse one, an empty one."""
    rng = np.random.default_rng(seed)
    return np.stack([
        10 * BLOB + rng.poisson(1, BLOB.shape),
        rng.poisson(3, BLOB.shape),
        rng.poisson(3, BLOB.shape),
        5.0 * (rng.random(BLOB.shape) < 0.05),
        np.zeros(BLOB.shape),
    ]).astype(np.float32)


def _brute_moran(x: np.ndarray, m: np.ndarray, neighbours: int) -> float:
    idx = np.argwhere(m)
    pos = {tuple(p): i for i, p in enumerate(idx)}
    z = x[m] - x[m].mean()
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)] + ([(1, 1), (1, -1), (-1, 1), (-1, -1)] if neighbours == 8 else [])
    w = s = 0.0
    for i, (a, b) in enumerate(idx):
        for dy, dx in steps:
            j = pos.get((a + dy, b + dx))
            if j is not None:
                w += 1
                s += z[i] * z[j]
    return len(z) / w * s / (z * z).sum()


def test_rank_descending_stable_nan_last():
    np.testing.assert_array_equal(rank([0.2, np.nan, 0.9, 0.2]), [2, 0, 3, 1])


def test_random_is_seeded():
    st = _stack()
    np.testing.assert_array_equal(random_scores(st, seed=3), random_scores(st, seed=3))
    assert not np.array_equal(random_scores(st, seed=3), random_scores(st, seed=4))


def test_mean_intensity_uses_measured_pixels():
    st = np.ones((2, 4, 4), np.float32)
    st[1, 0, 0] = 100.0
    m = np.ones((4, 4), bool)
    m[0, 0] = False
    np.testing.assert_allclose(mean_intensity(st, m), [1.0, 1.0])
    np.testing.assert_allclose(mean_intensity(st), [1.0, 1 + 99 / 16])


@pytest.mark.parametrize("neighbours", [4, 8])
def test_morans_i_matches_brute_force_and_ranks_structure_first(neighbours):
    st = _stack()
    scores = morans_i(st, MASK, neighbours=neighbours)
    for i in range(4):
        assert scores[i] == pytest.approx(_brute_moran(st[i].astype(float), MASK, neighbours), rel=1e-6)
    assert rank(scores)[0] == 0 and scores[0] > 0.5 and abs(scores[1]) < 0.1
    assert scores[4] == 0.0  # constant (empty) image
    with pytest.raises(InputError):
        morans_i(st, MASK, neighbours=6)


def test_spatial_chaos_ranks_structure_above_noise():
    scores = spatial_chaos(_stack(), MASK)
    assert scores[0] > scores[1] and scores[0] > scores[2] and scores[0] > scores[3]
    assert scores[4] == 0.0  # no signal
    assert np.all((scores >= 0) & (scores <= 1))
    # blocks of the stack are independent
    np.testing.assert_allclose(spatial_chaos(_stack(), MASK, block=2), scores)


def test_spectrum_snr_scores_peaks_over_noise():
    rng = np.random.default_rng(0)
    mz = np.arange(400.0, 500.0, 0.005)
    y = 10 + rng.normal(0, 1, mz.size)
    y += 50 * np.exp(-0.5 * ((mz - 450.0) / 0.004) ** 2)
    scores = spectrum_snr(np.array([420.0, 450.0, 450.0011, 600.0]), mz, y, ppm=5)
    assert scores[1] > 30 and scores[2] > 30 and abs(scores[0]) < 5
    assert rank(scores)[0] in (1, 2)
    assert spectrum_snr(np.array([]), mz, y).size == 0


def test_s3pl_ranks_a_structured_peak_first():
    rng = np.random.default_rng(0)
    n_ch = 150
    yy, xx = np.mgrid[:30, :30]
    blob = np.exp(-((yy - 15) ** 2 + (xx - 12) ** 2) / 60.0)
    cube = rng.poisson(2, (n_ch, 30, 30)).astype(np.float32)
    profile = np.exp(-0.5 * ((np.arange(n_ch) - 75) / 3.0) ** 2)
    cube += 40 * profile[:, None, None] * blob[None]   # a structured ion over channels ~70-80
    scores = s3pl(cube, max_train_pixels=256, seed=0)
    assert set(rank(scores)[:3]) <= set(range(68, 83))
    np.testing.assert_array_equal(scores, s3pl(cube, max_train_pixels=256, seed=0))


def test_bad_stack_raises():
    with pytest.raises(InputError, match="stack"):
        mean_intensity(np.ones((4, 4)))
    with pytest.raises(InputError, match="mask shape"):
        spatial_chaos(np.ones((1, 4, 4)), np.ones((3, 3), bool))


def test_otsu_splits_two_modes_and_signal_pixels_follow_the_blob():
    rng = np.random.default_rng(0)
    row = np.concatenate([rng.integers(10, 30, 500), rng.integers(180, 220, 100)])
    t = otsu_bins(row[None], 256)[0]
    assert 29 <= t < 180                                     # split between the modes (first maximum)
    assert otsu_bins(np.zeros((1, 5), np.int64), 256)[0] == 0
    img = (BLOB > 0.5) * 10.0 + rng.random(BLOB.shape)
    img[0, 0] = 1e6                                          # a hotspot does not set the threshold
    sig = signal_pixels(np.stack([img, np.full(BLOB.shape, 3.0)]), MASK)
    assert np.array_equal(sig[0], (BLOB > 0.5) & MASK | (np.arange(BLOB.size).reshape(BLOB.shape) == 0) & MASK)
    assert not sig[1].any()                                  # constant: no signal
    assert not sig[0][~MASK].any()


def test_sputnik_reference_correlates_with_the_tic():
    st = _stack()
    scores = sputnik_reference(st, MASK)
    tic = st.sum(axis=0)[MASK]
    for i in range(4):
        assert scores[i] == pytest.approx(np.corrcoef(st[i][MASK], tic)[0, 1], abs=1e-6)
    assert scores[4] == 0.0                                  # constant image
    own = sputnik_reference(st, MASK, reference=BLOB)
    assert rank(own)[0] == 0 and own[0] > 0.8 and abs(own[1]) < 0.1
    roi = sputnik_reference(st, MASK, reference="roi")
    assert np.all(np.abs(roi) <= 1) and roi.shape == (5,)
    with pytest.raises(InputError, match="reference"):
        sputnik_reference(st, MASK, reference=np.ones((3, 3)))
    with pytest.raises(InputError, match="reference"):
        sputnik_reference(st, MASK, reference="mean")


def test_join_count_null_matches_random_placement():
    rng = np.random.default_rng(2)
    m = np.ones((6, 7), bool)
    m[:2, :2] = False
    m[5, 6] = False
    cells = np.flatnonzero(m.ravel())
    n = 9
    counts = []
    for _ in range(20000):
        x = np.zeros(m.size, bool)
        x[rng.choice(cells, n, replace=False)] = True
        x = x.reshape(m.shape)
        counts.append((x[:, :-1] & x[:, 1:]).sum() + (x[:-1] & x[1:]).sum())
    mean, var = join_count_null(m, np.array([n, 0, 1]))
    assert mean[0] == pytest.approx(np.mean(counts), rel=0.02)
    assert var[0] == pytest.approx(np.var(counts), rel=0.05)
    assert mean[1] == 0 and var[1] == 0 and mean[2] == 0


def test_sputnik_csr_scores_clustered_signal_above_random_scatter():
    rng = np.random.default_rng(3)
    scatter = (rng.random((30, 40, 40)) < 0.2).astype(np.float32)
    z = sputnik_csr(scatter)
    assert abs(z.mean()) < 0.6 and 0.5 < z.std() < 1.6      # CSR: the z statistic is about N(0, 1)
    scores = sputnik_csr(_stack(), MASK)
    assert rank(scores)[0] == 0 and scores[0] > 10
    assert abs(scores[3]) < 4 and scores[4] == 0.0           # sparse speckle ~ random; empty image
    assert scores[0] > scores[1] and scores[0] > scores[2]


def test_connected_area_scores_the_largest_component():
    img = np.zeros((3, 12, 12), np.float32)
    img[0, 1:4, 1:4] = 5.0                                   # 9 px
    img[0, 7:9, 7:9] = 5.0                                   # 4 px
    img[1, 10, 0] = img[1, 11, 1] = img[1, 9, 1] = 5.0       # a diagonal chain of 3 px
    img[2, 4:6, 4:6] = 5.0                                   # 4 px
    m = np.ones((12, 12), bool)
    np.testing.assert_allclose(connected_area(img, m), [9 / 144, 1 / 144, 4 / 144])
    np.testing.assert_allclose(connected_area(img, m, connectivity=8), [9 / 144, 3 / 144, 4 / 144])
    m[1, 1:4] = False                                        # unmeasured pixels are no signal, nor counted
    assert connected_area(img, m)[0] == pytest.approx(6 / 141)
    st = _stack()
    scores = connected_area(st, MASK)
    assert rank(scores)[0] == 0 and scores[0] > 0.2
    assert scores[1] < 0.05 and scores[2] < 0.05             # Otsu-binarised noise does not percolate
    assert scores[3] < 0.01 and scores[4] == 0.0             # speckle, empty
    np.testing.assert_allclose(connected_area(st, MASK, block=2), scores)
    with pytest.raises(InputError, match="connectivity"):
        connected_area(st, MASK, connectivity=6)
