"""Cohorts: the simulated tasks on ionmorph.synth, and loading real-layout cohorts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ionmorph.errors import InputError, MSIFormatError
from tumor3d.cohort import TASKS, build_cohort, load_cohort
from tumor3d_testutil import write_toy_cohort


def test_tasks_differ_in_family_and_instrument():
    assert len(TASKS) >= 3
    assert len({t.family for t in TASKS.values()}) == len(TASKS) == len({t.instrument for t in TASKS.values()})


def test_simulated_cohort_has_patients_markers_and_three_slide_kinds(tmp_path):
    cohort = build_cohort("tumour-desi", tmp_path / "c", n_patients=2, shape=(40, 40), seed=1)
    assert [s.patient for s in cohort.slides] == ["P00"] * 3 + ["P01"] * 3
    anns = [s.annotation() for s in cohort.slides]
    assert all(a.shape == (40, 40) for a in anns)
    tumour = [(a == 2).sum() / max((a > 0).sum(), 1) for a in anns]
    assert tumour[0] > tumour[1] > 0 and tumour[2] == 0 and tumour[3] > tumour[4] > 0 and tumour[5] == 0
    assert all((a == 1).any() for a in anns)
    assert cohort.markers.size and np.all(np.diff(cohort.markers) >= 0)
    back = load_cohort(cohort.root)
    assert back.patients == cohort.patients and back.task == "tumour-desi" and back.ppm == cohort.ppm
    np.testing.assert_allclose(back.markers, cohort.markers)
    meta = json.loads((cohort.root / "cohort.json").read_text())
    assert all(meta["knobs"].values()) and [r["kind"] for r in meta["slides"][:3]] == ["tumour", "small", "free"]
    again = build_cohort("tumour-desi", tmp_path / "c", n_patients=2, shape=(40, 40), seed=1)
    np.testing.assert_array_equal(again.slides[0].annotation(), anns[0])


def test_real_layout_with_patients_csv(tmp_path):
    cohort = write_toy_cohort(tmp_path / "c", n_patients=2, shape=(6, 6))
    (cohort.root / "cohort.json").unlink()
    with pytest.raises(InputError, match="patient id"):
        load_cohort(cohort.root)
    (cohort.root / "patients.csv").write_text("slide,patient\nP0_S0,A\nP0_S1,A\nP1_S0,B\n")
    real = load_cohort(cohort.root, ppm=5)
    assert real.patients == ["A", "A", "B"] and real.ppm == 5 and real.markers.size == 0
    (cohort.root / "patients.csv").write_text("slide,patient\nP0_S0,A\nP9_S0,B\n")
    with pytest.raises(MSIFormatError, match="P9_S0"):
        load_cohort(cohort.root)


def test_full_scan_masks_are_cropped_to_the_imzml_raster(tmp_path):
    from pyimzml.ImzMLWriter import ImzMLWriter

    from ionmorph.io.msi import open_msi
    from tumor3d.cohort import crop_to_raster, raster_origin

    with ImzMLWriter(str(tmp_path / "roi.imzML"), mode="processed") as w:   # pixels only in rows 3-4, cols 2-4
        for y in (3, 4):
            for x in (2, 3, 4):
                w.addSpectrum(np.array([100.0]), np.array([1.0]), (x + 1, y + 1))
    msi = open_msi(tmp_path / "roi.imzML")
    ann = np.arange(6 * 7).reshape(6, 7)
    assert msi.shape == (2, 3) and raster_origin(msi) == (3, 2)
    np.testing.assert_array_equal(crop_to_raster(ann, msi.shape, raster_origin(msi)), ann[3:5, 2:5])
    np.testing.assert_array_equal(crop_to_raster(ann[3:5, 2:5], msi.shape, (3, 2)), ann[3:5, 2:5])
    with pytest.raises(InputError, match="does not cover"):
        crop_to_raster(ann[:4], msi.shape, (3, 2))
