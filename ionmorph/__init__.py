"""ionmorph: a model zoo for mass spectrometry imaging.

The data flow::

    open_msi -> candidate_mz -> ion_images -> preprocess -> IonMorphNet -> pick_peaks -> reduce -> Tumor3DNet
    (io)        (picking)       (io)          (models)     (models)       (picking)      (picking)  (tumor3d)

Subpackages, one per job, each importing only those before it (docs/design.md):

- :mod:`ionmorph.io`: reading and writing MSI files and outputs (``open_msi``, ``MSIData``, exports);
- :mod:`ionmorph.models`: the network, its weights and how it runs (``preprocess``, ``IonMorphNet``,
  ONNX, inference backends, :mod:`ionmorph.models.hub` for the weights of both model families);
- :mod:`ionmorph.picking`: from ion images to a peak list (candidates, ``pick_peaks``, ``reduce``,
  baselines);
- :mod:`ionmorph.evaluation`: judging a picker or a classifier (mSCF1, classification metrics,
  real-data folders, realism of the simulator);
- :mod:`ionmorph.training`: making IonMorphNet;
- :mod:`ionmorph.cli`: the ``ionmorph`` command.

Shared by all of them: :mod:`ionmorph.synth` (the simulator, feeding training and benchmarks),
``labels``, ``errors``, ``fileio``, ``plotting`` and ``lazy``. Names are imported lazily so that
``import ionmorph`` stays fast and does not load torch.
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
