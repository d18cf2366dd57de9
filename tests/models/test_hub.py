"""ionmorph.models.hub: weights folders, the registry (sha256), a pre-filled HF cache, strict loading, pushing."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from ionmorph.models import hub as hub
from ionmorph.errors import InputError, OutputError, WeightsError
from ionmorph.models.hub import PretrainedMixin, register_weights, resolve_weights
from card_testutil import assert_hub_valid_card
from hub_testutil import fill_hf_cache


class Tiny(PretrainedMixin, nn.Module):
    """A two-layer model of a test family, with a batch-norm buffer (integer counter included)."""

    family = "tiny-test"

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.width = width
        self.lin = nn.Linear(3, width)
        self.bn = nn.BatchNorm1d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.lin(x))

    def hub_config(self) -> dict:
        return {"width": self.width}

    @classmethod
    def _from_hub_config(cls, config: dict) -> "Tiny":
        return cls(width=config["width"])


class Other(Tiny):
    family = "other-test"


@pytest.fixture
def weights(tmp_path, monkeypatch) -> Path:
    """An empty weights directory used as the registry location."""
    d = tmp_path / "weights"
    d.mkdir()
    monkeypatch.setenv("IONMORPH_WEIGHTS_DIR", str(d))
    return d


def _model(seed: int = 0, width: int = 4) -> Tiny:
    torch.manual_seed(seed)
    m = Tiny(width)
    m.bn.running_mean.uniform_(-1, 1)
    m.bn.num_batches_tracked.fill_(7)
    return m.eval()


def test_local_folder_round_trip_float32_exact(tmp_path):
    m = _model()
    out = m.save_pretrained(tmp_path / "w", dtype="float32")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg == {"width": 4, "family": "tiny-test", "sha256": {"model.safetensors": hub.sha256_file(out / "model.safetensors")}}
    assert (out / "README.md").read_text().startswith("---\nlibrary_name: ionmorph")
    back = Tiny.from_pretrained(out)
    assert not back.training and back.weights_source.source == "local"
    for k, v in m.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    assert int(back.bn.num_batches_tracked) == 7


def test_float16_storage_halves_the_file_and_loads_as_float32(tmp_path):
    m = _model()
    a = m.save_pretrained(tmp_path / "a", dtype="float32")
    b = m.save_pretrained(tmp_path / "b")  # float16 default
    from safetensors.torch import load_file

    stored = load_file(str(b / "model.safetensors"))
    assert stored["lin.weight"].dtype == torch.float16 and stored["bn.num_batches_tracked"].dtype == torch.int64
    back = Tiny.from_pretrained(b)
    assert back.lin.weight.dtype == torch.float32
    torch.testing.assert_close(back.lin.weight, m.lin.weight, atol=1e-3, rtol=1e-3)
    assert (b / "model.safetensors").stat().st_size < (a / "model.safetensors").stat().st_size


def test_float16_overflow_is_refused(tmp_path):
    m = _model()
    with torch.no_grad():
        m.lin.weight[0, 0] = 1e6
    with pytest.raises(WeightsError, match="overflow float16"):
        m.save_pretrained(tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_save_replaces_weights_folder_but_refuses_foreign_folder(tmp_path):
    out = _model(0).save_pretrained(tmp_path / "w", dtype="float32")
    _model(1).save_pretrained(out, card="# new\n", dtype="float32")
    assert (out / "README.md").read_text() == "# new\n"
    torch.testing.assert_close(Tiny.from_pretrained(out).lin.weight, _model(1).lin.weight)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="mine: already exists"):
        _model().save_pretrained(foreign)
    with pytest.raises(OutputError, match="already exists"):         # another family's folder is not ours
        Other().save_pretrained(out)
    assert (foreign / "notes.txt").read_text() == "keep me" and len(list(foreign.iterdir())) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_strict_loading_errors_name_the_problem(tmp_path):
    out = _model().save_pretrained(tmp_path / "w")
    with pytest.raises(WeightsError, match="'tiny-test' weights, not 'other-test'"):
        Other.from_pretrained(out)
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, "width": 5}))
    with pytest.raises(WeightsError, match=r"model.safetensors: .*wrong shapes \(lin.weight \(4, 3\) != \(5, 3\)"):
        Tiny.from_pretrained(out)
    (out / "config.json").write_text(json.dumps(cfg))
    from safetensors.torch import load_file, save_file

    state = load_file(str(out / "model.safetensors"))
    state["extra.weight"] = torch.zeros(2)
    del state["bn.running_var"]
    save_file(state, str(out / "model.safetensors"))
    with pytest.raises(WeightsError, match=r"1 missing keys \(bn.running_var\); 1 unexpected keys \(extra.weight\)"):
        Tiny.from_pretrained(out, verify=False)              # (with verify, the recorded sha256 fails first)
    (out / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="unreadable safetensors"):
        Tiny.from_pretrained(out, verify=False)
    (out / "config.json").unlink()
    with pytest.raises(WeightsError, match="config.json: missing"):
        Tiny.from_pretrained(out)


def test_corrupted_local_folder_is_refused_by_its_recorded_sha256(tmp_path):
    out = _model().save_pretrained(tmp_path / "w", dtype="float32")
    recorded = json.loads((out / "config.json").read_text())["sha256"]["model.safetensors"]
    data = bytearray((out / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF                                      # one flipped byte in a tensor: still a valid file
    (out / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError) as info:
        Tiny.from_pretrained(out)
    msg = str(info.value)
    assert "sha256 mismatch: its config.json expects" in msg and recorded in msg and "\n" not in msg
    assert str(out / "model.safetensors") in msg
    assert Tiny.from_pretrained(out, verify=False).weights_source.source == "local"


def test_saved_folders_keep_the_users_umask(tmp_path):
    import stat

    umask = os.umask(0o022)
    try:
        out = _model().save_pretrained(tmp_path / "w")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {
        "config.json": 0o644, "model.safetensors": 0o644, "README.md": 0o644}


def test_registry_resolves_default_and_tagged_revisions(weights):
    v1 = _model(0).save_pretrained(weights / "tiny-v1")
    v2 = _model(1).save_pretrained(weights / "tiny-v2")
    register_weights("tiny", "v0.1.0", v1, repo_id="org/tiny")
    entry = register_weights("tiny", "v0.2.0", v2)
    assert entry["default"] == "v0.2.0" and entry["repo_id"] == "org/tiny" and entry["family"] == "tiny-test"
    reg = json.loads((weights / "registry.json").read_text())
    rec = reg["models"]["tiny"]["revisions"]["v0.1.0"]
    assert rec == {"folder": "tiny-v1", "revision": "v0.1.0",
                   "sha256": hashlib.sha256((v1 / "model.safetensors").read_bytes()).hexdigest()}
    latest = Tiny.from_pretrained("tiny")
    assert latest.weights_source.revision == "v0.2.0" and latest.weights_source.source == "checkout"
    torch.testing.assert_close(latest.lin.weight, Tiny.from_pretrained(v2).lin.weight)
    old = Tiny.from_pretrained("tiny", revision="v0.1.0")
    torch.testing.assert_close(old.lin.weight, Tiny.from_pretrained(v1).lin.weight)
    with pytest.raises(WeightsError, match="no revision 'v9'.*known: v0.1.0, v0.2.0"):
        Tiny.from_pretrained("tiny", revision="v9")


def test_republishing_a_folder_replaces_its_old_revision(weights):
    folder = _model(0).save_pretrained(weights / "tiny")
    register_weights("tiny", "v0.1.0", folder)
    _model(1).save_pretrained(folder)
    entry = register_weights("tiny", "v0.2.0", folder)
    assert list(entry["revisions"]) == ["v0.2.0"] and entry["default"] == "v0.2.0"
    assert Tiny.from_pretrained("tiny").weights_source.revision == "v0.2.0"


def test_registry_sha256_mismatch_is_a_clear_error(weights):
    folder = _model().save_pretrained(weights / "tiny")
    register_weights("tiny", "v1", folder)
    expected = json.loads((weights / "registry.json").read_text())["models"]["tiny"]["revisions"]["v1"]["sha256"]
    _model(5).save_pretrained(folder)  # the file changes behind the registry's back
    actual = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    with pytest.raises(WeightsError) as info:
        Tiny.from_pretrained("tiny")
    msg = str(info.value)
    assert str(folder / "model.safetensors") in msg and expected in msg and actual in msg and "sha256 mismatch" in msg
    assert Tiny.from_pretrained("tiny", verify=False).weights_source.revision == "v1"


def test_register_refuses_folders_outside_the_weights_dir(weights, tmp_path):
    folder = _model().save_pretrained(tmp_path / "elsewhere")
    with pytest.raises(WeightsError, match="not inside the weights directory"):
        register_weights("tiny", "v1", folder)
    with pytest.raises(WeightsError, match="config.json: missing"):
        register_weights("tiny", "v1", weights)


def test_unknown_name_lists_what_was_tried(weights):
    with pytest.raises(WeightsError, match="not a local folder, not a name in .*registry.json"):
        resolve_weights("no-such-weights")
    (weights / "registry.json").write_text(json.dumps({"models": {"pending": {"revisions": {}, "default": None}}}))
    with pytest.raises(WeightsError, match="'pending' is registered .* no published revision"):
        resolve_weights("pending")
    (weights / "registry.json").write_text("{not json")
    with pytest.raises(WeightsError, match="registry.json: not valid JSON"):
        resolve_weights("pending")


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return cache


def test_prefilled_hf_cache_by_repo_id_and_by_registry(hf_cache, weights, tmp_path):
    src = _model(3).save_pretrained(tmp_path / "src")
    commit = fill_hf_cache(hf_cache, "org/tiny", "v0.3.0", src)
    m = Tiny.from_pretrained("org/tiny", revision="v0.3.0")
    assert m.weights_source.source == "hf-cache" and m.weights_source.folder.name == commit
    torch.testing.assert_close(m.lin.weight, Tiny.from_pretrained(src).lin.weight)
    # a registered revision without a local folder comes from the cache, sha256 checked
    sha = hub.sha256_file(src / "model.safetensors")
    reg = {"format": 1, "models": {"tiny": {"family": "tiny-test", "repo_id": "org/tiny", "default": "v0.3.0",
                                            "revisions": {"v0.3.0": {"folder": "tiny", "sha256": sha}}}}}
    (weights / "registry.json").write_text(json.dumps(reg))
    assert Tiny.from_pretrained("tiny").weights_source.sha256 == sha
    reg["models"]["tiny"]["revisions"]["v0.3.0"]["sha256"] = "0" * 64
    (weights / "registry.json").write_text(json.dumps(reg))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        Tiny.from_pretrained("tiny")


def test_hf_cache_miss_offline_is_a_clear_error(hf_cache, monkeypatch, tmp_path):
    fill_hf_cache(hf_cache, "org/tiny", "v1", _model().save_pretrained(tmp_path / "src"))
    with pytest.raises(WeightsError, match=r"'org/tiny' \(revision v2\) not found in the local Hugging Face cache"):
        Tiny.from_pretrained("org/tiny", revision="v2")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))   # HF_HUB_CACHE wins over HF_HOME
    with pytest.raises(WeightsError, match="not found in the local Hugging Face cache"):
        Tiny.from_pretrained("org/tiny", revision="v1")


def test_push_to_hub_uploads_and_tags(tmp_path, monkeypatch):
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw["exist_ok"]))

        def upload_folder(self, **kw):
            calls.append(("upload", kw["repo_id"], Path(kw["folder_path"]), tuple(kw["allow_patterns"])))
            return SimpleNamespace(oid="abc123")

        def create_tag(self, repo_id, *, tag, revision, **kw):
            calls.append(("tag", repo_id, tag, revision))

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    folder = _model().save_pretrained(tmp_path / "w")
    assert hub.push_to_hub(folder, "org/tiny", "v0.1.0", token="t0k") == "abc123"
    assert calls == [("init", "t0k"), ("create_repo", "org/tiny", True),
                     ("upload", "org/tiny", folder, ("README.md", "config.json", "model.safetensors")),
                     ("tag", "org/tiny", "v0.1.0", "abc123")]
    with pytest.raises(WeightsError, match="config.json: missing"):
        hub.push_to_hub(tmp_path, "org/tiny", "v0.1.0")


def test_device_argument_and_predictions_survive(tmp_path):
    m = _model()
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32))
    back = Tiny.from_pretrained(m.save_pretrained(tmp_path / "w", dtype=None), device="cpu")
    torch.testing.assert_close(back(x), m(x))


def _family_classes() -> dict:
    from ionmorph.models.model import IonMorphNet
    from tumor3d.model import Tumor3DNet

    return {cls.family: cls for cls in (IonMorphNet, Tumor3DNet)}


def test_every_registered_tag_loads_and_matches_its_hashes(monkeypatch):
    monkeypatch.delenv("IONMORPH_WEIGHTS_DIR", raising=False)
    reg = hub.load_registry()
    assert hub.registry_path() == hub.PACKAGE_REGISTRY and reg["models"]
    classes = _family_classes()
    for name, entry in reg["models"].items():
        assert entry["repo_id"] and entry["default"] in entry["revisions"], name
        for tag, rec in entry["revisions"].items():
            assert set(rec) <= {"folder", "revision", "sha256", "onnx_sha256"} and rec["revision"], (name, tag)
            model = classes[entry["family"]].from_pretrained(name, revision=tag)
            src = model.weights_source
            assert (src.source, src.revision, src.sha256) == ("checkout", tag, rec["sha256"])
            assert hub.recorded_sha256(src.folder) == rec["sha256"]      # config.json agrees with the registry


def test_docs_name_only_registered_tags():
    import re

    root = Path(__file__).resolve().parents[2]
    tags = {t for e in hub.load_registry(hub.PACKAGE_REGISTRY)["models"].values() for t in e["revisions"]}
    text = (root / "README.md").read_text()
    table = text[text.index("## Weights"):text.index("##", text.index("## Weights") + 3)]
    assert set(re.findall(r"\| (v\d+\.\d+\.\d+) \|", table)) <= tags


def test_weights_cli_list_download_verify(tmp_path, capsys, monkeypatch):
    from ionmorph.cli import main

    monkeypatch.delenv("IONMORPH_WEIGHTS_DIR", raising=False)
    assert main(["weights", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {(w["name"], w["tag"]) for w in listed["weights"]} >= {("tumor3d-tumour-desi", "v0.3.0")}
    assert main(["weights", "download", "tumor3d-tumour-desi"]) == 0
    assert "matches the registry and config.json" in capsys.readouterr().out
    out = _model().save_pretrained(tmp_path / "w")
    assert main(["weights", "verify", str(out)]) == 0
    assert "matches the config.json" in capsys.readouterr().out
    with open(out / "model.safetensors", "r+b") as fh:
        fh.seek(-1, 2)
        fh.write(b"\x7f")
    assert main(["weights", "verify", str(out)]) == 2
    err = capsys.readouterr().err
    assert "sha256 mismatch" in err and str(out / "model.safetensors") in err and err.count("\n") == 1
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    assert main(["weights", "download", "org/not-cached"]) == 2
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err


def test_weights_list_says_where_each_version_is(hf_cache, weights, tmp_path, capsys):
    from ionmorph.cli import main

    here = _model(1).save_pretrained(weights / "tiny-here")
    cached = _model(2).save_pretrained(tmp_path / "src")
    commit = fill_hf_cache(hf_cache, "org/tiny", "v2", cached)
    revs = {"v1": {"folder": "tiny-here", "revision": "v1"}, "v2": {"folder": "tiny-v2", "revision": "v2"},
            "v3": {"folder": "tiny-v3", "revision": "v3"}}
    reg = {"format": 1, "models": {"tiny": {"family": "tiny-test", "repo_id": "org/tiny", "default": "v2",
                                            "revisions": revs}}}
    (weights / "registry.json").write_text(json.dumps(reg))
    assert main(["weights", "list", "--json"]) == 0
    rows = {r["tag"]: (r["available"], r["folder"]) for r in json.loads(capsys.readouterr().out)["weights"]}
    assert rows["v1"] == ("checkout", str(here)) and rows["v3"] == (None, None)
    assert rows["v2"][0] == "hf-cache" and Path(rows["v2"][1]).name == commit
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert f"local: checkout weights/ {here}" in lines[0]
    assert "(default)" in lines[1] and "local: Hugging Face cache" in lines[1] and commit in lines[1]
    assert lines[2].endswith("not on this machine ('ionmorph weights download' or 'ionmorph weights import')")


def test_shipped_model_cards_are_hub_valid():
    from huggingface_hub import ModelCard

    root = Path(__file__).resolve().parents[2] / "weights"
    for name, entry in hub.load_registry(hub.PACKAGE_REGISTRY)["models"].items():
        data = ModelCard.load(root / entry["revisions"][entry["default"]]["folder"] / "README.md").data
        assert_hub_valid_card(data, name, entry["repo_id"] if entry["family"] == "tumor3d" else None)


def test_generated_ionmorphnet_card_is_hub_valid():
    """The card the publish script writes from a training run's metrics.json parses with model-index entries."""
    import importlib.util

    from huggingface_hub import ModelCard

    from ionmorph.models.model import IonMorphNet, model_card
    from ionmorph.models.preprocessing import PreprocessConfig

    script = Path(__file__).resolve().parents[2] / "weights" / "publish_ionmorphnet.py"
    spec = importlib.util.spec_from_file_location("publish_ionmorphnet", script)
    publish = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(publish)

    def split(n, acc, ba, f1s):
        return {"n": n, "accuracy": acc, "balanced_accuracy": ba,
                "per_class": {c: {"f1": f} for c, f in zip(("structured", "localized"), f1s)}}

    metrics = {"val": split(600, 0.72, 0.70, (0.8, None)), "test": split(500, 0.68, 0.67, (0.75, 0.49)),
               "holdout_groups": {"family:vessels": split(90, 0.5, 0.45, (0.6, 0.3))}}
    model = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="0.3.1")
    notes = "| real section | agreement |\n|---|---|\n| barley | 0.44 |"
    card = ModelCard(model_card(model, metrics=publish.metric_rows(metrics), datasets=["ionmorph-synth"],
                                evaluation_notes=notes))
    data = card.data
    assert_hub_valid_card(data, "ionmorphnet-convnextv2-atto")
    got = {(r.dataset_name, r.dataset_split, r.metric_name): r.metric_value for r in data.eval_results}
    assert len(got) == 3 + 4 + 4                              # n and the missing F1 (None -> nan) stay out
    assert got[("validation (simulated, seen families)", "validation", "balanced accuracy (macro recall)")] == 0.70
    assert got[("test (simulated, seen families)", "test", "F1 localized")] == 0.49
    assert got[("held-out family vessels (never trained on)", None, "accuracy")] == 0.5
    assert notes in card.text and "| validation (simulated, seen families) | nan |" in card.text
    with pytest.raises(InputError, match="metrics need datasets"):
        model_card(model, metrics={"test": {"accuracy": 0.5}})


