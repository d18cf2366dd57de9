"""ionmorph info / ionmorph images through the ionmorph CLI runner (only this module's commands)."""
from __future__ import annotations

import json

import pytest

from ionmorph.cli import run
from msi_testutil import random_spectra, write_imzml


def main(argv: list[str]) -> int:
    """``ionmorph.cli.main`` restricted to ionmorph.cli.msi, so these tests do not need other modules."""
    return run(argv, ("ionmorph.cli.msi",), "ionmorph")


@pytest.fixture()
def small(tmp_path):
    _, spectra = random_spectra(6, seed=3)
    return write_imzml(tmp_path / "small.imzML", spectra, [(x, y) for y in (4, 5) for x in (7, 8, 9)])


def test_info_json_and_tic(small, tmp_path, capsys):
    tic = tmp_path / "out" / "tic.png"
    assert main(["info", str(small), "--json", "--tic", str(tic)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["shape"] == [2, 3] and summary["n_pixels"] == 6 and summary["mode"] == "processed"
    assert summary["mz_dtype"] == "float64" and summary["intensity_dtype"] == "float32"
    assert 100 <= summary["mz_range"][0] < summary["mz_range"][1] <= 900
    assert tic.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_info_text_on_real_file(realdata, capsys):
    assert main(["info", str(realdata / "barley/barley101_peaks.imzML")]) == 0
    out = capsys.readouterr().out
    assert "49 x 106" in out and "3422 measured" in out and "continuous" in out and "101-101 points" in out


def test_info_shows_pixel_size_polarity_and_instrument(realdata, capsys):
    assert main(["info", str(realdata / "imzml-example/Example_Continuous.imzML")]) == 0
    out = capsys.readouterr().out
    assert "100 x 100 um" in out and "negative" in out and "LTQ FT Ultra" in out
    assert main(["info", "--json", str(realdata / "m2aia-test/test.imzML")]) == 0
    import json

    summary = json.loads(capsys.readouterr().out)
    assert summary["pixel_size_um"] == [20.0, 20.0] and summary["polarity"] is None


_HEADER = """<?xml version="1.0" encoding="UTF-8"?>{doctype}
<mzML xmlns="http://psi.hupo.org/ms/mzml" version="1.1">
  <referenceableParamGroupList count="1"><referenceableParamGroup id="scan1">
    <cvParam cvRef="MS" accession="MS:1000130" name="positive scan"/>
  </referenceableParamGroup></referenceableParamGroupList>
  <scanSettingsList count="1"><scanSettings id="s1">
    <cvParam cvRef="IMS" accession="IMS:1000046" name="pixel size (x)" value="{size}"/>
  </scanSettings></scanSettingsList>
  <instrumentConfigurationList count="1"><instrumentConfiguration id="ic">
    <cvParam cvRef="MS" accession="MS:1000529" name="instrument serial number" value="42"/>
    <cvParam cvRef="MS" accession="MS:1002416" name="Orbitrap Fusion"/>
  </instrumentConfiguration></instrumentConfigurationList>
  <run id="r"><spectrumList count="2"><spectrum id="1" index="0"><cvParam accession="MS:1000129"/></spectrum>
"""


def test_acquisition_info_reads_only_the_header_with_the_safe_parser(tmp_path):
    from ionmorph.errors import MSIFormatError
    from ionmorph.io.metadata import read_acquisition_info

    path = tmp_path / "head.imzML"
    path.write_text(_HEADER.format(doctype="", size="25") + "<spectrum <<< the rest is never parsed")
    info = read_acquisition_info(path)                   # y defaults to x; the group's polarity comes first
    assert info.to_dict() == {"pixel_size_um": [25.0, 25.0], "polarity": "positive", "instrument": "Orbitrap Fusion"}
    path.write_text(_HEADER.format(doctype='<!DOCTYPE mzML [<!ENTITY s "30">]>', size="&s;"))
    with pytest.raises(MSIFormatError, match="head.imzML: the XML declares a document type"):
        read_acquisition_info(path)


def test_images_grid(small, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["images", str(small), "--mz", "300", "500.5", "--ppm", "20", "-o", str(out), "--shared-scale",
                 "--cmap", "magma"]) == 0
    assert out.stat().st_size > 1000 and str(out) in capsys.readouterr().out
    assert not list(tmp_path.glob(".grid.png.*"))  # atomic write leaves no temporary file


def test_images_norm(small, tmp_path, capsys, monkeypatch):
    from ionmorph.io.msi import MSIData

    seen = []
    real = MSIData.ion_images

    def spy(self, *a, **kw):
        seen.append(kw.get("norm"))
        return real(self, *a, **kw)

    monkeypatch.setattr(MSIData, "ion_images", spy)
    out = tmp_path / "grid.png"
    assert main(["images", str(small), "--mz", "300", "500.5", "--norm", "tic", "-o", str(out)]) == 0
    assert main(["images", str(small), "--mz", "300", "-o", str(out)]) == 0
    assert seen == ["tic", "none"] and out.stat().st_size > 1000
    with pytest.raises(SystemExit):
        main(["images", str(small), "--mz", "300", "--norm", "l1", "-o", str(out)])
    assert "invalid choice: 'l1'" in capsys.readouterr().err


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.imzML")]) == 2
    err = capsys.readouterr().err
    assert "missing.imzML: file not found" in err and err.count("\n") == 1


def test_version_flags_and_python_m_tumor3d(capsys):
    import subprocess
    import sys

    from ionmorph import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out
    out = subprocess.run([sys.executable, "-m", "tumor3d", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("tumor3d") and __version__ in out.stdout
