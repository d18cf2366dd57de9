"""ionmorph.io.msi: round trips, one-pass ion images against a plain reference, real recordings."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.io.msi import DEFAULT_PPM, MSIData, SpectraChunk, mz_windows, open_msi
from msi_testutil import continuous_cube, random_spectra, reference_images, write_imzml

REAL_FILES = ["imzml-example/Example_Continuous.imzML", "imzml-example/Example_Processed.imzML",
              "m2aia-test/test.imzML", "barley/barley101_peaks.imzML"]


def _raster(h: int, w: int, drop: int = 0, x0: int = 5, y0: int = 3):
    """imzML (x, y) of an h x w raster with an offset origin, minus ``drop`` pixels."""
    xy = [(x0 + c, y0 + r) for r in range(h) for c in range(w)]
    return xy[:len(xy) - drop] if drop else xy


@pytest.mark.parametrize("mz_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("int_dtype", [np.float32, np.float64])
def test_processed_round_trip(tmp_path, mz_dtype, int_dtype):
    xy = _raster(4, 5, drop=3)
    common, spectra = random_spectra(len(xy), seed=1)
    path = write_imzml(tmp_path / "p.imzML", spectra, xy, "processed", mz_dtype, int_dtype)
    data = open_msi(path)
    assert isinstance(data, MSIData)
    assert data.mode == "processed" and data.mz_axis is None and data.spectrum_type == "centroid"
    assert data.shape == (4, 5) and data.n_pixels == 17 and data.mask.sum() == 17
    assert not data.mask[3, 2:].any() and data.mask[3, :2].all()
    assert data.mz_dtype == np.dtype(mz_dtype) and data.intensity_dtype == np.dtype(int_dtype)
    lo = min(np.asarray(m, mz_dtype)[0] for m, _ in spectra)
    assert data.mz_range[0] == pytest.approx(float(lo))
    read = [(m.copy(), a.copy(), i) for idx, ms, As in data.spectra(chunk=4) for i, m, a in zip(idx, ms, As)]
    assert [r[2] for r in read] == list(range(17))
    for (m, a, i), (m0, a0) in zip(read, spectra):
        np.testing.assert_array_equal(m, np.asarray(m0, mz_dtype))
        np.testing.assert_array_equal(a, np.asarray(a0, int_dtype))
    lo_w, hi_w = mz_windows(common, ppm=5)
    images = data.ion_images(common, ppm=5, chunk=3)
    assert images.dtype == np.float32 and images.shape == (len(common), 4, 5)
    np.testing.assert_allclose(images, reference_images(path, lo_w, hi_w, data.coords, data.shape), rtol=1e-6)
    assert np.all(images[:, ~data.mask] == 0)


@pytest.mark.parametrize("int_dtype", [np.float32, np.float64, np.int32])
def test_continuous_round_trip(tmp_path, int_dtype):
    xy = _raster(3, 4, drop=1)
    axis, cube = continuous_cube(len(xy))
    cube = cube.astype(int_dtype)
    path = write_imzml(tmp_path / "c.imzML", [(axis, row) for row in cube], xy, "continuous",
                       np.float32, int_dtype, spec_type="profile")
    data = open_msi(path)
    assert data.mode == "continuous" and data.spectrum_type == "profile"
    np.testing.assert_array_equal(data.mz_axis, axis.astype(np.float32))
    assert data.mz_range == (pytest.approx(float(np.float32(300.0))), pytest.approx(float(np.float32(320.0))))
    chunks = list(data.spectra(chunk=5))
    assert [len(c.index) for c in chunks] == [5, 5, 1] and isinstance(chunks[0], SpectraChunk)
    np.testing.assert_array_equal(np.concatenate([c.intensity for c in chunks]), cube)
    channels = data.channel_images([0, 7, 199])
    for k, j in enumerate([0, 7, 199]):
        np.testing.assert_array_equal(channels[k][data.coords[:, 0], data.coords[:, 1]], cube[:, j].astype(np.float32))
    centres = np.array([300.5, 310.0, 310.02, 319.99])
    lo, hi = mz_windows(centres, tol_da=0.3)
    images = data.ion_images(centres, tol_da=0.3, chunk=2)
    np.testing.assert_allclose(images, reference_images(path, lo, hi, data.coords, data.shape), rtol=1e-6)
    np.testing.assert_allclose(data.tic_image()[data.mask], cube.sum(axis=1), rtol=1e-6)
    mz, mean = data.mean_spectrum()
    np.testing.assert_allclose(mean, cube.mean(axis=0), rtol=1e-6)


def test_window_bounds_are_inclusive_and_overlap(tmp_path):
    mz = np.array([100.0, 100.001, 100.002, 200.0])
    path = write_imzml(tmp_path / "w.imzML", [(mz, np.array([1.0, 2.0, 4.0, 8.0]))], [(1, 1)])
    data = open_msi(path)
    # tol_da=0.001: the window around 100.001 holds exactly the three first peaks (inclusive bounds,
    # exact in float64), and windows around 100.0 and 100.002 overlap it
    images = data.ion_images([100.001, 100.0, 100.002, 150.0, 200.0], tol_da=0.001)[:, 0, 0]
    np.testing.assert_array_equal(images, [7.0, 3.0, 6.0, 0.0, 8.0])
    lo, hi = mz_windows([500.0], ppm=DEFAULT_PPM)
    assert hi[0] - lo[0] == pytest.approx(2 * 500.0 * DEFAULT_PPM * 1e-6)


def test_mean_spectrum_processed_binning(tmp_path):
    spectra = [(np.array([100.0, 300.0]), np.array([2.0, 4.0])), (np.array([100.0]), np.array([6.0]))]
    data = open_msi(write_imzml(tmp_path / "m.imzML", spectra, [(1, 1), (2, 1)]))
    mz, mean = data.mean_spectrum(bins=np.array([50.0, 150.0, 250.0, 350.0]))
    np.testing.assert_allclose(mean, [4.0, 0.0, 2.0])
    np.testing.assert_allclose(mz, np.sqrt([50 * 150, 150 * 250, 250 * 350]))
    mz5, mean5 = data.mean_spectrum()  # default: 5 ppm log bins for centroid data
    assert mean5.sum() == pytest.approx(6.0)
    assert np.all(np.diff(np.log(mz5)) == pytest.approx(np.log1p(5e-6)))
    assert mz5[np.argmax(mean5)] == pytest.approx(100.0, rel=5e-6)


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_files_match_plain_reference(realdata, name):
    path = realdata / name
    data = open_msi(path)
    lo_mz, hi_mz = data.mz_range
    centres = np.concatenate([np.linspace(lo_mz, hi_mz, 40), [lo_mz, hi_mz]])
    if data.mz_axis is not None:
        centres = np.concatenate([centres, data.mz_axis[:: max(1, len(data.mz_axis) // 30)]])
    for kw in ({"ppm": 50.0}, {"tol_da": 0.05}):
        lo, hi = mz_windows(centres, **kw)
        images = data.ion_images(centres, **kw, chunk=7)
        ref = reference_images(path, lo, hi, data.coords, data.shape)
        np.testing.assert_allclose(images, ref, rtol=1e-5, atol=1e-6 * max(ref.max(), 1.0))
        assert np.count_nonzero(ref) > 0


def test_barley_matches_cube_and_geometry(realdata):
    data = open_msi(realdata / "barley/barley101_peaks.imzML")
    cube = np.load(realdata / "barley/barley101_cube.npz")
    assert data.shape == (49, 106) and data.n_pixels == 3422 and data.mode == "continuous"
    np.testing.assert_allclose(data.mz_axis, cube["mz"])
    expected = np.moveaxis(cube["intensities"], 2, 0)
    images = data.ion_images(data.mz_axis, ppm=3)
    np.testing.assert_allclose(images, expected, rtol=1e-6)
    np.testing.assert_array_equal(data.channel_images(), expected)
    np.testing.assert_allclose(data.tic_image(), expected.sum(axis=0), rtol=1e-5)


def test_processed_and_continuous_example_agree(realdata):
    cont = open_msi(realdata / "imzml-example/Example_Continuous.imzML")
    proc = open_msi(realdata / "imzml-example/Example_Processed.imzML")
    assert (cont.mode, proc.mode) == ("continuous", "processed")
    assert cont.shape == proc.shape == (3, 3)
    centres = cont.mz_axis[::500]
    expected = cont.ion_images(centres)
    # processed sums come from a difference array: exact up to float64 rounding of the spectrum's total
    np.testing.assert_allclose(proc.ion_images(centres), expected, rtol=1e-6, atol=1e-9 * expected.max())
    np.testing.assert_allclose(cont.tic_image(), proc.tic_image(), rtol=1e-6)
    assert cont.mz_range == pytest.approx(proc.mz_range)
