"""Many slides (ionmorph.cli.batch): inputs, one CSV per slide + summary, serial = process pool = Dask."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from ionmorph.cli.batch import SUMMARY_COLUMNS, SUMMARY_FILE, expand_slides, is_batch, pick_slides
from ionmorph.cli import run
from ionmorph.errors import InputError, OutputError
from ionmorph.models.inference import clear_cache
from ionmorph.models.model import IonMorphNet
from ionmorph.models.onnx_model import add_onnx
from ionmorph.models.preprocessing import PreprocessConfig
from msi_testutil import random_spectra, write_imzml

SIDE = 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Three small slides in one folder and a tiny weights folder with its ONNX graph."""
    torch.manual_seed(2)
    weights = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="test").save_pretrained(
        tmp_path_factory.mktemp("w") / "tiny")
    add_onnx(weights)
    slides = tmp_path_factory.mktemp("slides")
    coords = [(x, y) for y in range(1, SIDE + 1) for x in range(1, SIDE + 1)]
    for i in range(3):
        _, spectra = random_spectra(len(coords), seed=10 + i, n_peaks=30)
        write_imzml(slides / f"slide{i}.imzML", spectra, coords)
    return slides, weights


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IONMORPH_CACHE", str(tmp_path / "cache"))
    yield
    clear_cache()


def _tables(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.csv")) if p.name != SUMMARY_FILE}


def _summary(folder: Path) -> list[dict[str, str]]:
    with open(folder / SUMMARY_FILE, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def test_inputs_expand_from_files_folders_and_globs(setup, tmp_path):
    slides, _ = setup
    names = [f"slide{i}.imzML" for i in range(3)]
    assert [p.name for p in expand_slides([slides])] == names
    assert [p.name for p in expand_slides([slides / "slide*.imzML", slides / "slide1.imzML"])] == names
    assert [p.name for p in expand_slides([slides / "slide2.imzML", slides])] == [names[2], names[0], names[1]]
    assert not is_batch([slides / "slide0.imzML"])
    assert is_batch([slides]) and is_batch([slides / "*.imzML"]) and is_batch([slides / "a.imzML"] * 2)
    with pytest.raises(InputError, match="no .imzML files"):
        expand_slides([tmp_path])
    with pytest.raises(InputError, match="no .imzML files"):
        expand_slides([str(slides / "nothing*.imzML")])
    with pytest.raises(FileNotFoundError, match="missing.imzML: file not found"):
        expand_slides([tmp_path / "missing.imzML"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "slide0.imzML").write_bytes((slides / "slide0.imzML").read_bytes())
    with pytest.raises(InputError, match="share the name 'slide0'"):
        expand_slides([slides, other / "slide0.imzML"])


def test_serial_process_pool_and_dask_give_the_same_tables(setup, tmp_path):
    distributed = pytest.importorskip("distributed")
    slides, weights = setup
    opts = dict(k=4, model=str(weights), ppm=10.0, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = pick_slides([slides], tmp_path / "serial", workers=1, **opts)
        pick_slides([slides], tmp_path / "pool", workers=2, **opts)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster:
            pick_slides([slides], tmp_path / "dask", scheduler=cluster.scheduler_address, **opts)
    ref = _tables(tmp_path / "serial")
    assert sorted(ref) == ["slide0.csv", "slide1.csv", "slide2.csv"]
    assert all(len(t.splitlines()) == 1 + 4 for t in ref.values())                 # header + k picked rows
    assert _tables(tmp_path / "pool") == ref and _tables(tmp_path / "dask") == ref
    rows = _summary(tmp_path / "serial")
    assert list(serial[0]) == list(SUMMARY_COLUMNS)
    assert [r["status"] for r in rows] == ["ok"] * 3 and [r["n_picked"] for r in rows] == ["4"] * 3
    assert rows[0]["slide"] == str(slides / "slide0.imzML") and rows[0]["output"] == "slide0.csv"
    assert len(rows[0]["top_mz"].split()) == 4 and rows[0]["ppm"] == "10"
    assert _summary(tmp_path / "pool") == rows and _summary(tmp_path / "dask") == rows


def test_cli_several_slides_with_a_bad_one(setup, tmp_path, capsys):
    slides, weights = setup
    bad = tmp_path / "in"
    bad.mkdir()
    for name in ("slide0.imzML", "slide0.ibd"):
        (bad / name).write_bytes((slides / name).read_bytes())
    (bad / "broken.imzML").write_text("<not imzML/>")
    (bad / "broken.ibd").write_bytes(b"")
    out = tmp_path / "out"
    argv = ["classify", str(bad), "-o", str(out), "--model", str(weights), "--ppm", "10", "--workers", "1", "-q"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run(argv, ("ionmorph.cli.pick",), "ionmorph") == 2
        err = capsys.readouterr().err
        assert "broken.imzML" in err and "not imzML" in err
        rows = _summary(out)
        assert [r["status"][:6] for r in rows] == ["error:", "ok"] and rows[0]["output"] == ""
        table = (out / "slide0.csv").read_text().splitlines()
        assert len(table) == 1 + int(rows[1]["n_candidates"])                  # classify: every candidate
        before = (out / "slide0.csv").read_text()
        assert run(argv, ("ionmorph.cli.pick",), "ionmorph") == 2                # a rerun replaces its outputs
        assert (out / "slide0.csv").read_text() == before
    (out / SUMMARY_FILE).write_text("my notes\n")
    with pytest.raises(OutputError, match="summary.csv: already exists"):
        pick_slides([bad], out, model=str(weights), ppm=10.0, workers=1, progress=False)
    assert run(["pick", str(bad), "-o", str(out), "--figure", str(tmp_path / "f.png"), "--model", str(weights)],
               ("ionmorph.cli.pick",), "ionmorph") == 2
    assert "--figure: one slide's option only" in capsys.readouterr().err
    (tmp_path / "file.txt").write_text("x")
    for target in (tmp_path / "file.txt", tmp_path / "new.csv"):
        with pytest.raises(OutputError, match="the output is a folder"):
            pick_slides([bad], target, model=str(weights), workers=1, progress=False)
    assert not (tmp_path / "new.csv").exists()
