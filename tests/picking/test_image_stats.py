"""Tests of ionmorph.picking.image_stats: known values on constant, checkerboard, disk and noise images."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.picking import image_stats as st
from ionmorph.errors import InputError

H, W = 48, 64
YY, XX = np.mgrid[:H, :W]


def _disk(cy: float, cx: float, r: float = 10.0, value: float = 5.0) -> np.ndarray:
    return (value * (((YY - cy) ** 2 + (XX - cx) ** 2) <= r * r)).astype(np.float32)


CONSTANT = np.full((H, W), 3.0, np.float32)
CHECKER = ((YY + XX) % 2).astype(np.float32) + 1.0
CENTRED = _disk(H / 2, W / 2)
SHIFTED = _disk(5, W / 2)            # cut by the top edge
ZERO = np.zeros((H, W), np.float32)


def test_constant_image():
    x = CONSTANT[None]
    assert st.zero_fraction(x)[0] == 0.0
    assert st.coefficient_of_variation(x)[0] == pytest.approx(0.0, abs=1e-12)
    assert st.dynamic_range(x)[0] == pytest.approx(0.0, abs=1e-12)
    assert st.roughness(x)[0] == 0.0
    assert st.log_skew(x)[0] == 0.0
    assert st.distinct_share(x)[0] == pytest.approx(1 / (H * W))
    assert st.top_energy_share(x)[0] == pytest.approx(np.ceil(0.01 * H * W) / (H * W))
    # everything is bright, so the whole raster is "tissue" and it touches the border
    assert st.tissue_share(x)[0] == 1.0 and st.touches_border(x)[0] == 1.0


def test_all_zero_image_gives_zeros_not_nan():
    out = st.image_statistics(ZERO[None])
    for name, v in out.items():
        assert np.isfinite(v).all(), name
    assert out["zero_fraction"][0] == 1.0
    assert out["cv"][0] == 0.0 and out["tissue_share"][0] == 0.0 and out["blob_count"][0] == 0.0


def test_checkerboard_has_negative_morans_i_and_high_roughness():
    out = st.image_statistics(np.stack([CHECKER, CENTRED]))
    assert out["morans_i"][0] < -0.9
    assert out["morans_i"][1] > 0.5
    assert out["roughness"][0] > out["roughness"][1]


def test_touches_border_centred_vs_shifted_disk():
    x = np.stack([CENTRED, SHIFTED])
    assert st.touches_border(x).tolist() == [0.0, 1.0]
    assert st.border_share(x)[0] == 0.0 and st.border_share(x)[1] > 0.01
    share = st.tissue_share(x)
    assert share[0] == pytest.approx(CENTRED.astype(bool).mean(), abs=0.03)
    assert share[1] < share[0]


def test_zero_fraction_and_cv_of_a_disk():
    x = CENTRED[None]
    p = CENTRED.astype(bool).mean()
    assert st.zero_fraction(x)[0] == pytest.approx(1 - p)
    assert st.coefficient_of_variation(x)[0] == pytest.approx(np.sqrt((1 - p) / p), rel=1e-6)


def test_mask_excludes_unmeasured_pixels():
    mask = CENTRED > 0                 # measured = the disk only: a constant image there
    x = CENTRED[None]
    assert st.zero_fraction(x, mask)[0] == 0.0
    assert st.coefficient_of_variation(x, mask)[0] == pytest.approx(0.0, abs=1e-12)
    assert st.roughness(x, mask)[0] == 0.0
    # unmeasured pixels never count as bright
    assert not st.bright_area(np.ones((1, H, W)), mask)[0][~mask].any()


def test_dynamic_range_and_top_energy():
    rng = np.random.default_rng(0)
    flat = rng.uniform(1.0, 2.0, (H, W))
    heavy = rng.pareto(1.0, (H, W)) + 1.0
    x = np.stack([flat, heavy])
    dr = st.dynamic_range(x)
    assert dr[0] == pytest.approx(np.log10(np.quantile(flat, 0.99) / np.median(flat)), rel=1e-6)
    assert dr[1] > dr[0]
    top = st.top_energy_share(x)
    assert top[1] > top[0] > 0.01


def test_scale_free_statistics():
    rng = np.random.default_rng(1)
    x = (rng.poisson(2.0, (3, H, W)) * CENTRED).astype(np.float32)
    for f in (st.zero_fraction, st.coefficient_of_variation, st.dynamic_range, st.top_energy_share, st.roughness,
              st.log_skew, st.distinct_share, st.tissue_share, st.blob_count):
        np.testing.assert_allclose(f(x), f(x * 1000.0), rtol=1e-4, atol=1e-9, err_msg=f.__name__)


def test_distinct_share_counting_vs_continuous():
    rng = np.random.default_rng(2)
    counts = rng.poisson(3.0, (H, W)).astype(np.float32)
    cont = rng.gamma(2.0, 1.0, (H, W)).astype(np.float32)
    d = st.distinct_share(np.stack([counts, cont]))
    assert d[0] < 0.01 and d[1] > 0.9


def test_anisotropy_of_stripes():
    rows = np.repeat(np.arange(H)[:, None] % 2, W, axis=1).astype(np.float32) + 1   # horizontal stripes
    noise = np.random.default_rng(3).random((H, W)).astype(np.float32) + 1
    cols = np.repeat(np.arange(W)[None] % 2, H, axis=0).astype(np.float32) + 1      # vertical stripes
    a = st.anisotropy(np.stack([rows, cols, noise]))
    assert a[0] > 1.0 and a[1] < -1.0
    assert abs(a[2]) < 0.1


def test_blob_count():
    two = _disk(20, 15, 6) + _disk(20, 48, 6)
    out = st.blob_count(np.stack([two, CENTRED, ZERO]))
    assert out.tolist() == [2.0, 1.0, 0.0]
    assert st.blob_count(two[None], min_size=10_000)[0] == 0.0


def test_image_statistics_names_and_blocks():
    rng = np.random.default_rng(4)
    x = rng.poisson(1.0, (7, H, W)).astype(np.float32)
    a, b = st.image_statistics(x), st.image_statistics(x, block=3)
    assert tuple(a) == st.STATISTICS
    for k in st.STATISTICS:
        assert a[k].shape == (7,)
        np.testing.assert_allclose(a[k], b[k], err_msg=k)


def test_bad_input():
    with pytest.raises(InputError):
        st.zero_fraction(np.zeros((2, 3, 4, 5)))
    with pytest.raises(InputError):
        st.zero_fraction(np.zeros((2, 4, 5)), np.ones((4, 4), bool))
