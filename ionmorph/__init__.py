"""ionmorph: a model zoo for mass spectrometry imaging.

The data flow, one module per step::

    open_msi -> candidate_mz -> ion_images -> preprocess -> IonMorphNet -> pick_peaks -> reduce -> Tumor3DNet
    (msi)       (candidates)    (msi)         (preprocessing) (model)      (pick)         (reduction) (tumor3d)

with the simulator (:mod:`ionmorph.synth`) beside it feeding training and benchmarks, and one
weights module (:mod:`ionmorph.models.hub`) serving both model families. Names are imported lazily so
that ``import ionmorph`` stays fast and does not load torch.
"""
from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from .lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "open_msi": "ionmorph.io.msi",
    "MSIData": "ionmorph.io.msi",
    "candidate_mz": "ionmorph.picking.candidates",
    "preprocess": "ionmorph.models.preprocessing",
    "IonMorphNet": "ionmorph.models.model",
    "pick_peaks": "ionmorph.picking.pick",
    "PickResult": "ionmorph.picking.pick",
    "reduce": "ionmorph.picking.reduction",
    "mscf1": "ionmorph.evaluation.metrics",
    "CLASSES": "ionmorph.labels",
    "MSIFormatError": "ionmorph.errors",
    "WeightsError": "ionmorph.errors",
    "IonMorphError": "ionmorph.errors",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports('ionmorph', _EXPORTS)
