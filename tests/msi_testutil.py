"""Small imzML files for the msi tests, written with pyimzML's writer, and a plain reference."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np


def random_spectra(n_pixels: int, seed: int = 0, n_peaks: int = 40, mz_range=(100.0, 900.0)):
    """Random centroid spectra: sorted m/z (some shared across pixels) and positive intensities."""
    rng = np.random.default_rng(seed)
    common = np.sort(rng.uniform(*mz_range, n_peaks))
    out = []
    for _ in range(n_pixels):
        k = int(rng.integers(1, n_peaks))
        mz = np.sort(np.concatenate([rng.choice(common, k, replace=False),
                                     rng.uniform(*mz_range, int(rng.integers(0, 10)))]))
        out.append((mz, rng.gamma(2.0, 50.0, len(mz))))
    return common, out


def write_imzml(path: Path, spectra, coords, mode: str = "processed", mz_dtype=np.float64,
                intensity_dtype=np.float32, spec_type: str = "centroid") -> Path:
    """Write ``spectra`` [(mz, intensity), ...] at imzML ``coords`` [(x, y) or (x, y, z), ...]."""
    from pyimzml.ImzMLWriter import ImzMLWriter

    with ImzMLWriter(str(path), mode=mode, mz_dtype=mz_dtype, intensity_dtype=intensity_dtype,
                     spec_type=spec_type) as w:
        for (mz, a), xy in zip(spectra, coords):
            w.addSpectrum(mz, a, tuple(int(v) for v in xy))
    return Path(path).with_suffix(".imzML")


def continuous_cube(n_pixels: int, n_channels: int = 200, seed: int = 0):
    """One shared profile axis and (n_pixels, n_channels) non-negative intensities."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(300.0, 320.0, n_channels)
    return axis, rng.gamma(1.5, 10.0, (n_pixels, n_channels))


def reference_images(path: Path, lo: np.ndarray, hi: np.ndarray, coords: np.ndarray, shape) -> np.ndarray:
    """Plain per-spectrum reference: getspectrum, sum the intensities with lo <= m/z <= hi."""
    from pyimzml.ImzMLParser import ImzMLParser

    ref = np.zeros((len(lo), *shape))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"pyimzml\.ontology")
        p = ImzMLParser(str(path))
    with p:
        for i in range(len(p.coordinates)):
            mz, a = p.getspectrum(i)
            mz = mz.astype(np.float64)
            r, c = coords[i]
            for k in range(len(lo)):
                ref[k, r, c] = a[(mz >= lo[k]) & (mz <= hi[k])].sum(dtype=np.float64)
    return ref


def patch_spectrum_param(imzml: Path, spectrum: int, name: str, value: str, which: int = 0) -> None:
    """Set cvParam ``name`` of the ``spectrum``-th spectrum (0-based) to ``value``.

    ``which`` picks the occurrence inside that spectrum (0: m/z array, 1: intensity array).
    """
    text = imzml.read_text()
    blocks = re.split(r"(?=<spectrum )", text)
    block = blocks[spectrum + 1]
    hits = list(re.finditer(rf'name="{re.escape(name)}" value="[^"]*"', block))
    m = hits[which]
    blocks[spectrum + 1] = block[:m.start()] + f'name="{name}" value="{value}"' + block[m.end():]
    imzml.write_text("".join(blocks))


def parse_difference(path: Path) -> str | None:
    """None when the fast and the plain XML parse of ``path`` agree: the same header, or the same error."""
    from ionmorph.io.imzml_xml import parse_imzml

    outcomes = []
    for fast in (True, False):
        try:
            outcomes.append(parse_imzml(path, fast=fast))
        except Exception as exc:  # noqa: BLE001 - compared, not handled
            outcomes.append(f"{type(exc).__name__}: {exc}")
    got, want = outcomes
    if isinstance(got, str) or isinstance(want, str):
        return None if got == want else f"fast parse gave {str(got)[:200]}, plain parse {str(want)[:200]}"
    for field, a, b in zip(want._fields, got, want):
        same = (a.dtype == b.dtype and np.array_equal(a, b)) if isinstance(b, np.ndarray) else a == b
        if not same:
            return f"fast and plain parse differ in {field}"
    return None