# ----------------------------------------------------------------------------- weights without the Hub (issue 22)
def _registered(weights: Path, seed: int = 0) -> tuple[Path, str]:
    """A tiny weights folder registered as 'tiny' v1 (repo org/tiny) in the private registry; its sha256."""
    folder = _model(seed).save_pretrained(weights / "tiny")
    register_weights("tiny", "v1", folder, repo_id="org/tiny")
    return folder, hub.sha256_file(folder / "model.safetensors")


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from ionmorph.cli import main

    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc: int, err: str, *needles: str) -> None:
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_export_then_import_resolves_offline_from_the_hf_cache(hf_cache, weights, tmp_path, capsys):
    folder, sha = _registered(weights)
    rc, out, _ = _cli(["weights", "export", "tiny", str(tmp_path / "tiny.zip")], capsys)
    assert rc == 0 and "ionmorph weights import tiny.zip" in out
    import zipfile

    assert sorted(zipfile.ZipFile(tmp_path / "tiny.zip").namelist()) == [
        "tiny-v1/README.md", "tiny-v1/config.json", "tiny-v1/model.safetensors"]
    (weights / "tiny").rename(tmp_path / "moved")           # this machine no longer has the folder
    with pytest.raises(WeightsError):
        Tiny.from_pretrained("tiny")
    rc, out, _ = _cli(["weights", "import", str(tmp_path / "tiny.zip")], capsys)
    assert rc == 0 and "model.safetensors sha256" in out and "matches tiny v1 in the registry" in out
    m = Tiny.from_pretrained("tiny")                        # offline (HF_HUB_OFFLINE=1), no environment to set
    assert m.weights_source.source == "hf-cache" and m.weights_source.folder.is_relative_to(hf_cache)
    assert hub.sha256_file(m.weights_source.folder / "model.safetensors") == sha
    torch.testing.assert_close(m.lin.weight, Tiny.from_pretrained(tmp_path / "moved").lin.weight)
    from huggingface_hub import scan_cache_dir

    assert {r.repo_id for r in scan_cache_dir(hf_cache).repos} == {"org/tiny"}   # huggingface_hub reads it as its own
    rc, out, _ = _cli(["weights", "import", str(tmp_path / "moved")], capsys)      # a folder imports the same
    assert rc == 0 and str(m.weights_source.folder) in out
    rc, out, _ = _cli(["weights", "list", "--json"], capsys)
    assert json.loads(out)["weights"][0]["available"] == "hf-cache"


