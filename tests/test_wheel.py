"""After ``pip install ionmorph``: the wheel carries the registry, and the default weights resolve
through a Hugging Face cache with no checkout and no network (a stand-in for a first download)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hub_testutil import fill_hf_cache
from ionmorph.models import hub as hub
from ionmorph.picking.pick import DEFAULT_MODEL
from msi_testutil import random_spectra, write_imzml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow          # about 20-40 s on two cores: wheel build, install, one pick_peaks

_PICK = """
import json, sys
import ionmorph
from ionmorph.picking.pick import pick_peaks
res = pick_peaks(sys.argv[1], k=5, progress=False)
from ionmorph.models.hub import resolve_weights
found = resolve_weights("{name}")
print(json.dumps({{"module": ionmorph.__file__, "n": int(res.picked.sum()), "source": found.source,
                  "folder": str(found.folder), "model": res.model}}))
"""


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kw)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_install_resolves_weights_from_the_hf_cache_offline(tmp_path):
    src = tmp_path / "src"                 # build from a copy: no build/ or egg-info in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for pkg in ("ionmorph", "tumor3d"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp_path / "dist"), str(src)])
    wheel = next((tmp_path / "dist").glob("ionmorph-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "ionmorph/models/registry.json" in names and not any(n.endswith(".safetensors") for n in names)
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)])

    entry = hub.load_registry(hub.PACKAGE_REGISTRY)["models"][DEFAULT_MODEL]
    rec = entry["revisions"][entry["default"]]
    hf_home = tmp_path / "hf"
    commit = fill_hf_cache(hf_home / "hub", entry["repo_id"], rec["revision"], REPO / "weights" / rec["folder"],
                           files=tuple(sorted(hub.FOLDER_FILES)))
    from huggingface_hub import scan_cache_dir

    cached = {(r.repo_id, rev.commit_hash) for r in scan_cache_dir(hf_home / "hub").repos for rev in r.revisions}
    assert cached == {(entry["repo_id"], commit)}          # huggingface_hub reads the layout as its own

    data = tmp_path / "data"               # a user's folder, outside the checkout
    data.mkdir()
    coords = [(x, y) for y in range(1, 13) for x in range(1, 13)]
    _, spectra = random_spectra(len(coords), seed=3, n_peaks=20)
    section = write_imzml(data / "section.imzML", spectra, coords)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IONMORPH_", "HF_", "PYTHON"))}
    env.update(PYTHONPATH=str(site), HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", IONMORPH_CACHE=str(tmp_path / "cache"),
               NO_ALBUMENTATIONS_UPDATE="1", MPLBACKEND="Agg")
    proc = _run([sys.executable, "-c", _PICK.format(name=DEFAULT_MODEL), str(section)], cwd=data, env=env)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["module"]).is_relative_to(site)
    assert out["source"] == "hf-cache" and Path(out["folder"]).name == commit and out["n"] == 5
    assert entry["default"].lstrip("v") in out["model"]
