"""benchmarks/report.py: the JSON and Markdown every benchmark writes."""
from __future__ import annotations

import json
from pathlib import Path

from bench_testutil import load_benchmark


def test_write_report_writes_both_files(tmp_path):
    report = load_benchmark("report")
    data = {"benchmark": "x", "value": 1.5, "nested": {"a": [1, 2]}, "path": Path("/p")}
    report.write_report(tmp_path / "new", "x_quick", data, "# x\n", indent=2, default=str)
    text = (tmp_path / "new" / "x_quick.json").read_text()
    assert text == json.dumps(data, indent=2, default=str) + "\n"
    assert json.loads(text)["path"] == "/p"
    assert (tmp_path / "new" / "x_quick.md").read_text() == "# x\n"
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["x_quick.json", "x_quick.md"]  # no temp files left
