"""benchmarks/int8_onnx.py: the adopt rule (issue 25: picks and mSCF1), the overlap of the picks and the
agreement numbers (the fp16 -> fp32 graph rewrite moved to ionmorph.models.onnx_int8: tests/models/test_onnx_int8.py)."""
from __future__ import annotations

import numpy as np
import pytest

from bench_testutil import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("int8_onnx")


def _picks(overlap: float = 1.0, diff: float = 0.0, segments: bool = True) -> dict:
    sel = {"k": [10, 20], "overlap": [1.0, overlap]}
    if segments:
        sel.update(mscf1_fp32=[0.5, 0.5], mscf1_int8=[0.5, 0.5 + diff], mscf1_diff=[0.0, diff])
    return {"sections": {"barley": {"selections": {"mscf1": dict(sel), "mscf1_grouped": dict(sel)}}}}


@pytest.mark.parametrize("speed, picks, adopt, why", [
    (1.7, _picks(), True, "on all 4 section/selection/k cells"),
    (1.7, _picks(overlap=0.95, diff=0.01), True, "overlap >= 95%"),              # the limits themselves pass
    (1.7, _picks(overlap=0.9), False, "barley protocol ranking k=20: overlap 0.90"),
    (1.7, _picks(diff=-0.011), False, "mSCF1 0.500 -> 0.489"),
    (1.7, _picks(overlap=0.9, segments=False), False, "overlap 0.90"),         # no segments: overlap still counts
    (1.7, _picks(segments=False), True, "4 section/selection/k cells"),
    (1.7, None, False, "not judged"),
    (0.9, _picks(), False, "not faster"),                                       # never adopt a slower graph
])
def test_verdict_applies_the_issue_rule(bench, speed, picks, adopt, why):
    got, reason = bench.verdict(speed, picks)
    assert got is adopt and why in reason


def test_compare_picks_overlap_and_mscf1(bench):
    from types import SimpleNamespace

    mz = np.arange(6, dtype=float)
    group = np.array([0, 0, 1, 2, 3, 4])
    proba = np.full((6, 2), 0.5)

    def scored(score, mscf1):
        table = {"methods": {"ionmorphnet": {"mscf1": mscf1}}}
        pick = SimpleNamespace(score=np.array(score), mz=mz, group=group, proba=proba)
        return SimpleNamespace(pick=pick, folder=SimpleNamespace(name="s"),
                               summary={"seconds": {"ionmorphnet": 1.0}, "mscf1": table, "mscf1_grouped": table})
    fp32 = scored([6, 5, 4, 3, 2, 1], [0.4, 0.6])
    int8 = scored([5, 6, 1, 3, 2, 4], [0.4, 0.62])
    out = bench.compare_picks(fp32, int8, [2, 3])
    # protocol: top-2 {0,1} vs {1,0}; top-3 {0,1,2} vs {1,0,5}. Grouped: {0,2} vs {1,5}; {0,2,3} vs {1,5,3}
    assert out["selections"]["mscf1"]["overlap"] == pytest.approx([1.0, 2 / 3])
    assert out["selections"]["mscf1_grouped"]["overlap"] == pytest.approx([0.0, 1 / 3])
    assert out["selections"]["mscf1"]["mscf1_diff"] == pytest.approx([0.0, 0.02])
    assert out["max_abs_score_diff"] == 3 and out["has_segments"]


def test_agreement_numbers(bench):
    p_ref = np.array([[0.7, 0.1, 0.2], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], np.float32)
    p = np.array([[0.6, 0.2, 0.2], [0.2, 0.5, 0.3], [0.5, 0.1, 0.4]], np.float32)
    a = bench.agreement(p_ref, p, [0, 2])
    assert a["max_abs_diff"] == pytest.approx(0.4)
    assert a["argmax_agreement"] == pytest.approx(2 / 3)
    assert a["informative_max_abs_diff"] == pytest.approx(0.1)
    assert a["n"] == 3 and -1.0 <= a["informative_spearman"] <= 1.0
