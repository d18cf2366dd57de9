"""Ion-image cubes in .npz files (issue 22, section 3): read into pick_peaks' array source."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import MSIFormatError
from ionmorph.io.cube import is_cube_file, read_cube


def test_channel_last_and_first(tmp_path):
    rng = np.random.default_rng(0)
    cube = rng.integers(0, 5, (6, 7, 4)).astype(np.uint8)
    np.savez(tmp_path / "hwn.npz", intensities=cube, mz=np.arange(1.0, 5.0), measured=np.ones((6, 7), bool))
    got = read_cube(tmp_path / "hwn.npz", mask_key="measured")
    assert got.images.shape == (4, 6, 7) and got.images.dtype == np.float32
    np.testing.assert_array_equal(got.images[2], cube[..., 2])
    assert got.mask.all() and is_cube_file(tmp_path / "hwn.npz") and not is_cube_file(tmp_path / "a.imzML")
    np.savez(tmp_path / "nhw.npz", images=np.moveaxis(cube, -1, 0), masses=np.arange(1.0, 5.0))
    again = read_cube(tmp_path / "nhw.npz", mz_key="masses")
    np.testing.assert_array_equal(again.images, got.images)
    assert again.mask is None


@pytest.mark.parametrize("arrays,kw,match", [
    ({"a": np.zeros((2, 3, 4)), "mz": np.arange(1.0, 5.0)}, {"mz_key": "masses"},
     r"no array 'masses' \(the m/z values\); it has a, mz"),
    ({"a": np.zeros((2, 3, 4)), "b": np.zeros((2, 3, 4)), "mz": np.arange(1.0, 5.0)}, {},
     "several 3-D arrays"),
    ({"a": np.zeros((2, 3, 5)), "mz": np.arange(1.0, 5.0)}, {}, "neither its first nor its last axis"),
    ({"a": np.zeros((2, 3, 4)), "mz": np.array([1.0, 1.0, 2.0, 3.0])}, {}, "distinct"),
    ({"a": np.full((2, 3, 4), np.nan), "mz": np.arange(1.0, 5.0)}, {}, "NaN"),
    ({"a": np.zeros((2, 3, 4)), "mz": np.arange(1.0, 5.0), "m": np.ones((2, 2))}, {"mask_key": "m"}, "shape"),
])
def test_bad_cubes_one_line_naming_the_file(tmp_path, arrays, kw, match):
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(MSIFormatError, match=match) as info:
        read_cube(tmp_path / "c.npz", **kw)
    assert str(info.value).startswith(str(tmp_path / "c.npz")) and "\n" not in str(info.value)


def test_not_an_npz(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(MSIFormatError, match="not a readable .npz file"):
        read_cube(tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="file not found"):
        read_cube(tmp_path / "missing.npz")


def test_read_region_npy_and_png(tmp_path):
    from PIL import Image

    from ionmorph.io.cube import read_region

    region = np.zeros((5, 6), bool)
    region[1:4, 2:5] = True
    np.save(tmp_path / "r.npy", region.astype(np.uint8))
    np.testing.assert_array_equal(read_region(tmp_path / "r.npy", (5, 6)), region)
    Image.fromarray((region * 255).astype(np.uint8)).save(tmp_path / "r.png")
    np.testing.assert_array_equal(read_region(tmp_path / "r.png", (5, 6)), region)
    with pytest.raises(MSIFormatError, match=r"r\.npy: the region is 5 x 6, the data's raster 6 x 5"):
        read_region(tmp_path / "r.npy", (6, 5))
    np.save(tmp_path / "e.npy", np.zeros((5, 6)))
    with pytest.raises(MSIFormatError, match="empty"):
        read_region(tmp_path / "e.npy", (5, 6))
    (tmp_path / "r.txt").write_text("1")
    with pytest.raises(MSIFormatError, match="a region is a .npy or .png file"):
        read_region(tmp_path / "r.txt", (5, 6))
