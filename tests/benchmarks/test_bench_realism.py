"""The realism benchmark's report on small fake pools (the pieces are tested in tests/evaluation/test_realism.py)."""
from __future__ import annotations

import pytest

from bench_testutil import load_benchmark
from realism_testutil import fake_judged


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("realism")


def test_report_pieces_on_fake_pools(bench, tmp_path):
    t, stats, cnn = fake_judged()
    assert bench.differences(stats)[0].startswith("`")
    bench.side_by_side(t, tmp_path / "a.png", seed=0, n=4)
    bench.discriminator_figure(t, cnn["oof_p_real"], cnn["fold_percentile"], tmp_path / "b.png", n=3)
    bench.stats_figure(t, stats, tmp_path / "c.png")
    assert all((tmp_path / f).stat().st_size > 0 for f in ("a.png", "b.png", "c.png"))
