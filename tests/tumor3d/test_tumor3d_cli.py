"""The tumor3d command: train on a cohort, predict a slide, explain the model; clear errors."""
from __future__ import annotations

import csv
import json

import numpy as np
from huggingface_hub import ModelCard

from card_testutil import assert_hub_valid_card
from ionmorph.io.html_report import report_data
from tumor3d.cli import main
from tumor3d_testutil import MARKERS, write_toy_cohort


def test_train_predict_explain(tmp_path, capsys):
    cohort = write_toy_cohort(tmp_path / "cohort", n_patients=3)
    model = tmp_path / "model"
    rc = main(["train", "--cohort", str(cohort.root), "--out", str(model), "--work", str(tmp_path / "work"),
               "--selection", "intensity", "--channels", "5", "--patch", "5", "--epochs", "10", "--batch-size", "16", "--folds", "2"])
    assert rc == 0
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    cv = json.loads(capsys.readouterr().out.splitlines()[0])
    assert cv["patch_ba_mean"] > 0.8
    card = (model / "README.md").read_text()
    assert "Evaluation" in card and f"{cv['patch_ba_mean']:.3f}" in card
    data = ModelCard(card).data
    assert_hub_valid_card(data, f"tumor3d-{cohort.task}", f"ionmorph/tumor3d-{cohort.task}")
    assert [r.metric_value for r in data.eval_results] == [round(cv["patch_ba_mean"], 6), round(cv["slide_ba_mean"], 6)]

    slide = cohort.slides[0]
    rc = main(["predict", str(slide.imzml), "--mask", str(slide.mask), "--model", str(model),
               "-o", str(tmp_path / "map.png"), "--report", str(tmp_path / "slide.html")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    report = report_data(out["report"])
    assert len(report["cards"]) == 5 and report["heads"][0]["title"] == "P(tumour)"
    assert "called tumour-bearing" in dict(report["facts"])["call"] and report["heads"][0]["range"][:2] == [0, 1]
    assert out["tumour"] is True and 0 < out["score"] <= 1 and "smoothed" in out["rule"]
    config = json.loads((model / "config.json").read_text())["tumor3d"]
    rule, domain = config["slide_rule"], config["domain"]
    assert out["call"] == "tumour-bearing" and out["threshold"] == round(rule["threshold"], 4)
    assert rule["calibration"]["n_free"] + rule["calibration"]["n_tumour"] == len(cohort.slides)
    assert rule["calibration"]["fpr"] <= 0.05 and out["calibration"] == rule["calibration"]
    assert len(domain["profile_mean"]) == config["n_channels"] and domain["n_slides"] == len(cohort.slides)
    assert out["channels_found"] == f"{config['n_channels']}/{config['n_channels']}" and out["profile_z"] < 3
    assert "## Slide rule" in card and "## Training domain" in card
    assert (tmp_path / "map.png").stat().st_size > 1000 and out["map"] == str(tmp_path / "map.npy")
    prob, ann = np.load(tmp_path / "map.npy"), np.load(slide.mask)
    assert prob.shape == ann.shape and prob.dtype == np.float32
    assert np.isnan(prob[ann == 0]).all() and np.all((prob[ann > 0] >= 0) & (prob[ann > 0] <= 1))
    assert prob[ann == 2].mean() > 0.5 > prob[ann == 1].mean()
    # a rerun replaces its own figure and map; a user's .npy of that name is kept without --force
    args = ["predict", str(slide.imzml), "--mask", str(slide.mask), "--model", str(model), "-o", str(tmp_path / "map.png")]
    assert main(args) == 0
    capsys.readouterr()
    np.save(tmp_path / "mine.npy", np.zeros((2, 2), dtype=np.float32))
    assert main(args[:-1] + [str(tmp_path / "mine.png")]) == 2
    assert "mine.npy" in capsys.readouterr().err and not (tmp_path / "mine.png").exists()
    assert main(args[:-1] + [str(tmp_path / "m.npy")]) == 2 and "beside it as .npy" in capsys.readouterr().err

    rc = main(["explain", "--cohort", str(cohort.root), "--model", str(model), "-o", str(tmp_path / "ig.csv"),
               "-k", "2"])
    assert rc == 0
    assert "precision@2" in capsys.readouterr().out
    with open(tmp_path / "ig.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and np.isclose(float(rows[0]["mz"]), MARKERS, rtol=1e-5).any()


def test_errors_are_one_line(tmp_path, capsys):
    rc = main(["predict", str(tmp_path / "missing.imzML"), "--model", str(tmp_path / "nope")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("tumor3d: error:") and err.count("\n") == 1
    (tmp_path / "cohort").mkdir()
    assert main(["explain", "--cohort", str(tmp_path / "cohort"), "--model", "x", "-o", "t.csv"]) == 2
    assert "patient id" in capsys.readouterr().err


def test_unknown_task_is_one_line_before_the_heavy_imports(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from tumor3d.cli import main; "
            f"rc = main(['train', '--task', 'nope', '--out', {str(tmp_path / 'm')!r}]); "
            "print(rc, [m for m in ('torch', 'timm', 'sklearn') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "2 []", done.stdout + done.stderr
    assert done.stderr.startswith("tumor3d: error: unknown task 'nope'; choose from ") and done.stderr.count("\n") == 1
    assert "tumour-desi" in done.stderr and not (tmp_path / "m").exists()


def test_predict_refuses_a_file_without_the_models_channels(tmp_path, capsys):
    from pyimzml.ImzMLWriter import ImzMLWriter

    cohort = write_toy_cohort(tmp_path / "cohort", n_patients=2, shape=(8, 8))
    model = tmp_path / "model"
    assert main(["train", "--cohort", str(cohort.root), "--out", str(model), "--work", str(tmp_path / "work"),
                 "--selection", "intensity", "--channels", "5", "--patch", "3", "--epochs", "2",
                 "--batch-size", "16"]) == 0
    capsys.readouterr()
    other = tmp_path / "other.imzML"                      # a 3 x 3 file at m/z the model never saw
    with ImzMLWriter(str(other), mode="processed") as w:
        for y in range(3):
            for x in range(3):
                w.addSpectrum(np.array([101.0, 202.0, 303.0]), np.array([5.0, 7.0, 9.0]), (x + 1, y + 1))
    assert main(["predict", str(other), "--model", str(model)]) == 2
    err = capsys.readouterr().err
    assert "other.imzML" in err and "channels carry signal" in err and err.count("\n") == 1
    # explain makes the same check on every slide of the cohort it explains
    foreign = cohort.slides[0].imzml
    with ImzMLWriter(str(foreign), mode="processed") as w:
        for y in range(8):
            for x in range(8):
                w.addSpectrum(np.array([101.0, 202.0, 303.0]), np.array([5.0, 7.0, 9.0]), (x + 1, y + 1))
    assert main(["explain", "--cohort", str(cohort.root), "--model", str(model), "-o", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert foreign.name in err and "channels carry signal" in err and err.count("\n") == 1
    assert not (tmp_path / "t.csv").exists()
