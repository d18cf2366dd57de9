"""Patch sampling, extraction, normalisation and patient-grouped folds."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError
from tumor3d.patches import extract_patches, grouped_folds, normalise_cube, sample_centres


def _annotation() -> np.ndarray:
    ann = np.zeros((12, 12), dtype=int)
    ann[2:10, 2:10] = 1
    ann[4:6, 4:6] = 2
    return ann


def test_centres_lie_on_the_stride_grid_and_carry_their_labels():
    ann = _annotation()
    centres, labels = sample_centres(ann, stride=2, balance=False)
    assert np.all(centres % 2 == 0)
    assert np.array_equal(ann[centres[:, 0], centres[:, 1]], np.array([1, 2])[labels])
    assert (labels == 1).sum() == 1 and (labels == 0).sum() == 15  # grid points in each class


def test_balancing_cuts_every_class_to_the_rarest():
    centres, labels = sample_centres(_annotation(), stride=1, balance=True, seed=3)
    assert np.bincount(labels).tolist() == [4, 4]
    again, _ = sample_centres(_annotation(), stride=1, balance=True, seed=3)
    assert np.array_equal(centres, again)
    _, capped = sample_centres(_annotation(), stride=1, balance=False, max_per_class=10)
    assert np.bincount(capped).tolist() == [10, 4]


def test_extract_patches_centres_and_zero_pads():
    cube = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5)
    p = extract_patches(cube, np.array([[2, 2], [0, 4]]), 3)
    assert p.shape == (2, 2, 3, 3)
    assert np.array_equal(p[0], cube[:, 1:4, 1:4])
    assert np.array_equal(p[1, :, 1:, :2], cube[:, :2, 3:]) and not p[1, :, 0].any() and not p[1, :, :, 2].any()
    assert np.array_equal(extract_patches(cube, np.array([[2, 2]]), 1, channels=[1])[0, :, 0, 0], [cube[1, 2, 2]])
    with pytest.raises(InputError):
        extract_patches(cube, np.array([[2, 2]]), 4)


def test_normalisation_removes_a_global_intensity_scale():
    rng = np.random.default_rng(0)
    cube = rng.gamma(2.0, 5.0, (6, 4, 4)).astype(np.float32)
    tic = cube.sum(axis=0) * 1.5
    mask = np.ones((4, 4), dtype=bool)
    mask[0, 0] = False
    a, b = normalise_cube(cube, tic, mask), normalise_cube(7.0 * cube, 7.0 * tic, mask)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert not a[:, 0, 0].any()
    np.testing.assert_allclose(np.expm1(a[:, 1, 1]).sum(), 1000 / 1.5, rtol=1e-4)


def test_grouped_folds_never_put_a_patient_on_both_sides():
    patients = ["A", "A", "B", "B", "C", "D", "D", "E"]
    folds = grouped_folds(patients, k=3, seed=1)
    seen = np.concatenate([te for _, te in folds])
    assert sorted(seen.tolist()) == list(range(len(patients)))
    for tr, te in folds:
        assert not {patients[i] for i in tr} & {patients[i] for i in te}
        assert len(te)
    with pytest.raises(InputError):
        grouped_folds(patients, k=6)


def test_strided_map_predicts_the_grid_and_fills_the_region_from_the_nearest_grid_pixel():
    from tumor3d.slide import predict_map, score_grid

    region = np.zeros((7, 8), dtype=bool)
    region[1:6, 1:7] = True
    cube = np.arange(7 * 8, dtype=np.float32).reshape(1, 7, 8)
    seen = []

    def proba(x):
        seen.append(len(x))
        v = x[:, 0, 0, 0] / 100.0
        return np.stack([1 - v, v], axis=1)

    dense = predict_map(proba, cube, region, 1)
    sparse = predict_map(proba, cube, region, 1, stride=2)
    grid = score_grid(region, 2)
    assert seen == [region.sum(), grid.sum()] and grid.sum() < region.sum() / 2
    np.testing.assert_allclose(sparse[grid], dense[grid])
    assert np.isnan(sparse[~region]).all() and np.isfinite(sparse[region]).all()
    assert sparse[3, 3] in {dense[2, 2], dense[2, 4], dense[4, 2], dense[4, 4]}
