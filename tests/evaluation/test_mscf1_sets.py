"""ionmorph.evaluation.mscf1_sets: the budget rule, the public layout, masks, simulator-label scores, summaries."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.evaluation.mscf1_sets import (METHODS, budget_k, find_sections, label_scores, load_mask, summarise,
                                            summarise_shares)


def test_budget_rule_counts_informative_looking_peaks():
    from ionmorph.synth import simulate_section

    sim = simulate_section(3, family="kidney", instrument="desi", shape=(20, 20), n_ions=40)
    expected = sum(1 for look in sim.looks if look in ("structured", "localized", "negative"))
    assert budget_k(sim) == expected > 0
    assert expected < len(sim.ions)


def test_public_layout_uses_published_budgets(tmp_path):
    group = tmp_path / "CAC"
    (group / "masks").mkdir(parents=True)
    for name in ("40TopL", "mine"):
        (group / f"{name}.imzML").write_text("")
    with pytest.raises(InputError, match="mine.*--k"):
        find_sections(tmp_path, ppm=10.0)
    secs = find_sections(tmp_path, ppm=10.0, k=50)
    assert [(s.group, s.name, s.k) for s in secs] == [("CAC", "40TopL", 342), ("CAC", "mine", 50)]
    assert secs[0].mask_path.endswith("CAC/masks/40TopL_mask.npy")


def test_bad_mask_is_reported_with_its_file(tmp_path):
    bad = tmp_path / "s_mask.npy"
    np.save(bad, np.zeros((3, 4), dtype=np.int32))
    with pytest.raises(InputError, match="s_mask.npy.*does not match"):
        load_mask(bad, (4, 4))
    with pytest.raises(InputError, match="missing"):
        load_mask(tmp_path / "absent_mask.npy", (4, 4))


def test_label_scores_put_labelled_candidates_first_and_break_ties():
    cand = np.array([100.0, 200.0, 300.0, 400.0])
    s = label_scores(cand, [200.0005, 400.0], ppm=5.0, tiebreak=np.array([4.0, 1.0, 3.0, 2.0]))
    assert list(np.argsort(-s)[:2]) == [3, 1] and (s[[1, 3]] >= 1).all() and (s[[0, 2]] < 1).all()
    assert np.array_equal(label_scores(cand, [], 5.0, np.arange(4.0)), np.arange(4) / 4)


def test_summaries_average_sections_per_group():
    def section(group, v):
        methods = {m: {"mscf1": v, "f1": [v] * 4, "seconds": 1.0} for m in METHODS}
        return {"group": group, "modes": {"axis": {"best": 0.9, "methods": methods, "simulator_labels": {"mscf1": v}}},
                "true_set_share": {"localized": {"n": 2, "share": [v, v]}, "structured": {"n": 0, "share": None}}}

    rows = [section("a", 0.2), section("a", 0.4), section("b", 0.5)]
    out = summarise(rows, ["axis"])
    assert out["a"]["axis"]["methods"]["random"]["mscf1"] == pytest.approx(0.3)
    assert out["a"]["axis"]["n_sections"] == 2 and out["b"]["axis"]["simulator_labels"] == 0.5
    assert out["a"]["axis"]["methods"]["s3pl"]["seconds"] == 2.0
    shares = summarise_shares(rows)
    assert shares["a"]["localized"] == pytest.approx(0.3) and shares["a"]["structured"] is None
