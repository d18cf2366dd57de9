"""Shared setup of the picking and command-line tests: a tiny untrained model, a small processed imzML,
a private cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ionmorph.models.inference import clear_cache
from ionmorph.models.model import IonMorphNet
from ionmorph.models.preprocessing import PreprocessConfig
from msi_testutil import random_spectra, write_imzml


def tiny_model(folder: Path, seed: int = 2) -> Path:
    """Save a tiny untrained model (ConvNeXt V2 atto, 32 px input, torch seed ``seed``) as ``folder/tiny``;
    returns the weights folder."""
    torch.manual_seed(seed)
    return IonMorphNet("convnextv2_atto", PreprocessConfig(size=32)).save_pretrained(folder / "tiny")


def tiny_model_and_section(folder: Path, width: int, height: int, n_peaks: int,
                           seed: int = 5) -> tuple[Path, Path, np.ndarray]:
    """Save :func:`tiny_model` (seed 2) and write a ``width`` x ``height`` processed centroid imzML
    ``folder/sec.imzML`` (imzML x, y from 1) of :func:`msi_testutil.random_spectra` with ``n_peaks``
    shared peaks; returns (weights folder, imzML path, the shared peaks' m/z)."""
    weights = tiny_model(folder)
    coords = [(x, y) for y in range(1, height + 1) for x in range(1, width + 1)]
    common, spectra = random_spectra(len(coords), seed=seed, n_peaks=n_peaks)
    return weights, write_imzml(folder / "sec.imzML", spectra, coords), common


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Each test its own IONMORPH_CACHE and an empty classifier cache afterwards (autouse where imported)."""
    monkeypatch.setenv("IONMORPH_CACHE", str(tmp_path / "cache"))
    yield
    clear_cache()
