"""The fast path of the imzML reader: the same header or the same error as expat alone, on any bytes.

:mod:`ionmorph.io.imzml_xml` skips spectra that repeat a known layout (:mod:`ionmorph.io.imzml_scan`);
every case below is parsed with and without it (``parse_difference``), also with tiny read sizes so
that tags and spectra straddle chunk boundaries. Where the fast path must (or must not) be used,
the number of spectra it read alone (``_Parser.skipped``) is checked too.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ionmorph.io import imzml_xml as imzml_xml
from ionmorph.errors import MSIFormatError
from ionmorph.io.imzml_scan import read_element
from ionmorph.io.imzml_xml import _Parser
from msi_testutil import parse_difference, random_spectra, write_imzml

N = 16  # spectra in the base file, 4 x 4
K = 7  # the spectrum that edits change


@pytest.fixture(scope="module")
def base_xml(tmp_path_factory) -> tuple[str, bytes]:
    root = tmp_path_factory.mktemp("scan-base")
    _, spectra = random_spectra(N, seed=3, n_peaks=12)
    path = write_imzml(root / "b.imzML", spectra, [(x, y) for y in range(1, 5) for x in range(1, 5)])
    return path.read_text(encoding="latin-1"), path.with_suffix(".ibd").read_bytes()


def _write(tmp_path: Path, base: tuple[str, bytes], xml: str | bytes) -> Path:
    path = tmp_path / "f.imzML"
    path.write_bytes(xml.encode("latin-1") if isinstance(xml, str) else xml)
    path.with_suffix(".ibd").write_bytes(base[1])
    return path


def _skipped(path: Path) -> int:
    parser = _Parser(path, None)
    parser.run()
    return parser.skipped


def _in_spectrum(k: int, old: str, new: str, count: int = 1) -> callable:
    """An edit replacing ``old`` by ``new`` inside spectrum ``k`` only."""
    def edit(xml: str) -> str:
        blocks = re.split(r"(?=<spectrum )", xml)
        assert old in blocks[k + 1], old
        blocks[k + 1] = blocks[k + 1].replace(old, new, count)
        return "".join(blocks)
    return edit


def _after_spectrum(k: int, text: str) -> callable:
    def edit(xml: str) -> str:
        ends = [m.end() for m in re.finditer("</spectrum>", xml)]
        return xml[:ends[k]] + text + xml[ends[k]:]
    return edit


def _foreign_scan(xml: str) -> str:
    """Every <scan> declares the mzML namespace again, but spectrum K's declares another one."""
    ns = 'xmlns="http://psi.hupo.org/ms/mzml"'
    return _in_spectrum(K, ns, 'xmlns="urn:other"')(xml.replace("<scan ", f"<scan {ns} "))


_X = 'name="position x" value="'
_OFF = '<cvParam accession="IMS:1000102" cvRef="IMS" name="external offset" value="999"/>'

# (label, edit, whether the fast path still reads spectra alone after the edit)
EDITS = [
    ("unchanged", lambda x: x, True),
    ("comment in a spectrum", _in_spectrum(K, "<scanList", "<!-- note --><scanList"), False),
    ("entity reference in a value", _in_spectrum(K, 'name="total ion current" value="',
                                                 'name="total ion current" value="&amp;'), False),
    ("character reference in a position", _in_spectrum(K, _X + "4", _X + "&#52;"), False),
    ("single quotes", _in_spectrum(K, _X + '4"', _X[:-1] + "'4'"), False),
    ("spaces around =", _in_spectrum(K, 'value="4"', 'value = "4"'), False),
    ("attribute order", _in_spectrum(K, 'accession="IMS:1000050" cvRef="IMS"', 'cvRef="IMS" accession="IMS:1000050"'),
     True),
    ("plus sign", _in_spectrum(K, _X + "4", _X + "+4"), True),
    ("tab in a value", _in_spectrum(K, _X + "4", _X + "4\t"), False),
    ("19 digits", _in_spectrum(K, _X + "4", _X + "0000000000000000004"), True),
    ("beyond int64", _in_spectrum(K, _X + "4", _X + "99999999999999999999"), False),
    ("CDATA in binary", _in_spectrum(K, "<binary/>", "<binary><![CDATA[]]></binary>"), False),
    ("binary as start and end tag", _in_spectrum(K, "<binary/>", "<binary></binary>"), True),
    ("text between spectra", _after_spectrum(K, "junk"), False),
    ("offset between spectra", _after_spectrum(K, _OFF), False),
    ("offset after the list", lambda x: x.replace("</spectrumList>", "</spectrumList>" + _OFF), True),
    ("two offsets in one array", _in_spectrum(K, "<binary/>", _OFF + "<binary/>"), True),
    ("duplicate attribute", _in_spectrum(K, 'cvRef="IMS"', 'cvRef="IMS" cvRef="IMS"'), False),
    ("foreign default namespace", _in_spectrum(K, "<scan ", '<scan xmlns="urn:other" '), False),
    ("foreign namespace where the others declare mzML's", _foreign_scan, False),
    ("prefixed element", _in_spectrum(K, '<cvParam accession="IMS:1000050"',
                                      '<m:cvParam xmlns:m="http://psi.hupo.org/ms/mzml" accession="IMS:1000050"'),
     False),
    ("unknown element", _in_spectrum(K, "<cvParam accession=\"IMS:1000050\"", "<CvParam accession=\"IMS:1000050\""),
     False),
    ("undefined entity", _in_spectrum(K, _X + "4", _X + "&d;"), False),
    ("DOCTYPE in the list", _after_spectrum(K, '<!DOCTYPE mzML [<!ENTITY d "x">]>'), False),
    ("latin-1 letter", _in_spectrum(K, 'id="spectrum=', 'id="\xe9spectrum='), False),
    ("control character", _in_spectrum(K, 'id="spectrum=', 'id="\x01spectrum='), False),
    ("z in one spectrum", _in_spectrum(K, "</scan>", '<cvParam accession="IMS:1000052" cvRef="IMS" '
                                                     'name="position z" value="1"/></scan>'), True),
    ("nested spectrum", _in_spectrum(K, "<scanList", '<spectrum id="x"></spectrum><scanList'), False),
    ("truncated", lambda x: x[:x.index("<spectrum ", x.index("<spectrum ") + 3000) + 500], False),
    ("list ends early", _after_spectrum(K, "</spectrumList></run></mzML>"), False),
    ("chromatogram list", lambda x: x.replace("</spectrumList>", "</spectrumList><chromatogramList count=\"1\">"
                                                                 + _OFF + "</chromatogramList>"), True),
    ("a new layout per spectrum", lambda x: "".join(b + '<userParam name="u"/>' * i if i < N else b
                                                    for i, b in enumerate(re.split('(?<=<scanList count="1">)', x))),
     False),
    ("CR LF line ends", lambda x: x.replace("\n", "\r\n"), True),
    ("UTF-8 with a byte order mark", lambda x: "\ufeff".encode("utf-8").decode("latin-1")
     + x.replace('encoding="ISO-8859-1"', 'encoding="UTF-8"'), True),
]


