"""tumor3d: the second stage of ionmorph - tumour patch classification on a reduced MSI cube.

``ionmorph.reduce`` (module ``ionmorph.picking.reduction``) keeps the C most informative ion images (IonMorphNet scores); a compact 3D CNN
(:class:`Tumor3DNet`) classifies C x p x p patches as healthy / tumour; patches add up to a slide
call (:mod:`tumor3d.slide`); integrated gradients name the m/z behind the call
(:mod:`tumor3d.explain`). Cohorts: :mod:`tumor3d.cohort`; the training/scoring harness:
:mod:`tumor3d.train`. Names are imported lazily so that ``import tumor3d`` does not load torch.
"""
from __future__ import annotations

from ionmorph.lazy import lazy_exports

_EXPORTS = {
    "Tumor3DNet": "tumor3d.model",
    "Tumor3DConfig": "tumor3d.model",
    "TASKS": "tumor3d.cohort",
    "build_cohort": "tumor3d.cohort",
    "load_cohort": "tumor3d.cohort",
    "prepare_task": "tumor3d.train",
    "cross_validate": "tumor3d.train",
    "train_final": "tumor3d.train",
    "predict_slide": "tumor3d.slide",
    "explain": "tumor3d.explain",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports('tumor3d', _EXPORTS)
