"""What fuzzing still found (issue 22, section 5): tiny files with floats declared as integers, a
spectrum outside <spectrumList>, and a mean-spectrum error that named no file."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import MSIFormatError
from ionmorph.io.msi import open_msi
from ionmorph.picking.candidates import find_candidates
from msi_testutil import write_imzml

XY3 = [(x, y) for y in range(1, 4) for x in range(1, 4)]


@pytest.mark.parametrize("mode", ["continuous", "processed"])
@pytest.mark.parametrize("n_values", [1, 2, 3])
def test_tiny_file_floats_declared_int32_refused(tmp_path, mode, n_values):
    rng = np.random.default_rng(n_values)
    mz = np.linspace(100.0, 300.0, n_values)
    spectra = [(mz, rng.uniform(0.1, 1.0, n_values)) for _ in XY3]
    path = write_imzml(tmp_path / "s.imzML", spectra, XY3, mode, intensity_dtype=np.float32)
    path.write_text(path.read_text().replace('accession="MS:1000521" name="32-bit float"',
                                             'accession="IMS:1000141" name="32-bit integer"'))
    with pytest.raises(MSIFormatError, match="declared 32-bit integer, but their bytes look like 32-bit floats"):
        open_msi(path)


def test_tiny_file_of_true_integers_still_opens(tmp_path):
    spectra = [(np.array([100.0, 200.0]), np.array([3, 17], dtype=np.int32)) for _ in XY3]
    path = write_imzml(tmp_path / "s.imzML", spectra, XY3, "processed", intensity_dtype=np.int32)
    data = open_msi(path)
    assert data.intensity_dtype == np.int32 and data.ion_images([200.0]).max() == 17


def test_spectrum_before_spectrum_list_refused(tmp_path):
    spectra = [(np.array([100.0, 200.0, 300.0]), np.array([1.0, 2.0, 3.0]))] * len(XY3)
    path = write_imzml(tmp_path / "s.imzML", spectra, XY3)
    text = path.read_text()
    start = text.index("<spectrum ", text.index("<spectrumList"))
    end = text.index("</spectrum>", start) + len("</spectrum>")
    moved = text[start:end]
    text = text[:start] + text[end:]
    at = text.index("<spectrumList")
    path.write_text(text[:at] + moved + "\n" + text[at:])
    with pytest.raises(MSIFormatError, match=r"s\.imzML: a <spectrum id='.*'> stands outside <spectrumList>"):
        open_msi(path)


def test_all_equal_mz_axis_error_names_the_file(tmp_path):
    mz = np.full(20, 150.0)
    spectra = [(mz, np.random.default_rng(i).uniform(0, 1, 20)) for i in range(len(XY3))]
    path = write_imzml(tmp_path / "flat.imzML", spectra, XY3, "continuous", spec_type="profile")
    with pytest.raises(MSIFormatError, match=r"flat\.imzML: mean spectrum m/z axis must be finite and strictly"):
        find_candidates(open_msi(path))


@pytest.mark.parametrize("name", ["Example_Continuous", "Example_Processed"])
def test_example_file_floats_declared_int32_refused(realdata, tmp_path, name):
    """The official 3 x 3 example files, their float32 intensities declared 32-bit integer: two thirds of
    the non-zero intensities are near-zero floats (1e-38), which the check used to take for integers."""
    import shutil

    src = realdata / "imzml-example" / f"{name}.imzML"
    text = src.read_text(encoding="latin-1")
    group = text.index('<referenceableParamGroup id="intensityArray">')
    at = text.index('accession="MS:1000521" name="32-bit float"', group)
    text = text[:at] + 'accession="IMS:1000141" name="32-bit integer"' + text[at + 42:]
    (tmp_path / f"{name}.imzML").write_text(text, encoding="latin-1")
    shutil.copy(src.with_suffix(".ibd"), tmp_path / f"{name}.ibd")
    with pytest.raises(MSIFormatError, match="intensity arrays are declared 32-bit integer, but their bytes look "
                                             "like 32-bit floats"):
        open_msi(tmp_path / f"{name}.imzML")


def test_m2aia_centroid_named_profile_warns_once(realdata):
    import warnings

    from ionmorph.io import msi_layout as msi

    path = realdata / "m2aia-test" / "test.imzML"
    msi._CONFLICTS_TOLD.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = open_msi(path)
        open_msi(path)
    told = [str(w.message) for w in caught if "accession is trusted" in str(w.message)]
    assert first.spectrum_type == "centroid"
    assert told == [f'{path}: the XML gives MS:1000127 ("centroid") named "profile spectrum"; the accession is '
                    "trusted (the name is ignored)"]
    assert caught[0].filename == __file__                 # at the user's line, not inside ionmorph
