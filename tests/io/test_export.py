"""ionmorph.io.export: ion-image stacks (.npy, TIFF) and a reduced imzML that pyimzML and ionmorph read back."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError, OutputError
from ionmorph.io.export import save_ion_images, write_reduced_imzml
from ionmorph.io.msi import open_msi
from msi_testutil import random_spectra, write_imzml


@pytest.fixture()
def section(tmp_path):
    coords = [(x, y) for y in range(3, 15) for x in range(5, 17) if (x, y) != (5, 3)]
    common, spectra = random_spectra(len(coords), seed=7, n_peaks=12)
    return open_msi(write_imzml(tmp_path / "sec.imzML", spectra, coords)), common


def test_reduced_imzml_reads_back_with_the_original_coordinates(section, tmp_path):
    data, common = section
    peaks = common[[5, 1, 9]]
    images = data.ion_images(peaks, ppm=10)
    out = write_reduced_imzml(tmp_path / "out" / "picked.imzML", images, peaks, data.xy, data.coords,
                              polarity="positive", inputs=[data.path])
    back = open_msi(out)
    np.testing.assert_array_equal(back.mz_axis, np.sort(peaks))
    np.testing.assert_array_equal(back.xy, data.xy)
    np.testing.assert_array_equal(back.mask, data.mask)
    np.testing.assert_allclose(back.channel_images(), images[np.argsort(peaks)], rtol=1e-6)
    from pyimzml.ImzMLParser import ImzMLParser

    parser = ImzMLParser(str(out))
    assert parser.polarity == "positive" and len(parser.coordinates) == data.n_pixels
    assert not list((tmp_path / "out").glob(".*"))                      # no temporary files left
    with pytest.raises(OutputError):
        write_reduced_imzml(out, images, peaks, data.xy, data.coords)   # not over an existing file
    with pytest.raises(OutputError, match="input file"):
        write_reduced_imzml(data.path, images, peaks, data.xy, data.coords, inputs=[data.path], overwrite=True)
    with pytest.raises(InputError, match="distinct"):
        write_reduced_imzml(tmp_path / "d.imzML", images, [1.0, 1.0, 2.0], data.xy, data.coords)


def test_ion_image_stacks_as_npy_and_tiff(tmp_path):
    stack = np.random.default_rng(0).random((3, 5, 7)).astype(np.float32)
    np.testing.assert_array_equal(np.load(save_ion_images(stack, tmp_path / "a.npy")), stack)
    tif = save_ion_images(stack, tmp_path / "a.tif")
    from PIL import Image, ImageSequence

    pages = [np.asarray(p, dtype=np.float32) for p in ImageSequence.Iterator(Image.open(tif))]
    np.testing.assert_array_equal(np.stack(pages), stack)
    with pytest.raises(InputError, match=r"\.npy"):
        save_ion_images(stack, tmp_path / "a.png")
    with pytest.raises(OutputError):
        save_ion_images(stack, tmp_path / "a.npy")


def test_reduced_imzml_is_valid_and_carries_the_metadata(section, tmp_path):
    """OpenMS's schema check accepts the file; the run id is the file stem, never a local path; pixel
    size, polarity and instrument of the source come through; pyimzML and ionmorph read it back."""
    from pyimzml.ImzMLParser import ImzMLParser

    from ionmorph.io.metadata import read_acquisition_info

    data, common = section
    peaks = common[[2, 7]]
    images = data.ion_images(peaks, ppm=10)
    out = write_reduced_imzml(tmp_path / "2 top peaks.imzML", images, peaks, data.xy, data.coords,
                              polarity="negative", pixel_size_um=(20.0, 25.0), instrument="timsTOF fleX",
                              inputs=[data.path])
    text = out.read_text()
    assert '<run defaultInstrumentConfigurationRef="IC1" id="run_2_top_peaks">' in text
    assert str(tmp_path) not in text and ' uri=' not in text and 'index="0"' in text
    info = read_acquisition_info(out)
    assert info.pixel_size_um == (20.0, 25.0) and info.polarity == "negative" and info.instrument == "timsTOF fleX"
    parser = ImzMLParser(str(out))
    assert parser.polarity == "negative" and len(parser.coordinates) == data.n_pixels
    mz, intensity = parser.getspectrum(3)
    np.testing.assert_array_equal(mz, np.sort(peaks))
    r, c = data.coords[3]
    np.testing.assert_allclose(intensity, images[np.argsort(peaks)][:, r, c], rtol=1e-6)
    oms = pytest.importorskip("pyopenms")
    ok, errors = oms.ImzMLFile().isValid(str(out))
    assert ok, errors


def test_xml_id():
    from ionmorph.io.export import xml_id

    assert xml_id("barley_top10") == "barley_top10"
    assert xml_id("/tmp/x y") == "_tmp_x_y"
    assert xml_id("9lives") == "run_9lives"
