"""ionmorph.io.binning: working rasters (cell means over measured pixels), in memory and inside the streaming pass."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.io.binning import bin_factor, bin_images, binned_shape, measured_counts
from ionmorph.io.msi import open_msi
from ionmorph.io.normalisation import norm_factor, normalise
from msi_testutil import continuous_cube, random_spectra, write_imzml


@pytest.mark.parametrize("shape, side, factor", [((1000, 1000), 300, 4), ((300, 300), 300, 1), ((301, 10), 300, 2),
                                                 ((106, 49), 300, 1), ((314, 534), 300, 2), ((5, 5), None, 1)])
def test_bin_factor_is_the_smallest_that_fits(shape, side, factor):
    assert bin_factor(shape, side) == factor
    assert max(binned_shape(shape, factor)) <= (side or max(shape))


def test_bin_factor_refuses_a_side_below_one():
    with pytest.raises(InputError, match="working raster side"):
        bin_factor((10, 10), 0)


def test_cells_are_means_over_measured_pixels_only():
    images = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5)
    mask = np.ones((5, 5), bool)
    mask[0, 0] = False              # cell (0, 0) keeps 3 of its 4 pixels
    mask[4, 4] = False              # cell (2, 2) holds only this pixel: unmeasured
    out = bin_images(images, 2, mask)
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    assert out[1, 0, 0] == pytest.approx(np.mean([images[1, 0, 1], images[1, 1, 0], images[1, 1, 1]]))
    assert out[0, 1, 2] == pytest.approx(np.mean(images[0, 2:4, 4]))       # a partial cell on the border
    assert out[0, 2, 2] == 0.0
    np.testing.assert_array_equal(measured_counts(mask, 2), [[3, 4, 2], [4, 4, 2], [2, 2, 0]])
    assert bin_images(images, 1, mask) is images


def test_binned_extraction_of_a_processed_file_equals_binning_its_images(tmp_path):
    xy = [(x, y) for y in range(1, 8) for x in range(1, 10) if (x, y) not in {(1, 1), (9, 7), (8, 7)}]
    common, spectra = random_spectra(len(xy), seed=4)
    data = open_msi(write_imzml(tmp_path / "p.imzML", spectra, xy))
    mz = common[:12]
    full = data.ion_images(mz, ppm=20)
    for b in (2, 3):
        binned = data.ion_images(mz, ppm=20, binning=b, chunk=7)
        np.testing.assert_allclose(binned, bin_images(full, b, data.mask), rtol=1e-5)
        assert binned.shape == (len(mz), *binned_shape(data.shape, b))


def test_binned_extraction_normalises_each_pixel_before_the_mean(tmp_path):
    xy = [(x, y) for y in range(1, 5) for x in range(1, 6) if (x, y) != (1, 1)]
    axis, cube = continuous_cube(len(xy), n_channels=50, seed=3)
    data = open_msi(write_imzml(tmp_path / "c.imzML", [(axis, row) for row in cube], xy, "continuous",
                                np.float64, np.float32, spec_type="profile"))
    mz = axis[[5, 20, 33]]
    for norm in ("tic", "rms"):
        expected = bin_images(normalise(data.ion_images(mz, ppm=5), norm_factor(data, norm)), 2, data.mask)
        np.testing.assert_allclose(data.ion_images(mz, ppm=5, norm=norm, binning=2), expected, rtol=1e-5)
    with pytest.raises(InputError, match="binning"):
        data.ion_images(mz, binning=0)
