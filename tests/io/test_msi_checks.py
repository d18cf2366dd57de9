"""ionmorph.io.msi on hostile input: numbers beyond 64 bits, wrapped extents, huge rasters, garbage bytes,
awkward paths, foreign .ibd files, DTDs and entities (issue 9 section 4, issue 10 section 2)."""
from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pytest

from ionmorph.errors import InputError, MSIFormatError
from ionmorph.io.msi import open_msi
from msi_testutil import patch_spectrum_param, write_imzml

SPECTRA = [(np.array([100.0, 200.0, 300.0]), np.array([1.0, 2.0, 3.0]))] * 4
XY = [(1, 1), (2, 1), (1, 2), (2, 2)]


def _good(tmp_path, name="s", spectra=SPECTRA, xy=XY, **kw):
    return write_imzml(tmp_path / f"{name}.imzML", spectra, xy, kw.pop("mode", "processed"), **kw)


def _raises(match: str, fn, *args, exc=MSIFormatError, **kw):
    with pytest.raises(exc, match=match) as info:
        fn(*args, **kw)
    assert "\n" not in str(info.value)
    return info.value


# ------------------------------------------------------------------ numbers and extents
@pytest.mark.parametrize("name,which,value,match", [
    ("external offset", 0, str(2**64), r"m/z array's external offset 18446744073709551616 is beyond the 64-bit"),
    ("external array length", 1, str(2**63), r"intensity array's external array length .* beyond the 64-bit"),
    ("external array length", 0, "1e30", r"external array length '1e30' is not an integer"),
    ("position x", 0, str(2**64), r"position x 18446744073709551616 is beyond the 64-bit"),
    ("position y", 0, "-inf", r"position y '-inf' is not an integer"),
])
def test_integers_beyond_int64_or_not_integers(tmp_path, name, which, value, match):
    path = _good(tmp_path)
    patch_spectrum_param(path, 2, name, value, which=which)
    err = _raises(match, open_msi, path)
    assert "spectrum 2" in str(err)


@pytest.mark.parametrize("length", [2**61, 2**61 + 1, 2**62, 2**63 - 1])
def test_extent_check_does_not_wrap(tmp_path, length):
    path = _good(tmp_path)
    for which in (0, 1):
        patch_spectrum_param(path, 1, "external array length", str(length), which=which)
    _raises(r"pixel x=2, y=1 .*m/z array \(bytes \d+-\d+\) lies outside s\.ibd", open_msi, path)


def test_huge_coordinate_is_a_raster_error_not_a_duplicate(tmp_path):
    path = _good(tmp_path)
    patch_spectrum_param(path, 3, "position x", str(2**62))
    _raises(r"span x 1\.\.4611686018427387904 .* raster for 4 spectra .*corrupt", open_msi, path)
    patch_spectrum_param(path, 3, "position x", str(-2**63))
    _raises(r"raster for 4 spectra", open_msi, path)


@pytest.mark.parametrize("x,y", [(10**6, 1), (10**9, 1), (10**5, 10**5)])
def test_raster_far_larger_than_pixel_count_is_refused(tmp_path, x, y):
    path = _good(tmp_path, xy=XY[:3] + [(x, y)])
    _raises(rf"x 1\.\.{x} and y 1\.\.{max(y, 2)}: a {max(y, 2)} x {x} raster for 4 spectra", open_msi, path)


def test_sparse_but_moderate_raster_is_fine(tmp_path):
    path = _good(tmp_path, xy=XY[:3] + [(200, 100)])
    assert open_msi(path).shape == (100, 200)


def test_array_inside_header_or_overlapping(tmp_path):
    path = _good(tmp_path)
    patch_spectrum_param(path, 0, "external offset", "4", which=0)
    _raises(r"pixel x=1, y=1 .*m/z array starts at byte 4, inside the 16-byte UUID header", open_msi, path)
    path = _good(tmp_path)
    mz_offset = path.read_text().split('name="external offset" value="')[1].split('"')[0]
    patch_spectrum_param(path, 0, "external offset", mz_offset, which=1)  # intensities on their own m/z bytes
    _raises(r"the (intensity|m/z) array of the spectrum at pixel x=1, y=1 \(spectrum 0\) overlaps the "
            r"(m/z|intensity) array of the spectrum at pixel x=1, y=1", open_msi, path)
    path = _good(tmp_path)
    patch_spectrum_param(path, 1, "external offset", str(int(mz_offset) + 8), which=0)
    _raises(r"overlaps .*offsets are corrupt", open_msi, path)


