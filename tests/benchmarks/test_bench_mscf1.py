"""The mSCF1 benchmark script end to end on a tiny synthetic suite with a random tiny model.

The protocol's pieces alone: tests/evaluation/test_mscf1_sets.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.evaluation.mscf1_sets import GROUPS, METHODS, SuiteConfig, build_suite
from ionmorph.picking.pick import DEFAULT_SCORE

from bench_testutil import load_benchmark


def _load():
    return load_benchmark("mscf1")


@pytest.fixture(scope="module")
def bench():
    return _load()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    from ionmorph.models.model import IonMorphNet
    from ionmorph.models.preprocessing import PreprocessConfig

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("model")
    IonMorphNet(architecture="convnextv2_atto", preprocess=PreprocessConfig(size=32)).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_run(bench, tiny_model, tmp_path_factory):
    out, work = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("work")
    argv = ["--sections", "1", "--shape", "24", "28", "--n-ions", "40", "--s3pl-epochs", "1",
            "--s3pl-train-pixels", "32", "--speed-fraction", "0.002", "--model", str(tiny_model),
            "--out", str(out), "--work", str(work), "--no-progress"]
    assert bench.main(argv) == 0
    return out, work, argv


def test_outputs_hold_sane_values(bench, tiny_run):
    out, _, _ = tiny_run
    res = json.loads((out / "mscf1_custom.json").read_text())
    assert (out / "mscf1_custom.png").stat().st_size > 1000
    md = (out / "mscf1_custom.md").read_text()
    assert "measured on OTHER data" in md and "0.496" in md and "## Target" in md
    assert "simulator labels" in md and "Which simulated ions the metric rewards" in md
    from ionmorph.labels import CLASSES

    for g, shares in res["true_set_share"].items():
        assert set(shares) == set(CLASSES)
        assert all(v is None or 0.0 <= v <= 1.0 for v in shares.values())
    assert set(res["groups"]) == set(GROUPS) and res["target"]["held_out_group"] == "seed_orbitrap"
    assert len(res["sections"]) == 3
    for sec in res["sections"]:
        assert sec["k"] > 0 and sec["n_channels"] > sec["k"]
        for mode in ("axis", "peaks"):
            v = sec["modes"][mode]
            assert set(v["methods"]) == set(METHODS)
            assert 0 <= v["best"] <= 1 and v["k"] == min(sec["k"], v["n_candidates"])
            assert 0 <= v["simulator_labels"]["mscf1"] <= v["best"] + 1e-12
            for m, r in v["methods"].items():
                assert 0.0 <= r["mscf1"] <= 1.0 and len(r["f1"]) == 4
                assert r["k"] == v["k"], (m, mode)          # every method picks k distinct channels
                assert v["best"] >= r["mscf1"] - 1e-12, (m, mode)
                assert r["mscf1"] == pytest.approx(np.mean(r["f1"]))
    for g in res["groups"].values():
        for mode in ("axis", "peaks"):
            assert set(g[mode]["methods"]) == set(METHODS)
    sp = res["metric_speed"]
    assert sp["n_channels"] == 100_000 and sp["n_pixels"] == 30_000 and sp["channels_timed"] == 200
    assert sp["correlation_s_extrapolated"] >= sp["correlation_s_timed"]


def test_suite_and_scores_are_cached(bench, tiny_run, tiny_model):
    out, work, argv = tiny_run
    suite = next(work.glob("suite-*"))
    mtimes = {p: p.stat().st_mtime_ns for p in suite.rglob("*.imzML")}
    cached = sorted(p.name for p in (work / "scores").glob("*.npy"))
    assert len(cached) == 3 * 2 * 6                    # sections x modes x baselines
    first = json.loads((out / "mscf1_custom.json").read_text())
    assert bench.main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in suite.rglob("*.imzML")} == mtimes
    again = json.loads((out / "mscf1_custom.json").read_text())
    for a, b in zip(first["sections"], again["sections"]):
        for mode in ("axis", "peaks"):
            assert a["modes"][mode]["methods"]["s3pl"]["mscf1"] == b["modes"][mode]["methods"]["s3pl"]["mscf1"]
            assert b["modes"][mode]["methods"]["s3pl"]["seconds"] < 0.5


def test_score_is_recorded_and_keeps_the_baselines(bench, tiny_run):
    out, work, argv = tiny_run
    assert bench.main(argv + ["--score", "classes", "--label", "classes"]) == 0
    default = json.loads((out / "mscf1_custom.json").read_text())
    plain = json.loads((out / "mscf1_classes.json").read_text())
    assert default["score"] == DEFAULT_SCORE and plain["score"] == "classes"
    assert "score `classes`" in (out / "mscf1_classes.md").read_text()
    for a, b in zip(default["sections"], plain["sections"]):
        for m in METHODS:
            if m != "ionmorphnet":
                assert a["modes"]["axis"]["methods"][m]["mscf1"] == b["modes"]["axis"]["methods"][m]["mscf1"]
    with pytest.raises(InputError, match="--score must be one of"):
        bench.main(argv + ["--score", "crops"])


def test_suite_is_regenerated_when_the_simulator_changes(bench, tiny_run):
    out, work, argv = tiny_run
    index = next(work.glob("suite-*")) / "suite.json"
    record = json.loads(index.read_text())
    from ionmorph.synth import simulator_version

    assert record["simulator"] == simulator_version()
    cfg = SuiteConfig(**record["config"])
    path = next(index.parent.rglob("*.imzML"))
    before = path.stat().st_mtime_ns
    record["simulator"] = "an-older-simulator"
    index.write_text(json.dumps(record))
    build_suite(work, cfg)
    assert path.stat().st_mtime_ns != before
    assert json.loads(index.read_text())["simulator"] == simulator_version()


def test_target_check(bench):
    def groups(ion, other):
        return {g: {"axis": {"methods": {m: {"mscf1": ion if m == "ionmorphnet" else other} for m in METHODS}}}
                for g in GROUPS}

    assert bench.check_target(groups(0.60, 0.50), ["axis"], "seed_orbitrap")["axis"]["met"]
    missed = bench.check_target(groups(0.53, 0.50), ["axis"], "seed_orbitrap")["axis"]
    assert missed["highest_on_every_group"] and not missed["held_out_margin_ok"] and not missed["met"]
