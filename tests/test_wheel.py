"""After ``pip install ionmorph``: the wheel carries the registry (not the weights) and onnxruntime as a core
dependency; ``ionmorph weights export`` on a machine with weights and ``ionmorph weights import`` on one
without make the default weights resolve offline from the Hugging Face cache, and a pick from a folder
outside the checkout then runs the ONNX graph without torch (issue 22)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ionmorph.models import hub as hub
from ionmorph.picking.pick import DEFAULT_MODEL
from msi_testutil import random_spectra, write_imzml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow          # about 1-2 min on two cores: wheel build, install, one ONNX export, picks

_PICK = """
import json, sys
import ionmorph
from ionmorph.picking.pick import pick_peaks
res = pick_peaks(sys.argv[1], k=5, progress=False)
from ionmorph.models.hub import resolve_weights
found = resolve_weights("{name}")
print(json.dumps({{"module": ionmorph.__file__, "n": int(res.picked.sum()), "source": found.source,
                  "folder": str(found.folder), "model": res.model, "torch": "torch" in sys.modules}}))
"""
_CLI = "import sys; from ionmorph.cli import main; sys.exit(main())"


def _run(cmd: list[str], rc: int = 0, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)   # the import exports the graph: ~40 s idle, minutes on a loaded machine
    assert proc.returncode == rc, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_install_gets_weights_by_import_and_picks_offline_on_onnxruntime(tmp_path):
    src = tmp_path / "src"                 # build from a copy: no build/ or egg-info in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for pkg in ("ionmorph", "tumor3d"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp_path / "dist"), str(src)])
    wheel = next((tmp_path / "dist").glob("ionmorph-*.whl"))
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    assert "ionmorph/models/registry.json" in names and not any(n.endswith((".safetensors", ".onnx")) for n in names)
    meta = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    core = [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert any(line.split()[1].startswith("onnxruntime") for line in core)   # the CPU default is not an extra
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)])

    entry = hub.load_registry(hub.PACKAGE_REGISTRY)["models"][DEFAULT_MODEL]
    hf_home = tmp_path / "hf"
    data = tmp_path / "data"               # a user's folder, outside the checkout
    data.mkdir()
    coords = [(x, y) for y in range(1, 13) for x in range(1, 13)]
    _, spectra = random_spectra(len(coords), seed=3, n_peaks=20)
    section = write_imzml(data / "section.imzML", spectra, coords)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IONMORPH_", "HF_", "PYTHON"))}
    env.update(PYTHONPATH=str(site), HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", IONMORPH_CACHE=str(tmp_path / "cache"),
               NO_ALBUMENTATIONS_UPDATE="1", MPLBACKEND="Agg")

    # no weights yet: one line that says how to get them
    proc = _run([sys.executable, "-c", _CLI, "pick", str(section), "-k", "5", "-o", "peaks.csv", "-q"], rc=2, cwd=data,
                env=env)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    for needle in ("ionmorph weights export", "ionmorph weights import", "--model FOLDER"):
        assert needle in proc.stderr, proc.stderr

    # the machine with weights: a checkout's weights/ (no registry.json there) exports them
    zipped = tmp_path / "handover" / "default.zip"
    zipped.parent.mkdir()
    _run([sys.executable, "-c", _CLI, "weights", "export", DEFAULT_MODEL, str(zipped)], cwd=data,
         env={**env, "IONMORPH_WEIGHTS_DIR": str(REPO / "weights"), "HF_HOME": str(tmp_path / "other-hf")})
    assert not (tmp_path / "other-hf").exists()

    proc = _run([sys.executable, "-c", _CLI, "weights", "import", str(zipped)], cwd=data, env=env)
    assert f"matches {DEFAULT_MODEL} {entry['default']} in the registry" in proc.stdout
    assert "equals the published graph's" in proc.stdout, proc.stdout     # the export reproduces the recorded hash
    from huggingface_hub import scan_cache_dir

    assert {r.repo_id for r in scan_cache_dir(hf_home / "hub").repos} == {entry["repo_id"]}

    proc = _run([sys.executable, "-c", _PICK.format(name=DEFAULT_MODEL), str(section)], cwd=data, env=env)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["module"]).is_relative_to(site)
    assert out["source"] == "hf-cache" and Path(out["folder"]).is_relative_to(hf_home) and out["n"] == 5
    assert entry["default"].lstrip("v") in out["model"] and out["torch"] is False   # onnxruntime, no torch
    proc = _run([sys.executable, "-c", _CLI, "weights", "verify", DEFAULT_MODEL], cwd=data, env=env)
    assert "(hf-cache)" in proc.stdout and "equals the published graph's" in proc.stdout