def test_shared_axis_is_not_an_overlap(tmp_path):
    axis = np.array([100.0, 200.0, 300.0])
    path = _good(tmp_path, spectra=[(axis, np.ones(3))] * 4, mode="continuous")
    assert open_msi(path).mode == "continuous"


# ------------------------------------------------------------------ silent garbage
def test_float_bytes_declared_as_int32(tmp_path):
    rng = np.random.default_rng(0)
    spectra = [(np.sort(rng.uniform(100, 900, 20)), rng.gamma(2, 50, 20)) for _ in XY]
    path = _good(tmp_path, spectra=spectra, intensity_dtype=np.float32)
    text = path.read_text()
    path.write_text(text.replace('accession="MS:1000521" name="32-bit float"',
                                 'accession="IMS:1000141" name="32-bit integer"'))
    _raises(r"intensity arrays are declared 32-bit integer, but their bytes look like 32-bit floats", open_msi, path)


def test_integer_bytes_declared_as_float(tmp_path):
    spectra = [(m, np.arange(1, 4)) for m, _ in SPECTRA]
    path = _good(tmp_path, spectra=spectra, intensity_dtype=np.int32)
    assert open_msi(path).intensity_dtype == np.int32
    path.write_text(path.read_text().replace('accession="MS:1000519" name="32-bit integer"',
                                             'accession="MS:1000521" name="32-bit float"'))
    _raises(r"declared 32-bit float, but their bytes look like 32-bit integers", open_msi, path)


@pytest.mark.parametrize("mode", ["processed", "continuous"])
def test_negative_intensities_follow_nan_policy(tmp_path, mode):
    neg = (np.array([100.0, 200.0, 300.0]), np.array([1.0, -2.0, 3.0]))
    path = _good(tmp_path, spectra=[SPECTRA[0], neg, SPECTRA[0], SPECTRA[0]], mode=mode)
    _raises(r"pixel x=2, y=1 .*holds negative intensities", open_msi(path).ion_images, [200.0])
    with pytest.warns(UserWarning, match="1 negative intensities treated as 0") as record:
        images = open_msi(path, nan_policy="zero").ion_images([100.0, 200.0, 300.0])
    np.testing.assert_array_equal(images[:, 0, 1], [1.0, 0.0, 3.0])
    with pytest.warns(UserWarning, match="negative") as again:
        _, mean = open_msi(path, nan_policy="zero").mean_spectrum()
    assert mean.min() >= 0
    assert record[0].filename == again[0].filename == __file__       # errors.warn_external: the caller's line


