"""ionmorph.io.msi: every kind of bad input raises MSIFormatError/InputError naming the file and problem."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from ionmorph.errors import InputError, MSIFormatError
from ionmorph.io.msi import open_msi
from msi_testutil import patch_spectrum_param, write_imzml

SPECTRA = [(np.array([100.0, 200.0, 300.0]), np.array([1.0, 2.0, 3.0]))] * 4
XY = [(1, 1), (2, 1), (1, 2), (2, 2)]


def _good(tmp_path, mode="processed", spectra=SPECTRA, xy=XY, **kw):
    return write_imzml(tmp_path / "s.imzML", spectra, xy, mode, **kw)


def _raises(match: str, fn, *args, **kw) -> MSIFormatError:
    with pytest.raises(MSIFormatError, match=match) as info:
        fn(*args, **kw)
    return info.value


def test_missing_file(tmp_path):
    err = _raises("file not found", open_msi, tmp_path / "nothing.imzML")
    assert err.path.endswith("nothing.imzML")


def test_missing_ibd(tmp_path):
    path = _good(tmp_path)
    path.with_suffix(".ibd").unlink()
    _raises(r"s\.ibd not found", open_msi, path)


def test_truncated_ibd(tmp_path):
    path = _good(tmp_path)
    ibd = path.with_suffix(".ibd")
    ibd.write_bytes(ibd.read_bytes()[:-5])
    err = _raises(r"pixel x=2, y=2 .*outside s\.ibd.*truncated", open_msi, path)
    assert str(path) in str(err)


def test_offset_past_end(tmp_path):
    path = _good(tmp_path)
    patch_spectrum_param(path, 1, "external offset", "999999", which=1)
    _raises(r"pixel x=2, y=1 .*intensity array .*outside", open_msi, path)


def test_negative_length(tmp_path):
    path = _good(tmp_path)
    patch_spectrum_param(path, 0, "external array length", "-3", which=0)
    _raises("m/z values but", open_msi, path)


def test_mismatched_lengths(tmp_path):
    path = _good(tmp_path)
    patch_spectrum_param(path, 2, "external array length", "2", which=1)
    _raises(r"pixel x=1, y=2 .*has 3 m/z values but 2 intensities", open_msi, path)


def test_non_monotonic_mz_names_pixel(tmp_path):
    bad = (np.array([100.0, 300.0, 200.0]), np.array([1.0, 2.0, 3.0]))
    path = _good(tmp_path, spectra=[SPECTRA[0], SPECTRA[0], bad, SPECTRA[0]])
    data = open_msi(path)  # per-spectrum checks happen while streaming
    _raises(r"pixel x=1, y=2 .*not finite and non-decreasing", data.ion_images, [150.0])
    _raises(r"pixel x=1, y=2", data.tic_image)


def test_non_monotonic_shared_axis(tmp_path):
    axis = np.array([100.0, 300.0, 200.0])
    path = _good(tmp_path, mode="continuous", spectra=[(axis, np.ones(3))] * 4)
    _raises("shared m/z axis", open_msi, path)


def test_nan_intensities_raise_or_zero(tmp_path):
    nan = (np.array([100.0, 200.0, 300.0]), np.array([1.0, np.nan, np.inf]))
    for mode in ("processed", "continuous"):
        path = write_imzml(tmp_path / f"{mode}.imzML", [SPECTRA[0], nan, SPECTRA[0], SPECTRA[0]], XY, mode)
        _raises(r"pixel x=2, y=1 .*NaN", open_msi(path).ion_images, [200.0])
        data = open_msi(path, nan_policy="zero")
        with pytest.warns(UserWarning, match="2 NaN/infinite intensities treated as 0"):
            images = data.ion_images([100.0, 200.0, 300.0])
        np.testing.assert_array_equal(images[:, 0, 1], [1.0, 0.0, 0.0])
        np.testing.assert_array_equal(images[:, 1, 1], [1.0, 2.0, 3.0])


def test_empty_spectrum_is_measured_with_zero_signal(tmp_path):
    path = _good(tmp_path)
    patch_spectrum_param(path, 3, "external array length", "0", which=0)
    patch_spectrum_param(path, 3, "external array length", "0", which=1)
    data = open_msi(path)
    assert data.mask.all() and data.spectrum_lengths.tolist() == [3, 3, 3, 0]
    images = data.ion_images([100.0, 300.0])
    np.testing.assert_array_equal(images[:, 1, 1], [0.0, 0.0])
    np.testing.assert_array_equal(images[:, 0, 0], [1.0, 3.0])
    assert data.tic_image()[1, 1] == 0.0


def test_duplicate_coordinates(tmp_path):
    path = _good(tmp_path, xy=[(1, 1), (2, 1), (1, 2), (2, 1)])
    _raises(r"duplicate coordinates: spectra 1 and 3 are both at x=2, y=1", open_msi, path)


def test_3d_needs_z(tmp_path):
    xyz = [(1, 1, 1), (2, 1, 1), (1, 1, 2), (2, 1, 2)]
    spectra = [(np.array([100.0]), np.array([float(i + 1)])) for i in range(4)]
    path = _good(tmp_path, spectra=spectra, xy=xyz)
    _raises(r"3D data with z values \[1, 2\]; choose a slice with z=", open_msi, path)
    data = open_msi(path, z=2)
    assert data.n_pixels == 2 and data.z == 2
    np.testing.assert_array_equal(data.ion_images([100.0])[0], [[3.0, 4.0]])
    _raises(r"no spectra at z=5", open_msi, path, z=5)


def test_xml_that_is_not_imzml(tmp_path):
    path = tmp_path / "other.imzML"
    path.with_suffix(".ibd").write_bytes(b"\0" * 16)
    path.write_text("<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>")
    _raises(r"not imzML: the root element is <\{http://www.w3.org/2000/svg\}svg>", open_msi, path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n binary")
    _raises("not an XML file", open_msi, path)
    path.write_text("<mzML xmlns='http://psi.hupo.org/ms/mzml'><run/></mzML>")
    _raises("not a readable imzML file", open_msi, path)
    path.write_text("<mzML xmlns='http://psi.hupo.org/ms/mzml'><run><spectrumList>")
    _raises("malformed XML|not a readable imzML", open_msi, path)


def test_declared_continuous_without_shared_axis(tmp_path):
    path = _good(tmp_path)
    path.write_text(path.read_text().replace('accession="IMS:1000031" name="processed"',
                                             'accession="IMS:1000030" name="continuous"'))
    _raises(r"declared continuous, but the spectrum at pixel x=2, y=1", open_msi, path)


def test_compressed_arrays_rejected(tmp_path):
    from pyimzml.compression import ZlibCompression
    from pyimzml.ImzMLWriter import ImzMLWriter

    path = tmp_path / "z.imzML"
    with ImzMLWriter(str(path), mode="processed", intensity_compression=ZlibCompression()) as w:
        w.addSpectrum(np.array([100.0]), np.array([1.0]), (1, 1))
    _raises("compressed binary arrays are not supported", open_msi, path)


def test_bad_arguments(tmp_path):
    path = _good(tmp_path)
    with pytest.raises(InputError, match="nan_policy"):
        open_msi(path, nan_policy="drop-everything")
    data = open_msi(path)
    for kw in ({"ppm": 0}, {"ppm": -3}, {"tol_da": 0.0}, {"tol_da": float("nan")}):
        with pytest.raises(InputError):
            data.ion_images([100.0], **kw)
    with pytest.raises(InputError, match="positive finite"):
        data.ion_images([100.0, np.nan])
    with pytest.raises(InputError, match="continuous"):
        data.channel_images([0])
    with pytest.raises(InputError, match="chunk"):
        next(data.spectra(chunk=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data.ion_images([]).shape == (0, 2, 2)
