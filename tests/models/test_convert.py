"""ionmorph.models.convert: a checkpoint built here in the published format (SPEC 4) converts and predicts alike."""
from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from torch import nn

from ionmorph.cli import run
from ionmorph.models.convert import convert_checkpoint, unwrap_key
from ionmorph.errors import WeightsError
from ionmorph.labels import CLASSES
from ionmorph.models.model import IonMorphNet

#: A shuffled class order, so the conversion must permute the classifier rows.
PUBLISHED_ORDER = ["negative", "structured", "unstructured", "localized", "weak_structured", "fragmented"]


class _Dropout(nn.Module):
    """Stand-in of the published weight-dropout wrapper: the wrapped layer sits in ``.module``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x)


def _wrap(model: nn.Module) -> nn.Module:
    for name, child in list(model.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv2d)):
            setattr(model, name, _Dropout(child))
        else:
            _wrap(child)
    return model


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """(checkpoint path, run_meta path, the original timm model) in the published format."""
    d = tmp_path_factory.mktemp("published")
    torch.manual_seed(0)
    net = timm.create_model("convnextv2_atto", pretrained=False, in_chans=1, num_classes=6).eval()
    ref = timm.create_model("convnextv2_atto", pretrained=False, in_chans=1, num_classes=6).eval()
    ref.load_state_dict(net.state_dict())
    wrapped = _wrap(net)
    opt = torch.optim.AdamW(wrapped.parameters(), lr=3e-4)
    wrapped(torch.rand(2, 1, 32, 32)).sum().backward()
    opt.step()
    ref.load_state_dict({unwrap_key(k): v for k, v in wrapped.state_dict().items()})
    ckpt = {"epoch": 41, "model": wrapped.state_dict(), "optimizer": opt.state_dict(), "labels": PUBLISHED_ORDER,
            "input_hw": (32, 32), "best_val_loss": 0.61, "best_val_acc": 0.83,
            "hyperparams": {"model_name": "convnextv2_atto", "lr": 3e-4, "batch_size": 16, "drop_path": 0.05}}
    torch.save(ckpt, d / "best_model.pt")
    (d / "run_meta.json").write_text(json.dumps({"run": "r1", "git": "abc", "datasets": ["x", "y"]}))
    return d / "best_model.pt", d / "run_meta.json", ref


def test_published_names_carry_the_extra_module_level(published):
    keys = torch.load(published[0], weights_only=True)["model"].keys()
    assert "stem.0.module.weight" in keys and "stages.1.blocks.0.mlp.fc1.module.weight" in keys
    assert unwrap_key("stages.1.blocks.0.mlp.fc1.module.weight") == "stages.1.blocks.0.mlp.fc1.weight"
    assert unwrap_key("module.stem.0.module.bias") == "stem.0.bias"
    assert unwrap_key("stages.0.blocks.0.mlp.grn.weight") == "stages.0.blocks.0.mlp.grn.weight"


def test_conversion_predicts_like_the_original(published, tmp_path):
    ckpt, meta, ref = published
    out = convert_checkpoint(ckpt, meta, tmp_path / "conv", dtype="float32")
    model = IonMorphNet.from_pretrained(out)
    assert model.classes == CLASSES and model.architecture == "convnextv2_atto" and model.input_size == 32
    x = np.random.default_rng(0).random((4, 1, 32, 32), dtype=np.float32)
    with torch.inference_mode():
        want = torch.softmax(ref(torch.from_numpy(x)), 1).numpy()
    got = model.predict_proba(x)
    order = [PUBLISHED_ORDER.index(c) for c in CLASSES]
    np.testing.assert_allclose(got, want[:, order], atol=1e-5)
    summary = json.loads((out / "config.json").read_text())["ionmorph"]["training"]
    assert summary["epoch"] == 41 and summary["best_val_acc"] == 0.83 and summary["hyperparams"]["lr"] == 3e-4
    assert summary["run_meta"] == {"run": "r1", "git": "abc"} and summary["checkpoint_classes"] == PUBLISHED_ORDER
    assert "published preprocessing" in (out / "README.md").read_text()


def main(argv: list[str]) -> int:
    return run(argv, ("ionmorph.cli.convert",), "ionmorph")


def test_cli_converts_and_reports_errors(published, tmp_path, capsys):
    ckpt, meta, _ = published
    assert main(["convert-checkpoint", str(ckpt), str(meta), str(tmp_path / "cli")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert IonMorphNet.from_pretrained(tmp_path / "cli").version == "published"
    assert main(["convert-checkpoint", str(tmp_path / "nope.pt"), str(meta), str(tmp_path / "x")]) == 2
    assert "nope.pt: checkpoint not found" in capsys.readouterr().err


def test_bad_checkpoints_raise_weights_errors(published, tmp_path):
    ckpt, meta, _ = published
    good = torch.load(ckpt, weights_only=True)
    broken = {**good, "model": {k: v for k, v in good["model"].items() if not k.startswith("head.fc")}}
    torch.save(broken, tmp_path / "headless.pt")
    with pytest.raises(WeightsError, match=r"headless.pt: .*2 missing keys \(head.fc.bias, head.fc.weight\)"):
        convert_checkpoint(tmp_path / "headless.pt", meta, tmp_path / "o1")
    torch.save({"model": good["model"]}, tmp_path / "nolabels.pt")
    with pytest.raises(WeightsError, match="missing key\\(s\\) labels"):
        convert_checkpoint(tmp_path / "nolabels.pt", meta, tmp_path / "o2")
    torch.save({**good, "hyperparams": {**good["hyperparams"], "when": np.datetime64("2024-01-01")}},
               tmp_path / "pickled.pt")
    with pytest.raises(WeightsError, match="weights-only load refuses"):
        convert_checkpoint(tmp_path / "pickled.pt", meta, tmp_path / "o3")
    assert convert_checkpoint(tmp_path / "pickled.pt", meta, tmp_path / "o3", trusted=True).is_dir()
    with pytest.raises(WeightsError, match="run_meta.json not found"):
        convert_checkpoint(ckpt, tmp_path / "run_meta.json", tmp_path / "o4")
