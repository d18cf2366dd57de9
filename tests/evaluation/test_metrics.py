"""Tests of ionmorph.evaluation.metrics: mSCF1 worked out by hand, correlation accuracy, edge cases."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.evaluation.metrics import mscf1, mscf1_from_r, pearson_with_classes, snap_to_axis, true_sets

# 2 x 3 raster: top row class 0, bottom row class 1 (pixels in raster order)
MASK = np.array([[0, 0, 0], [1, 1, 1]])
CHANNELS = np.array([
    [0, 0, 0, 1, 1, 1],        # ch0: class 1 indicator       r = (-1, 1)
    [0, 0, 0, 1, 1, 0],        # ch1                          r = (-1/sqrt2, 1/sqrt2)
    [1, 0, 0, 0, 0, 0],        # ch2                          r = (1/sqrt5, -1/sqrt5)
    [5, 5, 5, 5, 5, 5],        # ch3: constant -> NaN -> 0
    [np.nan] * 6,              # ch4: all NaN -> 0
    [1, 1, 0, 0, 0, 0],        # ch5                          r = (1/sqrt2, -1/sqrt2)
], dtype=np.float32)
AXIS = np.array([100.0, 101.0, 102.0, 103.0, 104.0, 105.0])
S2, S5 = 1 / np.sqrt(2), 1 / np.sqrt(5)
R_EXPECTED = np.array([[-1, -S2, S5, 0, 0, S2], [1, S2, -S5, 0, 0, -S2]])


def test_pearson_hand_computed_stack_and_matrix():
    r, classes = pearson_with_classes(CHANNELS.reshape(6, 2, 3), MASK)
    np.testing.assert_array_equal(classes, [0, 1])
    np.testing.assert_allclose(r, R_EXPECTED, atol=1e-6)
    r2, _ = pearson_with_classes(CHANNELS.T.copy(), MASK.ravel())
    np.testing.assert_allclose(r2, R_EXPECTED, atol=1e-6)


def test_mscf1_hand_computed():
    # closest-to-t cuts (the closest channel itself is excluded):
    #  t=0.3: class 0 sorted (.707, .447, 0, ...) closest .447 -> {ch5}; class 1 (1, .707, 0) closest 0 -> {ch0, ch1}
    #  t=0.4: {ch5} | {ch0};  t=0.5: {ch5} | {ch0};  t=0.6: {} | {ch0}
    # picks 100.2, 104.9, 103.0 snap to {ch0, ch5, ch3}
    res = mscf1([100.2, 104.9, 103.0], CHANNELS.reshape(6, 2, 3), MASK, mz_axis=AXIS)
    np.testing.assert_array_equal(res.true_size, [3, 2, 2, 1])
    np.testing.assert_allclose(res.f1, [4 / 6, 4 / 5, 4 / 5, 2 / 4])
    assert res.mscf1 == pytest.approx((4 / 6 + 0.8 + 0.8 + 0.5) / 4)
    np.testing.assert_allclose(res.best_f1, [1.0, 0.8, 0.8, 0.5])
    assert res.best == pytest.approx(0.775)
    np.testing.assert_array_equal(res.class_true_size, [[1, 2], [1, 1], [1, 1], [0, 1]])
    np.testing.assert_allclose(res.class_f1, [[0.5, 0.4], [0.5, 0.5], [0.5, 0.5], [0.0, 0.5]])
    assert res.per_class == pytest.approx({0: 0.375, 1: 0.475})
    assert res.k == 3
    d = res.to_dict()
    assert d["k"] == 3 and d["per_class_f1"]["1"] == pytest.approx(0.475)


def test_no_true_positive_gives_zero_and_k_larger_than_true_set():
    res = mscf1([103.0, 104.0], CHANNELS.reshape(6, 2, 3), MASK, mz_axis=AXIS)
    np.testing.assert_array_equal(res.f1, 0.0)
    res = mscf1(AXIS, CHANNELS.reshape(6, 2, 3), MASK, mz_axis=AXIS)  # k = 6 > |T|
    np.testing.assert_allclose(res.best_f1, 2 * np.array([3, 2, 2, 1]) / (6 + np.array([3, 2, 2, 1])))
    np.testing.assert_allclose(res.f1, res.best_f1)


def test_unmeasured_and_negative_pixels_are_ignored():
    stack = np.concatenate([CHANNELS.reshape(6, 2, 3), np.full((6, 2, 1), 1e6, np.float32)], axis=2)
    mask = np.concatenate([MASK, [[0], [1]]], axis=1)
    measured = np.ones((2, 4), bool)
    measured[:, 3] = False
    r, _ = pearson_with_classes(stack, mask, measured=measured)
    np.testing.assert_allclose(r, R_EXPECTED, atol=1e-6)
    r, _ = pearson_with_classes(stack, np.where(measured, mask, -1))
    np.testing.assert_allclose(r, R_EXPECTED, atol=1e-6)


def test_background_class_counts_and_matches_numpy():
    rng = np.random.default_rng(0)
    mask = np.zeros((20, 30), int)
    mask[4:16, 5:15] = 1
    mask[4:16, 15:26] = 2
    n_ch = 40
    stack = rng.gamma(2.0, 1.0, (n_ch, 20, 30)).astype(np.float32) + 1e4  # big offset: no cancellation
    stack[0] += 50.0 * (mask == 0)  # a background (matrix) ion
    stack[1] += 50.0 * (mask == 2)
    r, classes = pearson_with_classes(stack, mask)
    np.testing.assert_array_equal(classes, [0, 1, 2])
    flat = stack.reshape(n_ch, -1).astype(np.float64)
    for c in classes:
        ind = (mask.ravel() == c).astype(float)
        ref = [np.corrcoef(ch, ind)[0, 1] for ch in flat]
        np.testing.assert_allclose(r[c], ref, atol=1e-5)
    res = mscf1_from_r([0.0], r, np.arange(n_ch, dtype=float), classes=classes)
    # the background ion is a true channel of class 0 at t = 0.3-0.5; at t = 0.6 its r (~0.99) is
    # itself the value closest to t, so the literal closest-to-t rule leaves the set empty
    np.testing.assert_array_equal(res.class_true_size[:, 0], [1, 1, 1, 0])
    np.testing.assert_allclose(res.class_f1[:, 0], [1, 1, 1, 0])
    assert res.mscf1 > 0


def test_true_sets_ties_and_single_channel():
    r = np.array([[0.3, 0.3, 0.9]])
    ts = true_sets(r, (0.3,))
    np.testing.assert_array_equal(ts[0, 0], [False, False, True])  # first closest is the cut
    assert not true_sets(np.array([[0.5]]), (0.5,)).any()


def test_snap_to_axis():
    axis = np.array([10.0, 20.0, 30.0])
    np.testing.assert_array_equal(snap_to_axis([14.9, 15.1, 1.0, 99.0, 20.0], axis), [0, 1, 2])
    np.testing.assert_array_equal(snap_to_axis([], axis), [])
    with pytest.raises(InputError):
        snap_to_axis([1.0], np.array([2.0, 1.0]))


def test_bad_inputs():
    stack = CHANNELS.reshape(6, 2, 3)
    with pytest.raises(InputError, match="mz_axis"):
        mscf1([100.0], stack, MASK)
    with pytest.raises(InputError, match="mask shape"):
        pearson_with_classes(stack, MASK.T)
    with pytest.raises(InputError, match="integer"):
        pearson_with_classes(stack, MASK + 0.5)
    with pytest.raises(InputError, match="no measured"):
        pearson_with_classes(stack, -np.ones_like(MASK))
    with pytest.raises(InputError, match="do not match"):
        mscf1_from_r([1.0], np.zeros((2, 3)), np.arange(4.0))


def test_msidata_streaming_matches_stack(tmp_path):
    msi = pytest.importorskip("ionmorph.io.msi")
    from pyimzml.ImzMLWriter import ImzMLWriter

    rng = np.random.default_rng(3)
    h, w, n_ch = 6, 7, 25
    mask = (np.arange(w)[None, :] >= 3).astype(int) + np.zeros((h, 1), int)
    stack = rng.gamma(2.0, 10.0, (n_ch, h, w)) + 100.0 * (mask == 1)[None] * (np.arange(n_ch) % 2)[:, None, None]
    measured = np.ones((h, w), bool)
    measured[0, 0] = False
    axis = np.linspace(100.0, 500.0, n_ch)
    path = tmp_path / "s.imzML"
    with ImzMLWriter(str(path), mode="continuous", mz_dtype=np.float64, intensity_dtype=np.float32) as wr:
        for y in range(h):
            for x in range(w):
                if measured[y, x]:
                    wr.addSpectrum(axis, stack[:, y, x].astype(np.float32), (x + 1, y + 1, 1))
    data = msi.open_msi(path)
    res_file = mscf1(axis[::2], data, mask)
    res_stack = mscf1(axis[::2], stack.astype(np.float32), mask, mz_axis=axis, measured=measured)
    np.testing.assert_allclose(res_file.f1, res_stack.f1)
    r_file, _ = pearson_with_classes(data, mask)
    r_stack, _ = pearson_with_classes(stack.astype(np.float32), mask, measured=measured)
    np.testing.assert_allclose(r_file, r_stack, atol=1e-5)