@pytest.mark.parametrize("chunks", [None, (7, 4096), (64, 600)], ids=["default", "tiny reads", "spectrum > chunk"])
@pytest.mark.parametrize("label, edit, still_fast", EDITS, ids=[e[0] for e in EDITS])
def test_fast_parse_equals_plain_parse(base_xml, tmp_path, monkeypatch, label, edit, still_fast, chunks):
    if chunks:
        monkeypatch.setattr(imzml_xml, "READ_BYTES", chunks[0])
        monkeypatch.setattr(imzml_xml, "SCAN_BYTES", chunks[1])
    path = _write(tmp_path, base_xml, edit(base_xml[0]))
    assert parse_difference(path) is None
    if chunks != (64, 600):  # with chunks smaller than a spectrum the scan may stop early
        try:
            skipped = _skipped(path)
        except MSIFormatError:  # the error itself is compared above
            skipped = 0
        # the first spectrum of each layout and the last one are parsed by expat
        assert (skipped > K) == still_fast, skipped


def test_fast_path_reads_all_but_first_and_last(base_xml, tmp_path):
    assert _skipped(_write(tmp_path, base_xml, base_xml[0])) == N - 2


@pytest.mark.parametrize("edit", [
    lambda x: x.replace("<spectrumList", "<!-- <spectrumList> --><spectrumList", 1),
    lambda x: x.replace('encoding="ISO-8859-1"', 'encoding="UTF-16"').encode("utf-16"),
    lambda x: x.replace('encoding="ISO-8859-1"', 'encoding="cp500"').encode("cp500"),
    lambda x: x.replace('<spectrumList count="16"', "<spectrumList count='16'"),
], ids=["key in a comment", "utf-16", "ebcdic", "single-quoted list tag"])
def test_fast_path_off_where_the_header_is_in_doubt(base_xml, tmp_path, edit):
    path = _write(tmp_path, base_xml, edit(base_xml[0]))
    assert parse_difference(path) is None
    try:
        assert _skipped(path) == 0
    except MSIFormatError:
        pass


def test_fast_equals_plain_on_real_files(realdata):
    files = sorted(realdata.glob("*/*.imzML"))
    assert files
    for path in files:
        assert parse_difference(path) is None, path
        assert _skipped(path) > 0, path


@pytest.mark.parametrize("text, ok", [
    (b'  <a x="1"><b/><c y="2" ></c></a>', True),
    (b'<a><b /></a>', True),
    (b'<a><!-- c --></a>', False),
    (b'<a x="&amp;"/>', False),
    (b"<a x='1'/>", False),
    (b'<a x="1" x="2"/>', False),
    (b'<a xmlns="u"/>', False),
    (b'<m:a/>', False),
    (b'<a>text</a>', False),
    (b'<a><b></a>', False),
    (b'<a x="\xe9"/>', False),
    (b'<a x="1>"/>', False),
    (b'<a></a x="1">', False),
    (b'<a><b>', False),
])
def test_read_element_keeps_to_the_strict_subset(text, ok):
    element = read_element(text, 0)
    assert (element is not None) == ok
    if ok:
        assert element.end == len(text)
