"""MSIData's jobs apart: msi_layout opens and checks, msi_extract streams images and spectra, nothing plots."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

from ionmorph.io.msi import MSIData, open_msi
from ionmorph.io.msi_extract import MSIReader
from ionmorph.io.msi_layout import MSILayout
from msi_testutil import random_spectra, write_imzml

IO = Path(__file__).resolve().parents[2] / "ionmorph" / "io"


def _section(tmp_path):
    xy = [(x, y) for y in range(1, 5) for x in range(1, 6)]
    common, spectra = random_spectra(len(xy), seed=3)
    return write_imzml(tmp_path / "s.imzML", spectra, xy), common


def test_a_layout_alone_is_checked_geometry_without_extraction(tmp_path):
    path, _ = _section(tmp_path)
    layout = MSILayout.open(path)
    data = open_msi(path)
    assert type(layout) is MSILayout and type(data) is MSIData and isinstance(data, (MSIReader, MSILayout))
    assert layout.shape == data.shape == (4, 5) and layout.n_pixels == data.n_pixels == 20
    np.testing.assert_array_equal(layout.mask, data.mask)
    assert layout.mz_range == data.mz_range
    assert not hasattr(layout, "ion_images") and not hasattr(layout, "spectra")


def test_extraction_builds_on_the_layout_alone(tmp_path):
    path, common = _section(tmp_path)
    reader = MSIReader.open(path)
    np.testing.assert_array_equal(reader.ion_images(common[:3]), open_msi(path).ion_images(common[:3]))
    assert reader.tic_image().shape == (4, 5)


def test_the_layout_module_does_not_reach_into_extraction_and_no_reader_module_plots():
    imports = {}
    for name in ("msi.py", "msi_layout.py", "msi_extract.py"):
        tree = ast.parse((IO / name).read_text())
        imports[name] = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "msi_extract" not in imports["msi_layout.py"] and "msi" not in imports["msi_layout.py"]
    assert not any("plotting" in m or "matplotlib" in m for ms in imports.values() for m in ms)
    code = "import sys, ionmorph.io.msi; assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
