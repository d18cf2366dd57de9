"""ionmorph.picking.ion_groups: m/z shifts, thumbnails and the groups isotopes and adducts form."""
from __future__ import annotations

import numpy as np

from ionmorph.picking.ion_groups import ISOTOPE_SPACING, SHIFTS, correlation, group_ions, mass_pairs, thumbnails


def test_mass_pairs_find_isotopes_and_adducts_within_the_windows():
    mz = np.array([500.0, 500.0 + ISOTOPE_SPACING, 500.0 + 2 * ISOTOPE_SPACING + 0.004, 500.0 + SHIFTS["+Na vs +H"],
                   600.0, 601.02])
    pairs = {(i, j, name) for i, j, name in mass_pairs(mz, ppm=5.0)}
    assert (0, 1, "M+1") in pairs and (1, 2, "M+1") in pairs and (0, 2, "M+2") in pairs
    assert (0, 3, "+Na vs +H") in pairs
    assert not any(i == 4 for i, _, _ in pairs)                   # 601.02 is 0.017 Da off an isotope
    assert any(i == 4 for i, _, _ in mass_pairs(mz, ppm=15.0))     # inside two 15 ppm windows


def test_thumbnails_average_measured_pixels_only():
    img = np.arange(16, dtype=float).reshape(1, 4, 4)
    mask = np.ones((4, 4), bool)
    mask[0, 0] = False
    th = thumbnails(img, mask, size=2)                             # 2 x 2 blocks
    assert th.shape == (1, 4)
    np.testing.assert_allclose(th[0], [(1 + 4 + 5) / 3, (2 + 3 + 6 + 7) / 4, (8 + 9 + 12 + 13) / 4,
                                       (10 + 11 + 14 + 15) / 4])
    np.testing.assert_allclose(thumbnails(img, None, size=8)[0], img.ravel())


def test_groups_need_matching_images_and_follow_isotope_chains():
    rng = np.random.default_rng(0)
    pattern, other = rng.random(100), rng.random(100)
    mz = np.array([400.0, 400.0 + ISOTOPE_SPACING, 400.0 + 2 * ISOTOPE_SPACING, 700.0, 700.0 + ISOTOPE_SPACING])
    pairs = mass_pairs(mz, ppm=5.0)
    thumbs = {0: pattern, 1: 0.3 * pattern + 0.01 * rng.random(100), 2: 0.05 * pattern + 0.005 * rng.random(100),
              3: pattern, 4: other}
    group, isotope_of = group_ions(mz, pairs, thumbs)
    assert group.tolist() == [0, 0, 0, 1, 2]                      # 700/701 look different: not one ion
    np.testing.assert_allclose(isotope_of[:3], [np.nan, 400.0, 400.0])
    assert np.isnan(isotope_of[3:]).all()
    assert correlation(np.ones(5), np.arange(5.0)) == 0.0


def test_thumbnails_do_not_depend_on_the_block_size(monkeypatch):
    import ionmorph.picking.ion_groups as ion_groups

    rng = np.random.default_rng(3)
    images, mask = rng.random((9, 70, 50)).astype(np.float32), rng.random((70, 50)) > 0.3
    whole = thumbnails(images, mask, size=16)
    monkeypatch.setattr(ion_groups, "THUMBNAIL_BLOCK_PIXELS", 2 * 70 * 50)        # two images per block
    np.testing.assert_array_equal(thumbnails(images, mask, size=16), whole)
    assert whole.shape == (9, 14 * 10)                                              # 5 x 5 blocks
    np.testing.assert_array_equal(thumbnails(images, mask, size=16, index=[7, 2]), whole[[7, 2]])


def test_an_isotope_is_no_brighter_than_13c_allows():
    from ionmorph.picking.ion_groups import max_isotope_ratio

    assert 0.7 < max_isotope_ratio(800.0, 1) / 1.5 < 0.75           # 66.7 carbons at most x 1.07 %
    assert np.isclose(max_isotope_ratio(800.0, 2), 1.5 * (0.0107 * 800 / 12) ** 2 / 2)
    rng = np.random.default_rng(1)
    pattern = rng.random(100) + 0.5
    # a lipid (800), its 13C2 isotope at 20 %, and a co-localised species one double bond lighter
    # than 802.0 (2.016 Da: inside the M+2 window) that is as bright as the lipid itself
    mz = np.array([800.0, 800.0 + 2 * ISOTOPE_SPACING, 900.0, 902.0156])
    pairs = mass_pairs(mz, ppm=5.0)
    assert {(0, 1, "M+2"), (2, 3, "M+2")} <= {tuple(p) for p in pairs}
    thumbs = {0: pattern, 1: 0.2 * pattern, 2: pattern, 3: 0.9 * pattern}
    group, isotope_of = group_ions(mz, pairs, thumbs)
    assert group[0] == group[1] and isotope_of[1] == 800.0
    assert group[2] != group[3] and np.isnan(isotope_of[3])        # too bright to be 13C2 of 900
