"""ionmorph: a model zoo for mass spectrometry imaging.

The data flow, one module per step::

    open_msi -> candidate_mz -> ion_images -> preprocess -> IonMorphNet -> pick_peaks -> reduce -> Tumor3DNet
    (msi)       (candidates)    (msi)         (preprocessing) (model)      (pick)         (reduction) (tumor3d)

with the simulator (:mod:`ionmorph.synth`) beside it feeding training and benchmarks, and one
weights module (:mod:`ionmorph.hub`) serving both model families. Names are imported lazily so
that ``import ionmorph`` stays fast and does not load torch.
"""
from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"

_EXPORTS = {
    "open_msi": "ionmorph.msi",
    "MSIData": "ionmorph.msi",
    "candidate_mz": "ionmorph.candidates",
    "preprocess": "ionmorph.preprocessing",
    "IonMorphNet": "ionmorph.model",
    "pick_peaks": "ionmorph.pick",
    "PickResult": "ionmorph.pick",
    "reduce": "ionmorph.reduction",
    "mscf1": "ionmorph.metrics",
    "CLASSES": "ionmorph.labels",
    "MSIFormatError": "ionmorph.errors",
    "WeightsError": "ionmorph.errors",
    "IonMorphError": "ionmorph.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ionmorph' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
