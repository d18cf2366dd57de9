"""Shared fixtures. Real recordings live in ../shared/realdata, never in this repo."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("IONMORPH_REALDATA", REPO.parent / "shared" / "realdata"))


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Path to ../shared/realdata: fails under CI=true when missing, skips elsewhere."""
    if not REALDATA.is_dir():
        msg = f"real recordings not found at {REALDATA} (set IONMORPH_REALDATA or place ../shared beside the repo)"
        if _on_ci():
            pytest.fail(msg + "; CI requires them")
        pytest.skip(msg)
    return REALDATA


@pytest.fixture(autouse=True, scope="session")
def _private_user_cache(tmp_path_factory):
    """Keep test runs out of the real user cache (ONNX exports, ion-image caches): IONMORPH_CACHE -> tmp."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IONMORPH_CACHE", str(tmp_path_factory.mktemp("user-cache")))
        yield
