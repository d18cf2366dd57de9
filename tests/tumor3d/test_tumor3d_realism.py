"""Realism knobs of the simulated tumour cohorts, the in-memory ablation rendering, selection read-outs."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError
from tumor3d.realism import KNOBS, Knobs, annotate, draw_markers, streams, tumour_mask


def _tissue(n: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    return (yy - n / 2) ** 2 + (xx - n / 2) ** 2 < (0.45 * n) ** 2


def test_knobs_switch_off_one_at_a_time():
    on = Knobs()
    assert all(on.as_dict().values()) and set(on.as_dict()) == set(KNOBS)
    off = on.without("batch")
    assert not off.batch and sum(off.as_dict().values()) == len(KNOBS) - 1
    with pytest.raises(InputError, match="unknown knob"):
        on.without("noise")


@pytest.mark.parametrize("morphology", ["compact", "nests", "glands", "strands"])
def test_tumour_masks_hit_the_fraction_inside_the_tissue(morphology):
    tissue = _tissue()
    mask = tumour_mask(np.random.default_rng(0), tissue, 0.2, morphology)
    assert not (mask & ~tissue).any()
    assert 0.15 <= mask.sum() / tissue.sum() <= 0.21
    assert not tumour_mask(np.random.default_rng(0), tissue, 0.0, morphology).any()


def test_fine_morphologies_border_more_healthy_tissue_than_compact_blobs():
    from scipy import ndimage

    tissue = _tissue()
    edge = {}
    for m in ("compact", "nests", "strands"):
        t = tumour_mask(np.random.default_rng(1), tissue, 0.2, m)
        edge[m] = (t & ~ndimage.binary_erosion(t)).sum() / t.sum()
    assert edge["nests"] > 1.5 * edge["compact"] and edge["strands"] > 1.5 * edge["compact"]


def test_coarse_annotation_includes_stroma_and_leaves_a_margin():
    tissue = _tissue()
    truth = tumour_mask(np.random.default_rng(2), tissue, 0.2, "nests")
    exact = annotate(truth, tissue, Knobs(coarse_annotation=False))
    np.testing.assert_array_equal(exact == 2, truth)
    coarse = annotate(truth, tissue, Knobs())
    stroma = ((coarse == 2) & ~truth).sum() / (coarse == 2).sum()
    assert 0.01 < stroma < 0.2                                          # some healthy pixels inside the outline
    assert ((coarse == 0) & tissue).any()                               # an unannotated margin
    assert ((coarse == 1) & truth).sum() < 0.1 * truth.sum()
    yy, xx = np.mgrid[:64, :64]
    ring = (yy - 32) ** 2 + (xx - 32) ** 2 < 100
    small, large = ring & ((yy - 32) ** 2 + (xx - 32) ** 2 > 0), ring & ((yy - 32) ** 2 + (xx - 32) ** 2 > 16)
    assert annotate(small, tissue, Knobs())[32, 32] == 2                # a small hole is filled
    assert annotate(large, tissue, Knobs())[32, 32] != 2                # a lumen of 7 x 7 pixels is not


def test_tumour_cells_replace_the_tissue_they_grow_into():
    from tumor3d.cohort import TASKS, cohort_design
    from tumor3d.realism import ORIGIN, simulate_slide

    spec = TASKS["tumour-desi"]
    off = Knobs(**{k: False for k in KNOBS})
    panel, markers, patients = cohort_design(spec, 1, 0, off)
    sim = simulate_slide(spec.family, spec.instrument, (64, 64), markers, patients[0], "tumour", 0, 0, 0, off)
    sec, tumour = sim.section, sim.truth
    from scipy import ndimage

    core = ndimage.binary_erosion(tumour, iterations=2)
    origin = sec.regions == sec.region_names.index(ORIGIN[spec.family])
    others = [i for i, ion in enumerate(sec.panel) if ion.kind == "mono" and ion.parent not in set(markers.parents)
              and ion.style == "regional"]
    # a non-marker ion sits at the origin tissue's level inside the tumour, whatever region it grew into
    ratio = [sec.abundance[i][core].mean() / sec.abundance[i][origin & ~tumour].mean() for i in others]
    assert core.sum() > 20 and 0.7 < np.median(ratio) < 1.4
    up = [j for j, fc in enumerate(markers.log_fc) if fc > 0]
    p = markers.parents[up[0]]
    fc = sec.abundance[p][core].mean() / sec.abundance[p][origin & ~tumour].mean()
    assert fc > 0.8 * np.exp(markers.log_fc[up[0]]) ** 0.8


def test_marker_fold_changes_are_modest_with_the_knob_on():
    from ionmorph.synth import make_panel

    panel = make_panel(0, "tumour", 150)
    realistic = draw_markers(0, panel, Knobs())
    strong = draw_markers(0, panel, Knobs(fold_change=False))
    np.testing.assert_array_equal(realistic.parents, strong.parents)   # same markers, other fold changes
    fc = np.exp(np.abs(realistic.log_fc))
    assert fc.min() >= 1.2 and fc.max() <= 4.0 and np.mean(fc <= 2.0) >= 0.5
    assert np.exp(np.abs(strong.log_fc)).min() >= 2.5
    assert np.all(np.isin(realistic.peaks(panel), np.arange(len(panel))))
    g = streams(3, 4)
    assert g(1).random() == streams(3, 4)(1).random() != g(2).random()


def test_rendered_ablation_cohort_is_separable_with_every_knob_off():
    from tumor3d.ablation import rendered_task
    from tumor3d.cohort import TASKS, cohort_design
    from tumor3d.train import METHODS, TrainConfig, cross_validate, summarise

    off = Knobs(**{k: False for k in KNOBS})
    panel, _, _ = cohort_design(TASKS["tumour-desi"], 2, 0, off)
    data = rendered_task(TASKS["tumour-desi"], np.unique(np.round(panel.mz, 2)), 2, (40, 40), 0, off)
    assert len(data.slides) == 6 and np.isfinite(data.slides[0].cube).all()
    spec = next(m for m in METHODS if m.name == "pixel logreg/all")
    assert summarise(cross_validate(data, (spec,), k=2, train=TrainConfig(max_per_class=60)))["patch_ba_mean"] > 0.85


def test_diversity_rule_and_supervised_scores():
    from tumor3d.train import SlideData, diverse_channels, supervised_scores

    scores = np.array([0.9, 0.89, 0.88, 0.5, 0.4])
    sim = np.eye(5)
    sim[0, 1] = sim[1, 0] = sim[0, 2] = sim[2, 0] = sim[1, 2] = sim[2, 1] = 0.85   # 0-2: one pattern
    mz = np.arange(5.0) + 100
    assert list(diverse_channels(scores, mz, 2, sim)) == [0, 3]
    ann = np.ones((4, 4), dtype=int)
    ann[:2] = 2
    cube = np.zeros((3, 4, 4), dtype=np.float32)
    cube[1][ann == 2] = 1.0
    cube[2] = np.random.default_rng(0).normal(size=(4, 4))
    s = supervised_scores([SlideData("a", "p", cube, ann, ann > 0)])
    assert np.argmax(s) == 1


def test_later_patients_are_new_patients_of_the_same_disease():
    from tumor3d.cohort import TASKS, cohort_design
    from tumor3d.realism import Knobs

    spec = TASKS["tumour-desi"]
    panel, markers, first = cohort_design(spec, 2, 0, Knobs())
    panel2, markers2, later = cohort_design(spec, 2, 0, Knobs(), first_patient=12)
    assert [p.name for p in first] == ["P00", "P01"] and [p.name for p in later] == ["P12", "P13"]
    np.testing.assert_array_equal(panel.mz, panel2.mz)
    np.testing.assert_array_equal(markers.parents, markers2.parents)
    assert not np.allclose(first[0].response, later[0].response)
    assert cohort_design(spec, 14, 0, Knobs())[2][12].name == "P12"
    np.testing.assert_array_equal(cohort_design(spec, 14, 0, Knobs())[2][12].response, later[0].response)
