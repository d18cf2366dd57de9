"""Fitting the ranking head on a (tiny) simulated corpus, its cache and ``ionmorph train-head``."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ionmorph.cli.app import main
from ionmorph.errors import InputError
from ionmorph.models.ranking_head import RankingHead
from ionmorph.training.ranking_head import (SectionRows, corpus_sections, ranking_mscf1, split_rows,
                                            train_ranking_head)
from tiny_testutil import isolated_cache, tiny_model  # noqa: F401  (autouse fixture)
from train_testutil import write_tiny_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("corpus"), n_sections=4, n_ions=24, shape=(24, 28))


def test_head_fits_caches_rows_and_reports_validation(corpus, tmp_path):
    weights = tiny_model(tmp_path)
    head, report = train_ranking_head(corpus, weights, tmp_path / "rows", val_fraction=0.25, progress=False)
    assert isinstance(head, RankingHead) and head.features[0] == "p_structured"
    assert report["sections"] == {"fit": 3, "validation": 1}
    assert set(report["validation"]) >= {"ranking head", "coherence", "Moran's I"}
    assert all(len(v) == 4 and all(0.0 <= x <= 1.0 for x in v) for v in report["validation"].values())
    cached = sorted(p.name for p in (tmp_path / "rows").iterdir())
    assert cached == sorted(f"{p.stem}.npz" for p in corpus_sections(corpus))
    with np.load(tmp_path / "rows" / cached[0]) as d:
        assert d["r"].shape[1] == len(d["mz"]) == len(d["proba"]) == len(d["statistics"])
        assert np.abs(d["r"]).max() <= 1.0 + 1e-6
    again, _ = train_ranking_head(corpus, weights, tmp_path / "rows", val_fraction=0.25, progress=False)
    x = np.random.default_rng(0).random((5, len(head.features)))
    np.testing.assert_allclose(again.predict(x), head.predict(x), atol=1e-6)   # same rows from the cache, same seed


def test_ranking_mscf1_rewards_the_true_ranking():
    r = np.zeros((2, 6), dtype=np.float32)
    r[0, :3] = [0.9, 0.8, 0.7]
    rows = SectionRows("s", np.arange(6, dtype=float) + 100, np.zeros((6, 6)), np.zeros((6, 9)), r)
    good = ranking_mscf1(rows, np.array([6, 5, 4, 3, 2, 1.0]), ks=(3,))
    bad = ranking_mscf1(rows, np.array([1, 2, 3, 4, 5, 6.0]), ks=(3,))
    assert good[0] > 0.8 and bad == [0.0]   # SPEC 6: the channel nearest each threshold is left out of T
    np.testing.assert_allclose(rows.target, [0.9, 0.8, 0.7, 0, 0, 0])


def test_bad_corpus_and_split_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="no <section>"):
        corpus_sections(tmp_path)
    with pytest.raises(InputError, match="fraction"):
        split_rows([None, None], 1.0, 0)
    with pytest.raises(InputError, match="at least 2 sections"):
        split_rows([None], 0.5, 0)


def test_cli_writes_head_and_report_and_keeps_them(corpus, tmp_path, capsys):
    weights = tiny_model(tmp_path)
    out = tmp_path / "head"
    assert main(["train-head", str(corpus), "-o", str(out), "--model", str(weights), "--val-fraction", "0.25",
                 "--cache", str(tmp_path / "rows"), "-q"]) == 0
    head = RankingHead.from_config(json.loads((out / "ranking_head.json").read_text()))
    assert json.loads((out / "report.json").read_text())["sections"]["validation"] == 1
    assert head.training["sections"]["fit"] == 3
    before = (out / "ranking_head.json").read_bytes()
    assert main(["train-head", str(corpus), "-o", str(out), "--model", str(weights), "-q"]) == 2
    assert "ranking_head.json" in capsys.readouterr().err and (out / "ranking_head.json").read_bytes() == before
