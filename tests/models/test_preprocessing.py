"""Tests of ionmorph.models.preprocessing: hand-checkable scaling, clipping, masking, resizing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.models.preprocessing import (PreprocessConfig, fitted_shape, normalise_measured, preprocess, resize,
                                           resize_matrix)


def _reference(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Straightforward per-image reference of steps 1-4 with np.quantile (no resize)."""
    x = np.nan_to_num(img.astype(np.float64), nan=0.0)
    vals = x[mask]
    hot = vals[vals > vals.max() / 256]
    clip = np.quantile(hot, 0.99) if hot.size else vals.max()
    vals = np.minimum(vals, clip)
    scale = np.quantile(vals, 0.99)
    scale = scale if scale > 0 else vals.max()
    out = np.zeros_like(x)
    out[mask] = np.clip(vals / (scale if scale > 0 else 1.0), 0, 1)
    return out


def test_scaling_and_hotspot_clip_hand_checked():
    img = np.arange(100, dtype=np.float32).reshape(10, 10)
    out = preprocess(img, size=10)
    assert out.shape == (1, 1, 10, 10) and out.dtype == np.float32
    # hotspot: pixels > 99/256 are 1..99, their 99th percentile is 1 + 0.99 * 98 = 98.02
    # scale: 99th percentile of 0..98, 98.02, 98.02 -> 98 + 0.01 * 0.02 = 98.0002
    expected = np.minimum(img, 98.02) / 98.0002
    np.testing.assert_allclose(out[0, 0], np.clip(expected, 0, 1), rtol=1e-5)
    assert out.max() == 1.0
    np.testing.assert_allclose(out[0, 0], _reference(img, np.ones((10, 10), bool)), rtol=1e-5)


def test_mask_ignores_unmeasured_pixels():
    img = np.full((10, 10), 1000.0, dtype=np.float32)  # garbage off the measured area
    mask = np.zeros((10, 10), dtype=bool)
    mask[:, :5] = True
    img[mask] = np.arange(1, 51)
    out = preprocess(img, mask, size=10)[0, 0]
    assert np.all(out[~mask] == 0)
    np.testing.assert_allclose(out, _reference(img, mask), rtol=1e-5)
    # without the mask the empty pixels would decide the scale
    assert out[mask].max() == 1.0 and out[mask].min() > 0


def test_sparse_image_falls_back_to_max():
    img = np.zeros((20, 20), dtype=np.float32)
    img[3, 4], img[10, 11] = 2.0, 4.0
    out = preprocess(img, size=20)[0, 0]
    # 99th percentile of the 400 pixels is 0 -> scale by the clipped max 2 + 0.99 * 2 = 3.98
    assert out[10, 11] == 1.0
    assert out[3, 4] == pytest.approx(2.0 / 3.98, rel=1e-5)
    assert np.count_nonzero(out) == 2


def test_aspect_ratio_kept_with_centred_padding_downsampling():
    out = preprocess(np.ones((20, 40), dtype=np.float32), size=20)[0, 0]
    np.testing.assert_allclose(out[5:15, :], 1.0, atol=1e-6)
    assert np.all(out[:5] == 0) and np.all(out[15:] == 0)


def test_aspect_ratio_kept_upsampling_and_tall_images():
    out = preprocess(np.ones((10, 5), dtype=np.float32), size=20)[0, 0]
    np.testing.assert_allclose(out[:, 5:15], 1.0, atol=1e-6)
    assert np.all(out[:, :5] == 0) and np.all(out[:, 15:] == 0)


def test_downsampling_is_antialiased():
    checker = (np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)
    out = preprocess(checker, size=16)[0, 0]
    np.testing.assert_allclose(out, 0.5, atol=0.05)


def test_constant_zero_and_nan_images():
    stack = np.stack([np.full((8, 8), 3.0), np.zeros((8, 8)), np.full((8, 8), np.nan)]).astype(np.float32)
    stack[0, 0, 0] = np.inf
    out = preprocess(stack, size=8)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0, 0].ravel()[1:], 1.0)
    assert out[0, 0, 0, 0] == 0.0  # inf counts as missing
    assert np.all(out[1] == 0) and np.all(out[2] == 0)


def test_all_unmeasured_mask_gives_zeros():
    out = preprocess(np.ones((2, 6, 6)), np.zeros((6, 6), bool), size=4)
    assert out.shape == (2, 1, 4, 4) and not out.any()


def test_batch_equals_per_image():
    rng = np.random.default_rng(0)
    stack = rng.gamma(0.5, 10.0, size=(7, 23, 31)).astype(np.float32)
    stack[2] = 0
    stack[3, 5, 5] = 1e6  # hotspot
    mask = rng.random((23, 31)) > 0.2
    cfg = PreprocessConfig(size=16)
    batch = preprocess(stack, mask, cfg)
    single = np.concatenate([preprocess(im, mask, cfg) for im in stack])
    np.testing.assert_array_equal(batch, single)
    assert batch.shape == (7, 1, 16, 16) and 0 <= batch.min() and batch.max() <= 1


def test_config_roundtrip_and_validation():
    cfg = PreprocessConfig(size=32, hotspot_quantile=0.98)
    assert PreprocessConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(InputError, match="unknown"):
        PreprocessConfig.from_dict({"size": 3, "colour": 1})
    with pytest.raises(InputError, match="size"):
        PreprocessConfig(size=0)
    with pytest.raises(InputError, match="scale_quantile"):
        PreprocessConfig(scale_quantile=1.5)
    assert preprocess(np.ones((4, 4)), config=cfg, size=8).shape == (1, 1, 8, 8)


