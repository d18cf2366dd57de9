"""ionmorph.io.scverse: a SpatialData store read back with spatialdata.read_zarr, and the AnnData table agreeing with it."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError, OutputError
from ionmorph.io.scverse import pixel_table, write_spatialdata


@pytest.fixture
def stack():
    rng = np.random.default_rng(0)
    cube = rng.gamma(2.0, 1.0, (3, 7, 9)).astype(np.float32)
    mask = np.ones((7, 9), bool)
    mask[0, :3] = False
    cube[:, ~mask] = 0
    return cube, mask, np.array([100.1, 200.2, 300.3])


def test_spatialdata_round_trip(stack, tmp_path):
    sd = pytest.importorskip("spatialdata")
    from spatialdata.transformations import get_transformation

    cube, mask, mz = stack
    segments = (np.arange(63).reshape(7, 9) % 3).astype(np.int32)
    path = write_spatialdata(tmp_path / "s.zarr", cube, mask, mz, origin=(5, 11), pixel_size_um=(20.0, 25.0),
                             var={"score": np.array([0.1, 0.2, 0.3])}, labels={"segments": segments})
    back = sd.read_zarr(path)
    img = back.images["ion_images"]
    np.testing.assert_array_equal(img.values, cube)
    assert list(img.coords["c"].values) == ["100.100000", "200.200000", "300.300000"]
    np.testing.assert_array_equal(back.labels["segments"].values, segments)
    ids = back.labels["pixels"].values
    table = back.tables["table"]
    assert table.shape == (int(mask.sum()), 3)
    rows, cols = np.nonzero(mask)
    np.testing.assert_array_equal(ids[rows, cols], table.obs["instance_id"].to_numpy())
    np.testing.assert_allclose(table.X, cube[:, rows, cols].T)
    np.testing.assert_array_equal(table.obsm["spatial"], np.stack([cols + 5, rows + 11], axis=1))   # imzML x / y
    np.testing.assert_allclose(table.var["score"], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(table.uns["ionmorph"]["pixel_size_um"], [20.0, 25.0])
    # pixel centres land on the table's x / y, and on x * 20 um, y * 25 um in micrometres
    corner = np.array([[0.5, 0.5, 1.0]])                      # intrinsic (x, y) centre of raster pixel (0, 0)
    glob = get_transformation(img, "global").to_affine_matrix(("x", "y"), ("x", "y"))
    np.testing.assert_allclose((glob @ corner.T).T[0, :2], [5, 11])
    um = get_transformation(img, "micrometres").to_affine_matrix(("x", "y"), ("x", "y"))
    np.testing.assert_allclose((um @ corner.T).T[0, :2], [100, 275])
    # the AnnData export agrees with the store's table
    adata = pixel_table(cube, mask, mz, origin=(5, 11), pixel_size_um=(20.0, 25.0))
    np.testing.assert_array_equal(adata.obsm["spatial"], table.obsm["spatial"])
    assert list(adata.obs_names) == list(table.obs_names)


def test_spatialdata_guards(stack, tmp_path):
    pytest.importorskip("spatialdata")
    cube, mask, mz = stack
    with pytest.raises(InputError, match=".zarr"):
        write_spatialdata(tmp_path / "s.h5", cube, mask, mz)
    with pytest.raises(InputError, match="integer"):
        write_spatialdata(tmp_path / "s.zarr", cube, mask, mz, labels={"tumour": np.zeros((2, 2))})
    with pytest.raises(InputError, match="unique"):
        write_spatialdata(tmp_path / "s.zarr", cube, mask, [1.0, 1.0, 2.0])
    path = write_spatialdata(tmp_path / "s.zarr", cube, mask, mz)
    write_spatialdata(path, cube * 2, mask, mz)                # its own store is replaced
    (tmp_path / "mine.zarr").mkdir()
    (tmp_path / "mine.zarr" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="mine.zarr"):
        write_spatialdata(tmp_path / "mine.zarr", cube, mask, mz)
    assert (tmp_path / "mine.zarr" / "notes.txt").read_text() == "mine"
