"""Tests of ionmorph.training.train: a short run's outputs, resume, max-hours stop, the CLI, the pieces."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ionmorph.training.train as T
from ionmorph.errors import IonMorphError
from ionmorph.evaluation.classification import classification_metrics, confusion_matrix

from train_testutil import write_tiny_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("corpus"), n_sections=5, n_ions=8)


def _cfg(corpus, out, **kw):
    base = dict(root=corpus, out=out, cache=corpus.parent / "cache", arch="convnextv2_atto", input_size=32,
                epochs=1, batch_size=8, steps_per_epoch=2, threads=1, progress=False, seed=0)
    base.update(kw)
    return T.TrainConfig(**base)


def test_short_run_writes_everything(corpus, tmp_path):
    from ionmorph.models.model import IonMorphNet

    m = T.train(_cfg(corpus, tmp_path, holdout_family=("kidney",)))
    for name in ("metrics.json", "metrics.jsonl", "confusion.png", "last.pt", "best.pt", "splits.json"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["best_epoch"] == 1 and saved["stopped"] == "epochs"
    splits = json.loads((tmp_path / "splits.json").read_text())
    ids = [i for v in splits.values() for i in v]
    assert len(ids) == len(set(ids)) == 5  # every section in exactly one split
    assert saved["n_sections"]["holdout"] == 2 and "family:kidney" in saved["holdout_groups"]
    for part in ("val", "test", "holdout"):
        assert 0.0 <= saved[part]["accuracy"] <= 1.0 and len(saved[part]["per_class"]) == 6
        assert saved[part]["n"] == m["n_images"][part] == 8 * saved["n_sections"][part]
    rec = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert {"train_loss", "val_loss", "val_balanced_accuracy", "val_f1", "train_images_per_s"} <= set(rec)
    # the exported model reloads and carries the run's input size and the best weights
    model = IonMorphNet.from_pretrained(tmp_path / "model")
    best = torch.load(tmp_path / "best.pt", weights_only=False)["model"]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v.float(), best[k].float(), atol=2e-3, rtol=2e-3)
    assert model.preprocess_config.size == 32


def test_resume_continues_and_matches_uninterrupted(corpus, tmp_path, monkeypatch):
    straight = _cfg(corpus, tmp_path / "a", epochs=2, patience=5)
    T.train(straight)
    # interrupted run: crash during the second epoch's validation, then resume
    real_eval, calls = T.evaluate, []

    def crash_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_eval(*a, **k)

    monkeypatch.setattr(T, "evaluate", crash_second)
    with pytest.raises(KeyboardInterrupt):
        T.train(_cfg(corpus, tmp_path / "b", epochs=2, patience=5))
    monkeypatch.setattr(T, "evaluate", real_eval)
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=False)["state"]["epoch"] == 1
    T.train(_cfg(corpus, tmp_path / "b", epochs=2, patience=5, resume=True))
    epochs = [json.loads(x)["epoch"] for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert a["state"]["epoch"] == b["state"]["epoch"] == 2
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k])


def test_max_hours_stops_cleanly_and_resume_needs_checkpoint(corpus, tmp_path):
    m = T.train(_cfg(corpus, tmp_path / "r", epochs=5, steps_per_epoch=None, batch_size=2, max_hours=1e-9))
    assert m["stopped"] == "max_hours" and m["epochs_run"] == 1
    assert (tmp_path / "r" / "model" / "config.json").is_file()
    with pytest.raises(IonMorphError, match="no checkpoint"):
        T.train(_cfg(corpus, tmp_path / "empty", resume=True))


def test_cli_module_entry(corpus, tmp_path, capsys):
    from ionmorph.cli import main                         # python -m ionmorph train / torchrun -m ionmorph train

    rc = main(["train", str(corpus), "-o", str(tmp_path / "cli"), "--cache", str(corpus.parent / "cache"),
                 "--arch", "convnextv2_atto", "--input-size", "32", "--epochs", "1", "--batch-size", "8",
                 "--steps-per-epoch", "1", "--threads", "1", "--no-progress", "--holdout-instrument", "desi"])
    assert rc == 0 and "best epoch 1" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert cfg["holdout_instrument"] == ["desi"] and cfg["arch"] == "convnextv2_atto"
    # bad input: a root without labels gives one clear error line and exit code 2
    assert main(["train", str(tmp_path), "-o", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "no label CSVs" in capsys.readouterr().err


def test_subcommand_registered():
    from ionmorph.cli import build_parser

    args = build_parser(("ionmorph.training.train",)).parse_args(["train", "root", "-o", "out", "--bf16", "--lr", "0.01"])
    cfg = T.config_from_args(args)
    assert cfg.bf16 and cfg.lr == 0.01 and cfg.root == Path("root")


def test_class_weights_and_schedule():
    w = T.class_weights(np.array([0, 0, 0, 1, 2, 2]))
    np.testing.assert_allclose(w[:3], [6 / 9, 2.0, 1.0])
    assert (w[3:] == 0).all()
    f = [T.lr_factor(s, 4, 20, 0.01) for s in range(20)]
    assert f[0] == 0.25 and f[3] == 1.0 and f[4] == 1.0
    assert all(a >= b for a, b in zip(f[4:], f[5:])) and f[-1] > 0.01


def test_evaluation_metrics_by_hand():
    t = [0, 0, 0, 1, 1, 2]
    p = [0, 0, 1, 1, 2, 2]
    cm = confusion_matrix(t, p, 6)
    assert cm[0, 0] == 2 and cm[0, 1] == 1 and cm[1, 2] == 1 and cm.sum() == 6
    m = classification_metrics(t, p)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["per_class"]["structured"]["f1"] == pytest.approx(2 * 2 / (3 + 2))
    assert m["per_class"]["weak_structured"]["f1"] == pytest.approx(2 * 1 / (2 + 2))
    assert m["per_class"]["negative"]["f1"] is None
    with pytest.raises(IonMorphError):
        confusion_matrix([0, 7], [0, 1], 6)


def test_init_starts_from_given_weights_and_checks_them(corpus, tmp_path):
    from ionmorph.models import hub as hub
    from ionmorph.models.model import IonMorphNet
    from ionmorph.models.preprocessing import PreprocessConfig

    torch.manual_seed(5)
    start = IonMorphNet(architecture="convnextv2_atto", preprocess=PreprocessConfig(size=32))
    start.save_pretrained(tmp_path / "start")
    cfg = _cfg(corpus, tmp_path / "run", init=str(tmp_path / "start"), lr=0.0)  # lr 0: weights must not move
    T.train(cfg)
    tuned = IonMorphNet.from_pretrained(tmp_path / "run" / "model")
    record = json.loads((tmp_path / "run" / "init.json").read_text())
    assert record["init"] == str(tmp_path / "start") and record["source"] == "local"
    assert record["sha256"] == hub.sha256_file(tmp_path / "start" / "model.safetensors")   # a local folder too
    for k, v in start.state_dict().items():
        torch.testing.assert_close(tuned.state_dict()[k].float(), v.float(), atol=2e-3, rtol=2e-3)
    with pytest.raises(IonMorphError, match="convnextv2_atto, the run asks for convnextv2_femto"):
        T.train(_cfg(corpus, tmp_path / "bad", init=str(tmp_path / "start"), arch="convnextv2_femto"))
    T.train(_cfg(corpus, tmp_path / "bigger", init=str(tmp_path / "start"), input_size=48))   # size may change
    assert IonMorphNet.from_pretrained(tmp_path / "bigger" / "model").input_size == 48