def test_float32_max_sums_are_an_error_not_inf(tmp_path):
    big = np.finfo(np.float32).max
    spectra = [(np.array([100.0, 100.0001]), np.array([big, big]))] + [(np.array([100.0]), np.array([1.0]))] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pyimzML's writer sums the TIC in float32
        path = _good(tmp_path, spectra=spectra)
    data = open_msi(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _raises(r"pixel x=1, y=1 .*sum to 6\.81e\+38, beyond the float32 range", data.ion_images, [100.0])
        _raises(r"beyond the float32 range", data.tic_image)


def test_extreme_mz_bounds_the_bin_count(tmp_path):
    spectra = [(np.array([100.0, 1e300]), np.array([1.0, 1.0]))] * 4
    data = open_msi(_good(tmp_path, spectra=spectra))
    _raises(r"s\.imzML: binning m/z 100-1e\+300 at 5 ppm needs 1\.37e\+08 bins .*corrupt", data.mean_spectrum,
            exc=InputError)


def test_compression_inside_a_binary_data_array(tmp_path):
    path = _good(tmp_path)
    text = path.read_text()
    block = '<referenceableParamGroupRef ref="intensityArray"/>'
    path.write_text(text.replace(block, block + '<cvParam cvRef="MS" accession="MS:1000574" name="zlib compression"/>', 1))
    _raises("compressed binary arrays are not supported", open_msi, path)


def test_inline_number_format_without_groups(tmp_path):
    path = _good(tmp_path)
    text = path.read_text()
    for ref, params in (("mzArray", ("MS:1000514", "m/z array", "MS:1000523", "64-bit float")),
                        ("intensityArray", ("MS:1000515", "intensity array", "MS:1000521", "32-bit float"))):
        inline = "".join(f'<cvParam cvRef="MS" accession="{a}" name="{n}"/>' for a, n in zip(params[::2], params[1::2]))
        text = text.replace(f'<referenceableParamGroupRef ref="{ref}"/>', inline)
        text = text.replace(f'<referenceableParamGroup id="{ref}">', '<referenceableParamGroup id="unused">')
    path.write_text(text)
    data = open_msi(path)
    assert (data.mz_dtype, data.intensity_dtype) == (np.float64, np.float32)
    np.testing.assert_array_equal(data.ion_images([200.0])[0], 2.0)


# ------------------------------------------------------------------ paths
def test_directory_txt_and_ibd_paths(tmp_path):
    path = _good(tmp_path)
    _raises(r"is a directory, not an \.imzML file; it holds s\.imzML", open_msi, tmp_path)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    _raises(r"notes\.txt: not an XML file, so not imzML .*expected an \.imzML file, got a \.txt file", open_msi, txt)
    _raises(r"s\.ibd: not an XML file.*binary half of a dataset; pass s\.imzML", open_msi, path.with_suffix(".ibd"))


def test_broken_links_and_directory_ibd(tmp_path):
    path = _good(tmp_path)
    ibd = path.with_suffix(".ibd")
    ibd.rename(tmp_path / "elsewhere.bin")
    ibd.symlink_to(tmp_path / "gone.bin")
    _raises(r"s\.ibd: the binary file is a broken symbolic link", open_msi, path)
    ibd.unlink()
    ibd.mkdir()
    _raises(r"s\.ibd: the binary file is a directory", open_msi, path)
    link = tmp_path / "link.imzML"
    link.symlink_to(tmp_path / "missing.imzML")
    _raises(r"link\.imzML: is a broken symbolic link", open_msi, link)


def test_glob_characters_in_the_name(tmp_path):
    path = _good(tmp_path, name="sample[1]")
    assert open_msi(path).n_pixels == 4
    path = _good(tmp_path, name="a*b?")
    assert open_msi(path).ibd_path.name == "a*b?.ibd"


def test_unknown_and_multibyte_encodings(tmp_path):
    path = _good(tmp_path)
    text = path.read_text()
    path.write_text(text.replace('encoding="ISO-8859-1"', 'encoding="klingon-8"'))
    _raises("text encoding Python does not know", open_msi, path)
    path.write_text(text.replace('encoding="ISO-8859-1"', 'encoding="shift_jis"'))
    _raises("text encoding cannot be read", open_msi, path)


def _uuid_of(path) -> str:
    return path.read_text().split('name="universally unique identifier" value="')[1].split('"')[0]


def test_uuid_mismatch_and_missing(tmp_path):
    a = _good(tmp_path, name="a")
    b = _good(tmp_path, name="b")
    a.with_suffix(".ibd").write_bytes(b.with_suffix(".ibd").read_bytes())
    _raises(r"a\.ibd belongs to another dataset: its header UUID is [0-9a-f]{32}, the XML declares [0-9a-f]{32}",
            open_msi, a)
    text = b.read_text()
    b.write_text(text.replace(f'value="{_uuid_of(b)}"', 'value=""'))
    with pytest.warns(UserWarning, match=r"declares '', which is not a UUID; cannot check that b\.ibd"):
        open_msi(b)
    b.write_text(text.replace('name="universally unique identifier"', 'name="something else"')
                 .replace('accession="IMS:1000080"', 'accession="IMS:9999999"'))
    with pytest.warns(UserWarning, match=r"declares no UUID"):
        open_msi(b)


@pytest.mark.skipif(sys.platform == "darwin", reason="case-insensitive file system")
def test_ibd_and_IBD_side_by_side(tmp_path):
    a = _good(tmp_path, name="x")
    other = _good(tmp_path, name="y")
    upper = tmp_path / "x.IBD"
    upper.write_bytes(other.with_suffix(".ibd").read_bytes())
    assert open_msi(a).ibd_path.name == "x.ibd"  # the UUID tells which
    a.with_suffix(".ibd").rename(tmp_path / "x.Ibd")
    (tmp_path / "x.Ibd").write_bytes(upper.read_bytes())
    _raises(r"none of x\.IBD, x\.Ibd carry the UUID", open_msi, a)
    a.write_text(a.read_text().replace(f'value="{_uuid_of(a)}"', 'value="none"'))
    _raises(r"both x\.IBD and x\.Ibd lie beside it .*no UUID", open_msi, a)


# ------------------------------------------------------------------ XML safety
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE mzML [
 <!ENTITY a "ha">
""" + "".join(f' <!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(9)) + """]>
<mzML xmlns="http://psi.hupo.org/ms/mzml"><run><spectrumList>&j;</spectrumList></run></mzML>
"""


def test_billion_laughs_is_refused_without_expansion(tmp_path):
    path = tmp_path / "laughs.imzML"
    path.write_text(BILLION_LAUGHS)
    path.with_suffix(".ibd").write_bytes(b"\0" * 16)
    t = time.perf_counter()
    _raises(r"laughs\.imzML: the XML declares a document type \(<!DOCTYPE>\)", open_msi, path)
    assert time.perf_counter() - t < 5  # 10**9 laughs would take minutes and gigabytes


def test_external_entity_is_refused_without_reading(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    path = tmp_path / "xxe.imzML"
    path.with_suffix(".ibd").write_bytes(b"\0" * 16)
    opened = []

    def hook(event, args):
        if event == "open" and args and str(args[0]) == str(secret):
            opened.append(args[0])

    sys.addaudithook(hook)
    for doc in (f'<?xml version="1.0"?><!DOCTYPE mzML [<!ENTITY x SYSTEM "file://{secret}">]>'
                '<mzML xmlns="http://psi.hupo.org/ms/mzml">&x;</mzML>',
                f'<?xml version="1.0"?><!DOCTYPE mzML SYSTEM "file://{secret}">'
                '<mzML xmlns="http://psi.hupo.org/ms/mzml"/>'):
        path.write_text(doc)
        _raises(r"xxe\.imzML: the XML declares a document type", open_msi, path)
    assert opened == []


def test_undeclared_entity_is_a_format_error(tmp_path):
    path = _good(tmp_path)
    path.write_text(path.read_text().replace('value="pyimzml exporter"', 'value="&unknown;"'))
    _raises(r"malformed XML: undefined entity", open_msi, path)


def test_large_attribute_is_linear(tmp_path, monkeypatch):
    import ionmorph.io.imzml_xml as imzml_xml

    monkeypatch.setattr(imzml_xml, "READ_BYTES", 4096)
    path = _good(tmp_path)
    big = "x" * (4 * 2**20)
    path.write_text(path.read_text().replace('value="pyimzml exporter"', f'value="{big}"'))
    reads = []
    real_open = open

    class Counting:
        def __init__(self, fh):
            self.fh = fh

        def read(self, n):
            reads.append(n)
            return self.fh.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(imzml_xml, "open", lambda p, mode: Counting(real_open(p, mode)), raising=False)
    assert len(imzml_xml.parse_imzml(path).xyz) == 4
    assert len(reads) < 40 and max(reads) >= 2**20  # grew geometrically, not 1024 feeds of 4 KiB


def test_arguments_are_checked_first(tmp_path):
    _raises("nan_policy", open_msi, tmp_path / "missing.imzML", nan_policy="drop", exc=InputError)
    _raises("z must be an integer", open_msi, tmp_path / "missing.imzML", z="1", exc=InputError)
    assert open_msi(_good(tmp_path, xy=[(1, 1, 3), (2, 1, 3), (1, 2, 3), (2, 2, 3)]), z=np.int64(3)).z == 3
