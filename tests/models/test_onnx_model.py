"""The ONNX graph of a weights folder: exported on first use into the cache and checked, registry hashes,
torch-free CPU inference once cached."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ionmorph.models import hub as hub
from ionmorph.errors import WeightsError
from ionmorph.models.inference import PROB_TOLERANCE, Classifier, OnnxClassifier, _may_have_gpu, clear_cache, get_classifier
from ionmorph.models.model import IonMorphNet
from ionmorph.models.onnx_model import (OnnxIonMorphNet, add_onnx, cached_graph, check_images, graph_cache_path,
                                       graph_record, load_onnx)
from ionmorph.models.preprocessing import PreprocessConfig
from msi_testutil import random_spectra, write_imzml

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "weights" / "ionmorphnet-convnextv2-tiny"


@pytest.fixture(scope="module")
def onnx_weights(tmp_path_factory) -> Path:
    """A tiny IonMorphNet weights folder (fp16 safetensors, like the published ones) with its recorded graph hash."""
    torch.manual_seed(4)
    folder = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="test").save_pretrained(
        tmp_path_factory.mktemp("w") / "tiny")
    with pytest.MonkeyPatch.context() as mp:               # the publisher's cache, not the tests'
        mp.setenv("IONMORPH_CACHE", str(tmp_path_factory.mktemp("publisher-cache")))
        add_onnx(folder)
    return folder


@pytest.fixture(scope="module")
def section(tmp_path_factory) -> tuple[Path, np.ndarray]:
    coords = [(x, y) for y in range(1, 7) for x in range(1, 9) if (x, y) != (1, 1)]
    common, spectra = random_spectra(len(coords), seed=7, n_peaks=25)
    return write_imzml(tmp_path_factory.mktemp("s") / "sec.imzML", spectra, coords), common


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IONMORPH_CACHE", str(tmp_path / "cache"))
    yield
    clear_cache()


def _copy(folder: Path, dst: Path) -> Path:
    shutil.copytree(folder, dst)
    return dst


def test_add_onnx_records_the_graph_and_matches_eager(onnx_weights, tmp_path):
    block = json.loads((onnx_weights / "config.json").read_text())["onnx"]
    assert not (onnx_weights / "model.onnx").exists()                 # publishing no longer ships the graph
    assert block["weights_sha256"] == hub.sha256_file(onnx_weights / "model.safetensors")
    assert block["max_abs_prob_diff"] <= PROB_TOLERANCE and block["check_images"] == 32
    assert block["exported_with"]["torch"] == torch.__version__.split("+")[0] and block["opset"] == 17
    model = IonMorphNet.from_pretrained(onnx_weights)
    x = np.concatenate([check_images(32, n=9, seed=3), np.random.default_rng(0).random((4, 1, 32, 32), np.float32)])
    graph = load_onnx(onnx_weights)                                    # first use: exported into this test's cache
    assert isinstance(graph, OnnxIonMorphNet) and graph.classes == model.classes
    assert graph.graph == graph_cache_path(onnx_weights) and graph.graph.is_relative_to(tmp_path / "cache")
    assert hub.sha256_file(graph.graph) == block["sha256"]             # the export is byte-deterministic
    assert graph_record(graph.graph)["matches_published"] is True
    assert (graph.architecture, graph.version, graph.input_size) == ("convnextv2_atto", "test", 32)
    got = graph.predict_proba(x, batch_size=5)                # 13 = 5 + 5 + 3: dynamic batch axis
    assert got.shape == (13, 6) and got.dtype == np.float32
    assert np.abs(got - model.predict_proba(x)).max() <= PROB_TOLERANCE
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)


def test_add_onnx_refuses_a_graph_outside_the_tolerance(onnx_weights, tmp_path):
    folder = _copy(onnx_weights, tmp_path / "w")
    before = (folder / "config.json").read_text()
    with pytest.raises(WeightsError, match="differs from eager fp32"):
        add_onnx(folder, tolerance=-1.0)
    assert not graph_cache_path(folder).exists() and (folder / "config.json").read_text() == before


def test_registry_lists_and_verifies_the_graph(onnx_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("IONMORPH_WEIGHTS_DIR", str(tmp_path))
    folder = _copy(onnx_weights, tmp_path / "tiny")
    rec = hub.register_weights("tiny", "v1", folder)["revisions"]["v1"]
    published = json.loads((folder / "config.json").read_text())["onnx"]["sha256"]
    assert rec["onnx_sha256"] == published and not (folder / "model.onnx").exists()
    assert hub.resolve_weights("tiny").onnx_sha256 == published
    clf = get_classifier("tiny", device="cpu")
    assert isinstance(clf, OnnxClassifier) and hub.sha256_file(clf.model.graph) == published
    clear_cache()
    shutil.copy(clf.model.graph, folder / "model.onnx")        # a folder that still ships its graph runs it
    assert load_onnx("tiny").graph == folder / "model.onnx"
    with open(folder / "model.onnx", "ab") as fh:                 # the graph changes behind the registry's back
        fh.write(b"\0")
    with pytest.raises(WeightsError, match=r"model\.onnx: sha256 mismatch"):
        get_classifier("tiny", device="cpu")


def test_a_changed_cached_graph_is_exported_again(onnx_weights):
    graph = load_onnx(onnx_weights).graph
    good = graph.read_bytes()
    graph.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.warns(UserWarning, match="cached ONNX graph was changed or corrupted"):
        again = load_onnx(onnx_weights).graph
    assert again == graph and graph.read_bytes() == good


def test_a_graph_that_does_not_reproduce_the_published_hash_is_kept_on_the_numerical_check(onnx_weights, tmp_path):
    folder = _copy(onnx_weights, tmp_path / "w")
    with pytest.warns(UserWarning, match="not the published"):       # another exporter version serialises differently
        graph = cached_graph(folder, published="0" * 64)
    record = graph_record(graph)
    assert record["matches_published"] is False and record["max_abs_prob_diff"] <= PROB_TOLERANCE
    assert record["sha256"] == hub.sha256_file(graph)                   # later loads check against this hash


def test_stale_or_missing_graph_is_exported_from_the_safetensors(onnx_weights, tmp_path):
    stale = _copy(onnx_weights, tmp_path / "stale")
    shutil.copy(load_onnx(onnx_weights).graph, stale / "model.onnx")        # shipped graph of the old weights
    torch.manual_seed(9)
    other = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32)).save_pretrained(tmp_path / "other")
    shutil.copy(other / "model.safetensors", stale / "model.safetensors")     # new weights, old graph
    cfg = json.loads((stale / "config.json").read_text())
    cfg["sha256"] = json.loads((other / "config.json").read_text())["sha256"]  # as saving new weights records
    (stale / "config.json").write_text(json.dumps(cfg))
    with pytest.warns(UserWarning, match="not the graph of this folder's model.safetensors"):
        graph = load_onnx(stale)
    assert graph.graph == graph_cache_path(stale) and graph_record(graph.graph)["published_sha256"] is None
    x = check_images(32, n=6, seed=5)
    ref = IonMorphNet.from_pretrained(stale).predict_proba(x)
    assert np.abs(graph.predict_proba(x) - ref).max() <= PROB_TOLERANCE          # the new weights' graph
    fresh = load_onnx(other)                                                 # no onnx block at all: exported too
    assert isinstance(fresh, OnnxIonMorphNet) and graph_record(fresh.graph)["matches_published"] is False
    assert isinstance(get_classifier(other, device="cpu"), OnnxClassifier)


def test_an_export_that_fails_falls_back_to_torch(onnx_weights, tmp_path, monkeypatch):
    from ionmorph.models import onnx_model

    def broken(*args, **kwargs):
        raise RuntimeError("exporter unavailable\nsecond line")

    monkeypatch.setattr(onnx_model, "export_onnx", broken)
    with pytest.warns(UserWarning, match="no ONNX graph of these weights on this machine .RuntimeError: exporter "
                                         "unavailable.; using the safetensors with torch"):
        assert load_onnx(_copy(onnx_weights, tmp_path / "w")) is None


def test_explicit_torch_backends_and_model_objects_keep_torch(onnx_weights):
    assert isinstance(get_classifier(onnx_weights, device="cpu", backend="eager"), Classifier)
    clf = get_classifier(IonMorphNet.from_pretrained(onnx_weights), device="cpu")
    assert isinstance(clf, Classifier) and clf.backend == "onnx"


def test_import_ionmorph_does_not_import_torch():
    code = ("import sys, ionmorph; ionmorph.pick_peaks, ionmorph.PickResult, ionmorph.preprocess, ionmorph.open_msi; "
            "import ionmorph.models.onnx_model, ionmorph.models.transfer, ionmorph.cli.pick, ionmorph.cli.weights; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})


_NO_TORCH_SCRIPT = """
import json, sys
import numpy as np
from ionmorph.cli import main
from ionmorph.io.msi import open_msi
from ionmorph.picking.pick import pick_peaks

