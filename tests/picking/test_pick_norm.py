"""pick_peaks(norm=...): the model sees normalised ion images, and every output records the normalisation."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.io.msi import open_msi
from ionmorph.io.normalisation import norm_factor, normalise
from ionmorph.picking.pick import pick_peaks
from tiny_testutil import isolated_cache, tiny_model  # noqa: F401  (autouse fixture)
from msi_testutil import random_spectra, write_imzml


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("w"), seed=1)


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    """A 12 x 10 processed file with a hole; a pixel gradient in signal, so TIC normalisation changes images."""
    coords = [(x, y) for y in range(1, 11) for x in range(1, 13) if (x, y) != (1, 1)]
    common, spectra = random_spectra(len(coords), seed=4, n_peaks=12)
    spectra = [(mz, a * (1.0 + 3.0 * x / 12)) for (mz, a), (x, _) in zip(spectra, coords)]
    path = write_imzml(tmp_path_factory.mktemp("s") / "sec.imzML", spectra, coords)
    return path, common


def _pick(source, weights, **kw):
    return pick_peaks(source, model=weights, backend="eager", progress=False, score="classes", **kw)


def test_the_model_sees_the_normalised_images(weights, section):
    path, common = section
    data = open_msi(path)
    tic = _pick(path, weights, k=4, candidates=common, norm="tic")
    assert tic.norm == "tic" and "norm='tic'" in repr(tic)
    images = normalise(data.ion_images(tic.mz, ppm=tic.ppm), norm_factor(data, "tic"))
    np.testing.assert_allclose(tic.images(np.arange(len(tic))), images, rtol=1e-6)
    same = _pick(images, weights, k=4, mz=tic.mz, mask=data.mask)      # the normalised stack, as an array
    np.testing.assert_allclose(same.proba, tic.proba, atol=1e-5)
    raw = _pick(path, weights, k=4, candidates=common)
    assert raw.norm == "none" and "norm=" not in repr(raw)
    np.testing.assert_array_equal(raw.images([0, 3]), data.ion_images(raw.mz[[0, 3]], ppm=raw.ppm))
    assert not np.allclose(raw.proba, tic.proba, atol=1e-4)


def test_an_array_source_is_normalised_over_its_channels(weights, section):
    path, common = section
    data = open_msi(path)
    stack = data.ion_images(np.sort(common), ppm=10)
    res = _pick(stack, weights, k=3, mz=np.sort(common), mask=data.mask, norm="rms")
    want = normalise(stack, norm_factor(stack, "rms", data.mask))
    np.testing.assert_allclose(res.images(np.arange(len(res))), want, rtol=1e-6)
    assert np.isfinite(res.images([0])).all()


def test_outputs_record_the_normalisation(weights, section, tmp_path):
    path, common = section
    res = _pick(path, weights, k=3, candidates=common, norm="tic")
    rows = list(csv.DictReader(res.to_csv(tmp_path / "t.csv").open()))
    assert {r["norm"] for r in rows} == {"tic"}
    html = res.to_html(tmp_path / "r.html").read_text()
    assert "TIC (each pixel divided by its total ion current, median 1)" in html
    text = res.to_imzml(tmp_path / "r.imzML").read_text()
    assert '<userParam name="ionmorph normalisation" value="tic"' in text
    back = open_msi(tmp_path / "r.imzML")
    order = res._ranked(True)
    np.testing.assert_allclose(back.channel_images(), res.images(order)[np.argsort(res.mz[order])], rtol=1e-6)
    plain = _pick(path, weights, k=3, candidates=common)
    assert {r["norm"] for r in csv.DictReader(plain.to_csv(tmp_path / "p.csv").open())} == {"none"}
    assert "normalization" not in plain.to_imzml(tmp_path / "p.imzML").read_text()


def test_an_unknown_norm_is_refused_before_any_work(weights, section, monkeypatch):
    import ionmorph.picking.pick as pick

    path, _ = section
    monkeypatch.setattr(pick, "_open", lambda *a, **kw: pytest.fail("read before the norm was checked"))
    with pytest.raises(InputError, match="norm must be one of none, tic, rms, got 'l2'"):
        _pick(path, weights, k=3, norm="l2")


def test_a_large_raster_is_scored_on_its_binned_working_raster(weights, section):
    path, common = section
    data = open_msi(path)
    for norm in ("none", "tic"):
        binned = _pick(path, weights, k=4, candidates=common, norm=norm, working_side=5)    # 12 x 10 -> 3 x 4 cells
        assert binned.binning == 3
        cells = data.ion_images(binned.mz, ppm=binned.ppm, norm=norm, binning=3)
        same = _pick(cells, weights, k=4, mz=binned.mz, working_side=None)   # every cell holds measured pixels
        np.testing.assert_allclose(same.proba, binned.proba, atol=1e-5)
        full = _pick(path, weights, k=4, candidates=common, norm=norm)
        assert full.binning == 1 and not np.allclose(full.proba, binned.proba, atol=1e-4)
        assert binned.images([0]).shape[1:] == data.shape        # results stay at full resolution
    stack = data.ion_images(np.sort(common), ppm=10)
    from_stack = _pick(stack, weights, k=4, mz=np.sort(common), mask=data.mask, working_side=5)
    from_file = _pick(path, weights, k=4, candidates=np.sort(common), ppm=10, working_side=5)
    np.testing.assert_allclose(from_stack.proba, from_file.proba, atol=1e-5)