def test_bad_shapes_raise():
    with pytest.raises(InputError, match="shape"):
        preprocess(np.ones(5))
    with pytest.raises(InputError, match="mask shape"):
        preprocess(np.ones((2, 4, 4)), np.ones((4, 5), bool))


def test_package_export_is_the_function_after_a_submodule_import():
    import ionmorph
    import ionmorph.models.preprocessing  # noqa: F401

    assert callable(ionmorph.preprocess) and ionmorph.preprocess is preprocess


# ----------------------------------------------------------------------------- numpy resize vs torch
def _torch_resize(stack: np.ndarray, nh: int, nw: int) -> np.ndarray:
    """Reference: torch ``interpolate(mode="bilinear", align_corners=False, antialias=True)``, clamped.

    torch's CPU kernel is wrong for an output width of 1 with several output rows (it repeats the
    first row), so there the transposed problem is used (the filter is separable).
    """
    import torch
    import torch.nn.functional as F

    if nw == 1 and nh > 1:
        return _torch_resize(np.ascontiguousarray(stack.transpose(0, 2, 1)), nw, nh).transpose(0, 2, 1)
    t = torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32))[:, None]
    return F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)[:, 0].numpy()


def _torch_preprocess(images: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """preprocess as it was with torch's resize: numpy steps 1-4, torch resize, centred padding."""
    n, h, w = images.shape
    full = np.zeros(images.shape, dtype=np.float32)
    full[:, mask] = normalise_measured(images[:, mask], PreprocessConfig(size=size))
    nh, nw = fitted_shape(h, w, size)
    out = np.zeros((n, 1, size, size), dtype=np.float32)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[:, 0, top:top + nh, left:left + nw] = full if (nh, nw) == (h, w) else _torch_resize(full, nh, nw)
    return out


@pytest.mark.parametrize("h, w, nh, nw", [
    (150, 150, 64, 64), (106, 101, 64, 61), (23, 31, 16, 21), (5, 9, 35, 64), (31, 17, 64, 35),
    (13, 200, 4, 64), (1000, 3, 64, 1), (1, 7, 9, 64), (7, 1, 64, 9), (1, 1, 64, 64), (200, 1, 64, 1),
    (2, 3, 5, 1), (40, 40, 40, 17), (1, 200, 1, 64), (64, 64, 64, 64), (3, 1000, 7, 333)])
def test_numpy_resize_matches_torch(h, w, nh, nw):
    stack = np.random.default_rng(h * w + nh).random((4, h, w), dtype=np.float32)
    got = np.clip(resize(stack, nh, nw), 0, 1)
    assert got.shape == (4, nh, nw) and got.dtype == np.float32
    np.testing.assert_allclose(got, _torch_resize(stack, nh, nw), rtol=0, atol=1e-6)


def test_resize_matrix_rows_sum_to_one_and_are_cached():
    for n_in, n_out in [(150, 64), (7, 15), (1, 64), (64, 1), (64, 64)]:
        m = resize_matrix(n_in, n_out)
        assert m.shape == (n_out, n_in) and m.dtype == np.float32 and not m.flags.writeable
        np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)
        assert resize_matrix(n_in, n_out) is m
    np.testing.assert_array_equal(resize_matrix(9, 9), np.eye(9, dtype=np.float32))


@pytest.mark.parametrize("shape, size", [((150, 150), 64), ((23, 31), 16), ((5, 9), 32), ((31, 17), 64),
                                         ((13, 200), 64), ((1, 50), 64), ((50, 1), 64), ((1, 1), 8), ((9, 9), 9)])
def test_preprocess_matches_torch_resize(shape, size):
    rng = np.random.default_rng(size + shape[0])
    stack = rng.gamma(0.5, 10.0, size=(5, *shape)).astype(np.float32)
    mask = rng.random(shape) > 0.1
    np.testing.assert_allclose(preprocess(stack, mask, size=size), _torch_preprocess(stack, mask, size),
                               rtol=0, atol=1e-6)


@pytest.mark.realdata
@pytest.mark.parametrize("size", [64, 128])
def test_preprocess_matches_torch_resize_on_barley(realdata, size):
    cube = np.load(realdata / "barley" / "barley101_cube.npz")["intensities"]        # (H, W, channels)
    images = np.ascontiguousarray(cube.transpose(2, 0, 1))
    mask = cube.sum(axis=2) > 0
    np.testing.assert_allclose(preprocess(images, mask, size=size), _torch_preprocess(images, mask, size),
                               rtol=0, atol=1e-6)


def test_each_normalised_sees_every_block_before_the_resize(monkeypatch):
    import ionmorph.models.preprocessing as pp

    monkeypatch.setattr(pp, "_BLOCK_PIXELS", 3 * 20 * 30)       # blocks of 3 images
    rng = np.random.default_rng(4)
    images = rng.gamma(2.0, 1.0, (7, 20, 30)).astype(np.float32)
    mask = np.ones((20, 30), dtype=bool)
    mask[:2] = False
    seen = []

    def hook(start, raw, normalised):
        np.testing.assert_array_equal(raw, images[start:start + len(raw)])
        expected = np.zeros_like(raw)
        expected[:, mask] = pp.normalise_measured(raw[:, mask], pp.PreprocessConfig())
        np.testing.assert_array_equal(normalised, expected)
        seen.append((start, len(raw)))

    out = pp.preprocess(images, mask, each_normalised=hook)
    assert seen == [(0, 3), (3, 3), (6, 1)]
    np.testing.assert_array_equal(out, pp.preprocess(images, mask))
