"""Tests of ionmorph.training.augment: shape/range preserved, seeded, class-preserving pieces behave."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.training.augment import Augmenter, RandomHotspots
from ionmorph.errors import InputError


def _image(size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((size, size), np.float32)
    x[6:26, 4:20] = rng.random((20, 16)).astype(np.float32)
    return x


def test_shape_dtype_range_over_many_draws():
    aug = Augmenter(32, seed=3, strength=2.0)
    x = _image()
    outs = [aug(x, i) for i in range(60)]
    for y in outs:
        assert y.shape == x.shape and y.dtype == np.float32
        assert y.min() >= 0.0 and y.max() <= 1.0 and np.isfinite(y).all()
    assert len({y.tobytes() for y in outs}) > 50  # draws differ


def test_deterministic_per_seed_epoch_index():
    x = _image()
    a, b = Augmenter(32, seed=7), Augmenter(32, seed=7)
    assert np.array_equal(a(x, 5, epoch=2), b(x, 5, epoch=2))
    # order of calls does not matter
    first = [a(x, i, 1) for i in range(5)]
    again = [b(x, i, 1) for i in reversed(range(5))][::-1]
    assert all(np.array_equal(u, v) for u, v in zip(first, again))
    assert not np.array_equal(a(x, 5, 2), a(x, 5, 3))
    assert not np.array_equal(a(x, 5, 2), Augmenter(32, seed=8)(x, 5, 2))


def test_geometric_only_keeps_pixel_values():
    """With strength 0 only flips/rotations act: the multiset of pixel values is unchanged."""
    x = _image()
    aug = Augmenter(32, seed=1, strength=0.0)
    outs = [aug(x, i) for i in range(60)]
    for y in outs:
        assert np.array_equal(np.sort(y.ravel()), np.sort(x.ravel()))
    # flips and rotations are drawn independently: all 8 symmetries of the square occur
    assert len({y.tobytes() for y in outs}) == 8


def test_hotspots_are_clipped_by_renormalisation():
    x = _image()
    t = RandomHotspots(max_spots=3, p=1.0)
    t.set_random_seed(0)
    y = t(image=x.copy())["image"]
    assert y.shape == x.shape and y.max() <= 1.0 and y.min() >= 0.0
    assert not np.array_equal(y, x)
    assert (y[x == 0] == 0).all()  # background stays empty
    # most of the tissue keeps a sensible dynamic range: hotspots did not crush it to ~0
    assert np.median(y[x > 0]) > 0.2


def test_bad_input():
    with pytest.raises(InputError):
        Augmenter(32)(np.zeros((2, 32, 32), np.float32), 0)
    with pytest.raises(InputError):
        Augmenter(32, strength=5.0)


def test_reframe_squeezes_or_shrinks_and_pads_with_zero():
    from ionmorph.training.augment import reframe

    x = np.ones((32, 32), np.float32)
    t = reframe(p=1.0)
    areas = []
    for seed in range(20):
        t.set_random_seed(seed)
        for child in t.transforms:
            child.set_random_seed(seed)
        y = t(image=x.copy())["image"]
        on = y > 0.5
        areas.append(on.mean())
        assert y.shape == x.shape and y.min() >= 0.0 and y.max() <= 1.0
        assert (~on).any()                               # an empty margin appears
        rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
        box = on[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        assert box.mean() > 0.9                          # the sample stays one solid block
    assert 0.1 < min(areas) and max(areas) < 0.95
