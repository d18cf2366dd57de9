"""``ionmorph pick`` and ``ionmorph classify`` on a small processed file with a tiny model."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from ionmorph.cli import run
from ionmorph.picking.candidates import read_candidate_table
from tiny_testutil import isolated_cache, tiny_model_and_section  # noqa: F401  (autouse fixture)


def main(argv: list[str]) -> int:
    return run(argv, ("ionmorph.cli.pick",), "ionmorph")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    weights, path, common = tiny_model_and_section(d, 7, 6, n_peaks=20)
    return d, weights, path, common


def test_pick_writes_picked_rows_and_figure(setup, tmp_path, capsys):
    d, weights, path, common = setup
    (tmp_path / "mz.txt").write_text("# candidates\n" + "\n".join(map(repr, common.tolist())) + "\n")
    rc = main(["pick", str(path), "-k", "5", "-o", str(tmp_path / "peaks.csv"), "--figure", str(tmp_path / "g.png"),
               "--model", str(weights), "--candidates", str(tmp_path / "mz.txt"), "--backend", "eager", "-q"])
    assert rc == 0 and capsys.readouterr().out == ""
    rows = list(csv.DictReader((tmp_path / "peaks.csv").open()))
    assert len(rows) == 5 and all(r["picked"] == "true" for r in rows)
    assert sorted(int(r["rank"]) for r in rows) == [1, 2, 3, 4, 5]
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_classify_writes_every_candidate(setup, tmp_path, capsys):
    d, weights, path, common = setup
    (tmp_path / "labels.csv").write_text("filename,mz,label\n" + "".join(f"sec.imzML,{m},structured\n"
                                                                       for m in common[:7]))
    rc = main(["classify", str(path), "-o", str(tmp_path / "all.csv"), "--model", str(weights),
               "--candidates", str(tmp_path / "labels.csv")])
    assert rc == 0
    assert "7 candidates (user list) classified" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "all.csv").open()))
    np.testing.assert_allclose(sorted(float(r["mz"]) for r in rows), np.sort(common[:7]))
    np.testing.assert_allclose([sum(float(r[f"p_{c}"]) for c in ("structured", "weak_structured", "localized",
                                                                 "fragmented", "unstructured", "negative"))
                                for r in rows], 1.0, atol=1e-5)


def test_errors_are_one_clear_line(setup, tmp_path, capsys):
    d, weights, path, _ = setup
    assert main(["pick", str(d / "missing.imzML"), "-o", str(tmp_path / "x.csv"), "--model", str(weights)]) == 2
    assert "missing.imzML: file not found" in capsys.readouterr().err
    assert main(["pick", str(path), "-o", str(tmp_path / "x.csv"), "--model", str(tmp_path / "nowhere")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_text("100.5\nabc\n")
    assert main(["pick", str(path), "-o", str(tmp_path / "x.csv"), "--model", str(weights),
                 "--candidates", str(tmp_path / "bad.txt")]) == 2
    assert "bad.txt: not a list of m/z values" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_read_candidate_table_formats(tmp_path):
    (tmp_path / "a.txt").write_text("300.1\n\n200.2\n")
    (tmp_path / "b.csv").write_text("id,mz\nx,150.5\ny,151.5\n")
    assert read_candidate_table(tmp_path / "a.txt")["mz"].tolist() == [300.1, 200.2]
    assert read_candidate_table(tmp_path / "b.csv")["mz"].tolist() == [150.5, 151.5]


def test_pick_options_columns_sort_and_exports(setup, tmp_path, capsys):
    d, weights, path, common = setup
    (tmp_path / "c.csv").write_text('"m/z";"name"\n' + "".join(f"{m};ion {i}\n" for i, m in enumerate(common[:8])))
    out = tmp_path / "p.csv"
    rc = main(["pick", str(path), "-k", "3", "-o", str(out), "--model", str(weights), "--backend", "eager",
               "--candidates", str(tmp_path / "c.csv"), "--sort", "rank", "--exclude-off-sample", "--ppm", "20",
               "--images", str(tmp_path / "i.npy"), "--imzml", str(tmp_path / "r.imzML"), "--figure",
               str(tmp_path / "g.png"), "--shared-scale", "--cmap", "magma", "-q"])
    assert rc == 0
    rows = list(csv.DictReader(out.open()))
    assert [int(r["rank"]) for r in rows] == sorted(int(r["rank"]) for r in rows) and len(rows) == 3
    names = {f"{m:.6f}": f"ion {i}" for i, m in enumerate(common[:8])}
    assert all(r["name"] == names[r["mz"]] for r in rows)
    assert np.load(tmp_path / "i.npy").shape == (3, 6, 7)
    from ionmorph.io.msi import open_msi

    back = open_msi(tmp_path / "r.imzML")
    np.testing.assert_allclose(np.sort(back.mz_axis), np.sort([float(r["mz"]) for r in rows]), atol=1e-6)
    from ionmorph.cli.pick import informative_classes
    import argparse

    ns = argparse.Namespace(informative=["structured", "negative"], exclude_off_sample=True)
    assert informative_classes(ns) == ("structured",)
    with pytest.raises(SystemExit):
        main(["pick", str(path), "-o", str(tmp_path / "x.csv"), "--model", str(weights), "--informative", "nope"])


def test_pick_report_and_spatialdata_beside_the_csv(setup, tmp_path, capsys):
    from ionmorph.io.html_report import report_data

    d, weights, path, common = setup
    rc = main(["pick", str(path), "-k", "4", "-o", str(tmp_path / "peaks.csv"), "--model", str(weights),
               "--candidates", str(_write_mz(tmp_path, common)),
               "--backend", "eager", "-q", "--report", str(tmp_path / "r.html"),
               *(["--spatialdata", str(tmp_path / "s.zarr")] if _has_spatialdata() else [])])
    assert rc == 0
    data = report_data(tmp_path / "r.html")
    assert len(data["cards"]) == len(common) and sum(c["picked"] for c in data["cards"]) == 4
    facts = dict(data["facts"])
    assert facts["file"] == "sec.imzML" and "the 4 best scores" in facts["selection rule"] and "ppm" in facts["ppm"]
    assert data["heads"][0]["title"] == "TIC"
    if _has_spatialdata():
        import spatialdata as sd

        table = sd.read_zarr(tmp_path / "s.zarr").tables["table"]
        rows = list(csv.DictReader((tmp_path / "peaks.csv").open()))
        assert sorted(table.var["mz"].round(6)) == sorted(float(r["mz"]) for r in rows)
        assert {"score", "p_structured", "label", "rank"} <= set(table.var.columns)
    assert main(["report", str(path), "-o", str(tmp_path / "all.html"), "--model", str(weights),
                 "--candidates", str(_write_mz(tmp_path, common)), "--backend", "eager", "-q", "-k", "2"]) == 0
    assert sum(c["picked"] for c in report_data(tmp_path / "all.html")["cards"]) == 2
    capsys.readouterr()
    assert main(["report", str(path), "-o", str(tmp_path / "r.csv"), "--model", str(weights)]) == 2
    assert "r.csv: the report is written as .html" in capsys.readouterr().err


def _write_mz(tmp_path, common):
    (tmp_path / "mz.txt").write_text("\n".join(map(repr, common.tolist())) + "\n")
    return tmp_path / "mz.txt"


def _has_spatialdata() -> bool:
    import importlib.util

    return importlib.util.find_spec("spatialdata") is not None


@pytest.mark.parametrize("command", ["pick", "classify"])
def test_norm_option_reaches_pick_peaks_and_the_csv(setup, tmp_path, capsys, command):
    d, weights, path, common = setup
    out = tmp_path / "t.csv"
    args = [command, str(path), "-o", str(out), "--model", str(weights), "--backend", "eager", "-q"]
    assert main(args + ["--norm", "rms"] + (["-k", "3"] if command == "pick" else [])) == 0
    assert {r["norm"] for r in csv.DictReader(out.open())} == {"rms"}
    assert main(args + ["--force"] + (["-k", "3"] if command == "pick" else [])) == 0
    assert {r["norm"] for r in csv.DictReader(out.open())} == {"none"}            # default: raw images
    with pytest.raises(SystemExit) as exc:
        main(args + ["--norm", "TIC"])
    assert exc.value.code == 2 and "argument --norm: invalid choice: 'TIC'" in capsys.readouterr().err


def test_working_side_option_bins_the_scored_raster(setup, tmp_path, capsys, monkeypatch):
    import ionmorph.picking.pick as pick

    d, weights, path, common = setup
    seen = []
    real = pick.pick_peaks
    monkeypatch.setattr(pick, "pick_peaks", lambda *a, **kw: seen.append(real(*a, **kw)) or seen[-1])
    args = ["pick", str(path), "-k", "3", "--model", str(weights), "--backend", "eager", "-q", "--score", "classes"]
    assert main(args + ["-o", str(tmp_path / "a.csv"), "--working-side", "3"]) == 0      # 7 x 6 -> 3 x 3 cells
    assert main(args + ["-o", str(tmp_path / "b.csv"), "--working-side", "0"]) == 0      # full resolution
    assert main(args + ["-o", str(tmp_path / "c.csv")]) == 0                             # default: 300 px
    assert [r.binning for r in seen] == [3, 1, 1]
    assert main(args + ["-o", str(tmp_path / "d.csv"), "--working-side", "-2"]) == 2
    assert "working raster side must be a positive number" in capsys.readouterr().err
