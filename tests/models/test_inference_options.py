"""Device and backend options are checked up front, each failure one line with a hint (issue 9 section 4)."""
from __future__ import annotations

import pytest

import ionmorph.models.inference as inf
from ionmorph.cli import run
from ionmorph.errors import InputError


def main(argv: list[str]) -> int:
    return run(argv, ("ionmorph.cli.pick",), "ionmorph")


@pytest.mark.parametrize("device,match", [("tpu", "unknown device 'tpu'"), ("cuda:x", "unknown device 'cuda:x'"),
                                          ("cuda", "no GPU driver; use --device cpu"),
                                          ("cuda:1", "no GPU driver")])
def test_gpu_device_without_gpu(monkeypatch, device, match):
    monkeypatch.setattr(inf, "_may_have_gpu", lambda: False)
    with pytest.raises(InputError, match=match):
        inf.check_device(device)


def test_cpu_and_meta_devices_pass():
    assert inf.check_device("cpu") == "cpu" and inf.check_device("meta") == "meta"


def test_onnx_backend_without_onnxruntime(monkeypatch):
    monkeypatch.setattr(inf, "_have_onnxruntime", lambda: False)
    with pytest.raises(InputError, match="needs onnxruntime: pip install onnxruntime"):
        inf.resolve_backend("onnx", "cpu")
    assert inf.resolve_backend("auto", "cpu") == "eager"


@pytest.mark.parametrize("extra,message", [(["--device", "cuda"], "no GPU driver"),
                                           (["--backend", "onnx"], "pip install onnxruntime")])
def test_cli_checks_options_before_reading(monkeypatch, tmp_path, capsys, extra, message):
    monkeypatch.setattr(inf, "_may_have_gpu", lambda: False)
    monkeypatch.setattr(inf, "_have_onnxruntime", lambda: False)
    missing = tmp_path / "not-read.imzML"  # reading it first would report "file not found"
    assert main(["pick", str(missing), "-o", str(tmp_path / "o.csv")] + extra) == 2
    err = capsys.readouterr().err
    assert message in err and "not found" not in err and err.count("\n") == 1
