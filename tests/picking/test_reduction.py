"""ionmorph.picking.reduction: channel selection by each method, imzML input, AnnData export."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.labels import DEFAULT_INFORMATIVE
from ionmorph.picking.reduction import image_similarity, reduce, select_channels


def _stack():
    rng = np.random.default_rng(0)
    images = rng.gamma(1.0, 1.0, (8, 6, 5)).astype(np.float32)
    images[[5, 2, 6]] *= np.array([40.0, 30.0, 20.0])[:, None, None]   # the three brightest
    mz = np.linspace(100.0, 800.0, 8)[::-1].copy()                       # descending on purpose
    mask = np.ones((6, 5), dtype=bool)
    mask[0, :2] = False
    return images, mz, mask


def test_intensity_keeps_the_brightest_channels_in_mz_order():
    images, mz, mask = _stack()
    red = reduce(images, 3, "intensity", mz=mz, mask=mask)
    assert np.array_equal(red.mz, np.sort(mz[[5, 2, 6]]))
    assert red.cube.shape == (3, 6, 5) and red.cube.dtype == np.float32
    order = np.argsort(mz[[5, 2, 6]])
    np.testing.assert_array_equal(red.cube, images[[5, 2, 6]][order])
    assert np.all(np.diff(red.mz) > 0) and red.method == "intensity"


def test_random_is_seeded_and_all_keeps_everything():
    images, mz, mask = _stack()
    a, b = (reduce(images, 4, "random", mz=mz, mask=mask, seed=7) for _ in range(2))
    assert np.array_equal(a.mz, b.mz) and len(a.mz) == 4
    assert not np.array_equal(a.mz, reduce(images, 4, "random", mz=mz, mask=mask, seed=8).mz)
    full = reduce(images, 2, "all", mz=mz, mask=mask)
    assert np.array_equal(full.mz, np.sort(mz))


def test_bad_arguments_raise():
    images, mz, mask = _stack()
    with pytest.raises(InputError):
        reduce(images, 3, "magic", mz=mz)
    with pytest.raises(InputError):
        reduce(images, 3, "random", mz=mz[:3])
    with pytest.raises(InputError):
        reduce(images, 3, "random", mz=mz, mask=mask[:2])
    with pytest.raises(InputError):
        select_channels(np.ones(3), np.arange(3.0), 0)


def test_reduce_reads_an_imzml_file_and_exports_anndata(tmp_path):
    ad = pytest.importorskip("anndata")
    from tumor3d_testutil import MZ, write_toy_cohort

    slide = write_toy_cohort(tmp_path / "c", n_patients=1, shape=(6, 7)).slides[0]
    red = reduce(slide.imzml, 4, "intensity", candidates=MZ, ppm=10)
    assert red.cube.shape == (4, 6, 7) and red.mask.all()
    adata = red.to_anndata(tmp_path / "red.h5ad")
    back = ad.read_h5ad(tmp_path / "red.h5ad")
    assert back.shape == (42, 4)
    np.testing.assert_allclose(back.var["mz"].to_numpy(), red.mz)
    r, c = back.obs["row"].to_numpy(), back.obs["col"].to_numpy()
    x, y = back.obs["x"].to_numpy(), back.obs["y"].to_numpy()
    np.testing.assert_array_equal(x - c, red.origin[0]) and np.testing.assert_array_equal(y - r, red.origin[1])
    np.testing.assert_array_equal(back.obsm["spatial"], np.stack([x, y], axis=1))   # imzML x / y (as SpatialData)
    np.testing.assert_allclose(back.X, red.cube[:, r, c].T)
    assert adata.uns["ionmorph"]["method"] == "intensity"
    from ionmorph.io.msi import open_msi

    data = open_msi(slide.imzml)
    xy = {(int(x), int(y)) for x, y in data.xy}
    assert set(zip(back.obs["x"].astype(int), back.obs["y"].astype(int))) == xy      # original imzML x/y
    meta = back.uns["ionmorph"]
    assert meta["source"] == str(slide.imzml) and float(meta["ppm"]) == 10.0
    assert "ReducedCube(4 channels x 6 x 7" in repr(red) and len(repr(red)) < 200
    with pytest.warns(UserWarning, match="n_channels=50 asks for more than"):
        reduce(slide.imzml, 50, "intensity", candidates=MZ, ppm=10)


def test_ionmorphnet_selection_uses_pick_peaks_scores(tmp_path):
    from ionmorph.models.model import IonMorphNet
    from ionmorph.picking.pick import pick_peaks
    from ionmorph.models.preprocessing import PreprocessConfig

    model = IonMorphNet(architecture="convnextv2_atto", preprocess=PreprocessConfig(size=32))
    folder = model.save_pretrained(tmp_path / "tiny")
    images, mz, mask = _stack()
    red = reduce(images, 3, "ionmorphnet", mz=mz, mask=mask, model=str(folder))
    scores = np.asarray(pick_peaks(images, mz=mz, mask=mask, model=str(folder), progress=False,
                                   informative=DEFAULT_INFORMATIVE).score)
    assert np.array_equal(red.mz, np.sort(mz[np.argsort(-scores, kind="stable")[:3]]))
    np.testing.assert_allclose(np.sort(red.scores), np.sort(scores)[-3:], rtol=1e-5)


def test_ionmorph_reduce_is_the_function_in_any_import_order():
    import ionmorph
    import ionmorph.picking.reduction  # a submodule import must not shadow the exported function

    images, mz, mask = _stack()
    assert np.array_equal(ionmorph.reduce(images, 2, "intensity", mz=mz, mask=mask).mz,
                          reduce(images, 2, "intensity", mz=mz, mask=mask).mz)


def test_duplicates_are_passed_over_and_fill_up_last():
    images, mz, mask = _stack()
    images[7] = 2.0 * images[5] + 1.0                 # an "isotope" of the brightest channel
    sim = image_similarity(images, mask)
    assert sim[5, 7] == pytest.approx(1.0) and abs(sim[0, 1]) < 0.9
    np.testing.assert_allclose(np.diag(sim), 1.0)
    scores = np.array([0, 0, 5, 0, 0, 9, 4, 8.0])         # ranking 5, 7, 2, 6, ...
    assert set(select_channels(scores, mz, 3)) == {5, 7, 2}
    assert set(select_channels(scores, mz, 3, sim)) == {5, 2, 6}
    assert set(select_channels(scores, mz, 8, sim)) == set(range(8))     # duplicates fill up at the end
    red = reduce(images, 3, "intensity", mz=mz, mask=mask)
    assert not {mz[5], mz[7]} <= set(red.mz)
    assert {mz[5], mz[7]} <= set(reduce(images, 3, "intensity", mz=mz, mask=mask, max_similarity=None).mz)
    flat = np.ones((2, 6, 5), np.float32)
    assert np.array_equal(image_similarity(flat), np.zeros((2, 2)))
