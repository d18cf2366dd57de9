"""ionmorph.io.normalisation: TIC and RMS factors of imzML files and stacks, and normalised ion images."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.io.msi import open_msi
from ionmorph.io.normalisation import NORMS, norm_factor, normalise
from msi_testutil import continuous_cube, random_spectra, write_imzml


def _continuous(tmp_path, zero_pixel: int = 4):
    """A 4 x 5 continuous file without pixel (1, 1), pixel ``zero_pixel`` all zeros; its spectra by raster cell."""
    xy = [(x, y) for y in range(1, 5) for x in range(1, 6) if (x, y) != (1, 1)]
    axis, cube = continuous_cube(len(xy), n_channels=50, seed=3)
    cube[zero_pixel] = 0.0
    path = write_imzml(tmp_path / "c.imzML", [(axis, row) for row in cube], xy, "continuous", np.float64,
                       np.float32, spec_type="profile")
    return open_msi(path), axis, cube.astype(np.float32).astype(np.float64)


def _expected(data, per_pixel: np.ndarray) -> np.ndarray:
    """Per-pixel values (file order) as an image, divided by their median over positive measured pixels."""
    img = np.zeros(data.shape)
    rows, cols = data.coords.T
    img[rows, cols] = per_pixel
    return img / np.median(per_pixel[per_pixel > 0])


def test_tic_and_rms_factors_of_a_continuous_file(tmp_path):
    data, axis, cube = _continuous(tmp_path)
    tic, rms = norm_factor(data, "tic"), norm_factor(data, "rms")
    np.testing.assert_allclose(tic, _expected(data, cube.sum(axis=1)), rtol=1e-5)
    np.testing.assert_allclose(rms, _expected(data, np.sqrt((cube ** 2).mean(axis=1))), rtol=1e-5)
    np.testing.assert_allclose(data.tic_image()[tuple(data.coords.T)], cube.sum(axis=1), rtol=1e-5)
    for f in (tic, rms):
        assert f.dtype == np.float32 and np.median(f[f > 0]) == pytest.approx(1.0)
        assert f[~data.mask].max() == 0.0                         # unmeasured pixel
        r, c = data.coords[4]
        assert f[r, c] == 0.0                                      # the all-zero spectrum
    assert norm_factor(data, "none") is None


def test_normalised_ion_images_are_finite_and_zero_where_the_tic_is(tmp_path):
    data, axis, cube = _continuous(tmp_path)
    mz = [float(axis[10]), float(axis[30])]
    raw = data.ion_images(mz, ppm=200)
    assert np.array_equal(data.ion_images(mz, ppm=200, norm="none"), raw)
    normed = data.ion_images(mz, ppm=200, norm="tic")
    factor = norm_factor(data, "tic")
    assert np.isfinite(normed).all() and normed.dtype == np.float32
    r, c = data.coords[4]
    assert (normed[:, r, c] == 0).all() and (normed[:, ~data.mask] == 0).all()
    on = factor > 0
    np.testing.assert_allclose(normed[:, on], raw[:, on] / factor[on], rtol=1e-6)
    assert not np.allclose(normed[:, on], raw[:, on])             # the pixels' factors differ
    with pytest.raises(InputError, match="norm must be one of none, tic, rms"):
        data.ion_images(mz, norm="TIC")


def test_rms_of_processed_spectra_runs_over_their_own_points(tmp_path):
    coords = [(x, y) for y in range(1, 4) for x in range(1, 4)]
    _, spectra = random_spectra(len(coords), seed=11, n_peaks=10)
    data = open_msi(write_imzml(tmp_path / "p.imzML", spectra, coords))
    sq = np.array([np.mean(a.astype(np.float32).astype(np.float64) ** 2) for _, a in spectra])
    tic = np.array([a.astype(np.float32).astype(np.float64).sum() for _, a in spectra])
    np.testing.assert_allclose(norm_factor(data, "rms"), _expected(data, np.sqrt(sq)), rtol=1e-5)
    np.testing.assert_allclose(norm_factor(data, "tic"), _expected(data, tic), rtol=1e-5)


def test_a_stack_is_normalised_over_its_own_channels():
    rng = np.random.default_rng(0)
    stack = rng.gamma(2.0, 3.0, (6, 5, 4)).astype(np.float32)
    stack[:, 0, 0] = 0.0                                           # a pixel without signal
    measured = np.ones((5, 4), dtype=bool)
    measured[4, 3] = False
    stack[:, 4, 3] = 0.0
    tic = stack.sum(axis=0, dtype=np.float64)
    want = tic / np.median(tic[measured & (tic > 0)])
    np.testing.assert_allclose(norm_factor(stack, "tic", measured), want, rtol=1e-6)
    rms = np.sqrt((stack.astype(np.float64) ** 2).mean(axis=0))
    np.testing.assert_allclose(norm_factor(stack, "rms", measured), rms / np.median(rms[measured & (rms > 0)]),
                               rtol=1e-6)
    out = normalise(stack, norm_factor(stack, "tic", measured))
    assert np.isfinite(out).all() and (out[:, 0, 0] == 0).all()
    np.testing.assert_allclose(out.sum(axis=0)[1:, :3], np.median(tic[measured & (tic > 0)]), rtol=1e-5)
    assert normalise(stack, None) is stack
    assert np.array_equal(norm_factor(np.zeros((3, 2, 2)), "tic"), np.zeros((2, 2)))   # nothing measured: all 0
    with pytest.raises(InputError, match="raster"):
        normalise(stack, np.ones((3, 3), dtype=np.float32))


def test_norms_are_the_documented_three():
    assert NORMS == ("none", "tic", "rms")
    with pytest.raises(InputError, match="norm must be one of"):
        norm_factor(np.ones((2, 3, 3)), "median")


def test_reduced_imzml_records_the_normalisation(tmp_path):
    from ionmorph.io.export import write_reduced_imzml

    data, axis, _ = _continuous(tmp_path)
    peaks = np.array([axis[5], axis[20]])
    images = data.ion_images(peaks, ppm=100, norm="rms")
    out = write_reduced_imzml(tmp_path / "r.imzML", images, peaks, data.xy, data.coords, normalisation="rms")
    text = out.read_text()
    assert 'name="intensity normalization"' in text and '<userParam name="ionmorph normalisation" value="rms"' in text
    plain = write_reduced_imzml(tmp_path / "n.imzML", images, peaks, data.xy, data.coords, normalisation="none")
    assert "normalization" not in plain.read_text()
    oms = pytest.importorskip("pyopenms")
    ok, errors = oms.ImzMLFile().isValid(str(out))
    assert ok, errors