def test_import_refuses_what_the_registry_does_not_vouch_for(hf_cache, weights, tmp_path, capsys):
    import zipfile

    folder, _ = _registered(weights)
    cases = []
    stranger = _model(7).save_pretrained(tmp_path / "stranger")            # not a registered version
    cases.append((stranger, ["is no registered weights version", "registered: tiny v1", "--model FOLDER"]))
    bad = tmp_path / "corrupt"                                             # registered file, config records another
    _model(7).save_pretrained(bad)
    (bad / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    cases.append((bad, [str(bad / "model.safetensors"), "sha256 mismatch: its config.json expects"]))
    other = tmp_path / "other-family"                                      # the registered bytes, another family
    shutil.copytree(folder, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["family"] = "other-test"
    (other / "config.json").write_text(json.dumps(cfg))
    cases.append((other, ["holds 'other-test' weights, but tiny is 'tiny-test'"]))
    (tmp_path / "notzip.zip").write_bytes(b"PK not really")
    cases.append((tmp_path / "notzip.zip", ["not a readable zip file"]))
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as z:
        z.writestr("notes.txt", "hello")
    cases.append((tmp_path / "empty.zip", ["holds no config.json"]))
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        for d in ("a", "b"):
            z.write(folder / "config.json", f"{d}/config.json")
    cases.append((tmp_path / "two.zip", ["holds 2 weights folders (a, b)"]))
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:                 # members are taken by name only
        z.write(folder / "config.json", "../../config.json")
        z.write(folder / "model.safetensors", "../../model.safetensors")
    cases.append((tmp_path / "nothing-here", ["no such weights folder or zip"]))
    (tmp_path / "half").mkdir()
    cases.append((tmp_path / "half", ["has no config.json"]))
    for path, needles in cases:
        rc, _, err = _cli(["weights", "import", str(path)], capsys)
        _one_line_error(rc, err, *needles)
    assert not any(hf_cache.iterdir())                                      # nothing was placed
    rc, out, _ = _cli(["weights", "import", str(tmp_path / "evil.zip")], capsys)
    assert rc == 0 and not (tmp_path.parent / "config.json").exists()
    reg = json.loads((weights / "registry.json").read_text())
    reg["models"]["tiny"]["repo_id"] = None
    (weights / "registry.json").write_text(json.dumps(reg))
    rc, _, err = _cli(["weights", "import", str(folder)], capsys)
    _one_line_error(rc, err, "tiny has no repo_id", "--model FOLDER")


def test_export_refuses_bad_outputs_and_unknown_weights(weights, tmp_path, capsys):
    _registered(weights)
    (tmp_path / "taken.zip").write_bytes(b"mine")
    for argv, needles in ((["tiny", str(tmp_path / "w.tar")], ["give a file name ending in .zip"]),
                          (["tiny", str(tmp_path / "taken.zip")], [str(tmp_path / "taken.zip")]),
                          (["no-such", str(tmp_path / "x.zip")], ["'no-such' not found"])):
        rc, _, err = _cli(["weights", "export", *argv], capsys)
        _one_line_error(rc, err, *needles)
    assert (tmp_path / "taken.zip").read_bytes() == b"mine" and not (tmp_path / "x.zip").exists()
    rc, _, _ = _cli(["weights", "export", "tiny", str(tmp_path / "taken.zip"), "--force"], capsys)
    assert rc == 0 and (tmp_path / "taken.zip").read_bytes()[:2] == b"PK"


def test_unresolvable_weights_fail_in_one_line_naming_the_way_out(hf_cache, weights, tmp_path, monkeypatch, capsys):
    folder, _ = _registered(weights)
    (weights / "tiny").rename(tmp_path / "gone")
    hint = ["ionmorph weights export tiny WEIGHTS.zip", "ionmorph weights import WEIGHTS.zip", "--model FOLDER"]
    rc, _, err = _cli(["weights", "download", "tiny"], capsys)             # offline: the Hub is not asked
    _one_line_error(rc, err, "HF_HUB_OFFLINE is set", str(hf_cache), *hint)
    monkeypatch.delenv("HF_HUB_OFFLINE")

    def no_network(repo_id, revision, local_only):
        from huggingface_hub.errors import LocalEntryNotFoundError

        raise LocalEntryNotFoundError("An error happened while trying to locate the files on the Hub.\n"
                                      "Name or service not known\n(more lines)")

    monkeypatch.setattr(hub, "_from_hub", no_network)
    rc, _, err = _cli(["weights", "download", "tiny"], capsys)              # online, but no network
    _one_line_error(rc, err, "nor on the Hugging Face Hub (LocalEntryNotFoundError: An error happened", *hint)
    assert "Name or service" not in err


def test_weights_dir_may_be_a_checkout_weights_folder_without_registry(monkeypatch, tmp_path):
    """IONMORPH_WEIGHTS_DIR at a checkout's weights/ (no registry.json) uses the packaged registry."""
    from tumor3d.model import Tumor3DNet

    checkout = Path(__file__).resolve().parents[2] / "weights"
    monkeypatch.setenv("IONMORPH_WEIGHTS_DIR", str(tmp_path))
    shutil.copytree(checkout / "tumor3d-tumour-desi", tmp_path / "tumor3d-tumour-desi")
    assert hub.registry_path() == hub.PACKAGE_REGISTRY
    model = Tumor3DNet.from_pretrained("tumor3d-tumour-desi")
    assert (model.weights_source.source, model.weights_source.folder) == ("checkout", tmp_path / "tumor3d-tumour-desi")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(WeightsError, match="not found in the local Hugging Face cache .*weights import"):
        resolve_weights("ionmorphnet-convnextv2-tiny")           # registered, but not in this weights dir: not "known: none"


def test_verify_fails_a_corrupted_graph(tmp_path, capsys):
    """A model.onnx (in the folder or the cache) that differs from the hash recorded for it fails verify."""
    from ionmorph.models.model import IonMorphNet
    from ionmorph.models.onnx_model import add_onnx, load_onnx
    from ionmorph.models.preprocessing import PreprocessConfig

    torch.manual_seed(3)
    folder = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32)).save_pretrained(tmp_path / "w")
    add_onnx(folder)
    rc, out, _ = _cli(["weights", "verify", str(folder)], capsys)
    assert rc == 0 and "model.onnx exported into the cache" in out and "equals the published graph's" in out
    graph = load_onnx(folder).graph
    shutil.copy(graph, folder / "model.onnx")
    rc, out, _ = _cli(["weights", "verify", str(folder)], capsys)
    assert rc == 0 and "model.onnx sha256" in out and "matches the config.json" in out
    with open(folder / "model.onnx", "r+b") as fh:
        fh.seek(-1, 2)
        fh.write(b"\x00")
    rc, _, err = _cli(["weights", "verify", str(folder)], capsys)
    _one_line_error(rc, err, str(folder / "model.onnx"), "sha256 mismatch")
    (folder / "model.onnx").unlink()
    graph.write_bytes(graph.read_bytes()[:-1])
    rc, _, err = _cli(["weights", "verify", str(folder)], capsys)
    _one_line_error(rc, err, str(graph), "cached ONNX graph was changed or corrupted")