weights, section, out, device = sys.argv[1:5]
device = None if device == "default" else device
res = pick_peaks(section, k=5, model=weights, device=device, progress=False)
data = open_msi(section)
arr = pick_peaks(data.ion_images(res.mz), mz=res.mz, mask=data.mask, model=weights, device=device, progress=False)
rc = main(["classify", section, "-o", out, "--model", weights, "-q"] + (["--device", device] if device else []))
loaded = sorted(m for m in ("torch", "timm") if m in sys.modules)
print(json.dumps({"loaded": loaded, "rc": rc, "mz": res.mz.tolist(), "proba": res.proba.tolist(),
                  "array_proba": arr.proba.tolist(), "model": res.model}))
"""


def test_cpu_pick_and_cli_run_the_cached_graph_without_torch(onnx_weights, section, tmp_path):
    load_onnx(onnx_weights)                                   # the first use exported it (torch); later runs need none
    path, _ = section
    device = "default" if not _may_have_gpu() else "cpu"      # on a GPU machine the default device is the GPU
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_NO_TORCH_SCRIPT), str(onnx_weights), str(path),
                           str(tmp_path / "all.csv"), device], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["loaded"] == [] and out["rc"] == 0 and "convnextv2_atto, weights test" in out["model"]
    from ionmorph.picking.pick import pick_peaks

    ref = pick_peaks(path, k=5, model=onnx_weights, backend="eager", progress=False)
    np.testing.assert_array_equal(out["mz"], ref.mz)
    assert np.abs(np.asarray(out["proba"]) - ref.proba).max() <= PROB_TOLERANCE
    np.testing.assert_allclose(out["array_proba"], out["proba"], atol=1e-6)
    assert len((tmp_path / "all.csv").read_text().splitlines()) == len(ref) + 1


def test_shipped_weights_record_their_graph_but_do_not_ship_it():
    reg = hub.load_registry(hub.PACKAGE_REGISTRY)["models"]["ionmorphnet-convnextv2-tiny"]
    for tag, rec in reg["revisions"].items():
        folder = REPO / "weights" / rec["folder"]
        block = json.loads((folder / "config.json").read_text())["onnx"]
        assert not (folder / "model.onnx").exists(), tag       # exported on first use (issue 22), not in git
        assert rec["onnx_sha256"] == block["sha256"] and rec["sha256"] == block["weights_sha256"], tag
        assert block["max_abs_prob_diff"] <= PROB_TOLERANCE


def test_fp16_exact_weights_are_stored_as_fp16(onnx_weights):
    import onnx
    from onnx import TensorProto

    graph = onnx.load(str(load_onnx(onnx_weights).graph)).graph
    kinds = [init.data_type for init in graph.initializer if len(init.dims) >= 2]
    assert kinds and all(k == TensorProto.FLOAT16 for k in kinds)   # fp16 safetensors: every matrix is fp16-exact
    assert sum(node.op_type == "Cast" for node in graph.node) >= len(kinds)


def test_onnx_exports_one_per_weights_capped_and_shipped_graph_preferred(onnx_weights, tmp_path):
    from ionmorph.models import inference as inference

    cache = tmp_path / "cache" / "onnx"
    x = check_images(32, n=5)
    loaded = IonMorphNet.from_pretrained(onnx_weights)              # the graph of its folder, exported once
    for b in (2, 3):
        Classifier(loaded, "onnx", "cpu", batch_size=b).predict_proba(x)
    assert list(cache.glob("*.onnx")) == [graph_cache_path(onnx_weights)]
    torch.manual_seed(1)
    fresh = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32))   # no folder: exported once
    ref = Classifier(fresh, "eager", "cpu", batch_size=4).predict_proba(x)
    for b in (2, 3, 4):
        got = Classifier(fresh, "onnx", "cpu", batch_size=b).predict_proba(x)
        assert np.abs(got - ref).max() <= PROB_TOLERANCE
    assert len(list(cache.glob("*.onnx"))) == 2                    # one export for every batch size
    for i in range(inference.MAX_ONNX_EXPORTS + 1):
        torch.manual_seed(10 + i)
        Classifier(IonMorphNet("convnextv2_atto", PreprocessConfig(size=32)), "onnx", "cpu", batch_size=2)
    assert len(list(cache.glob("*.onnx"))) == inference.MAX_ONNX_EXPORTS
    assert not graph_cache_path(onnx_weights).with_suffix(".json").exists()   # evicted with its graph
