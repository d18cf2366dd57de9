"""IonMorphNet's settings without torch: the ``ionmorph`` block of config.json and the input check.

Shared by :class:`ionmorph.models.model.IonMorphNet` (torch) and
:class:`ionmorph.models.onnx_model.OnnxIonMorphNet` (onnxruntime), so both read a weights folder alike.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import InputError
from .preprocessing import PreprocessConfig
from .ranking_head import head_from_settings

#: Format of the ``ionmorph`` block of config.json.
CONFIG_FORMAT = 1
#: The ``family`` of IonMorphNet weights folders.
FAMILY = "ionmorphnet"
#: Largest allowed max-abs difference of class probabilities from eager fp32: the ONNX export check
#: (:func:`ionmorph.models.onnx_model.add_onnx`) and the backends ``backend="auto"`` may pick
#: (:mod:`ionmorph.models.inference`, which re-exports it) share it.
PROB_TOLERANCE = 1e-3


def settings_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """IonMorphNet's constructor arguments from a config.json dict.

    Parameters
    ----------
    config : mapping
        config.json content (timm keys plus the ``ionmorph`` block).

    Returns
    -------
    dict
        ``architecture``, ``preprocess`` (a :class:`PreprocessConfig`), ``classes``,
        ``informative``, ``drop_path_rate``, ``version``, ``training`` and ``ranking_head`` (a
        :class:`ionmorph.models.ranking_head.RankingHead`, or ``None`` for weights without one).

    Raises
    ------
    KeyError, ValueError
        A missing key, or a config format newer than this ionmorph.
    """
    block = config["ionmorph"]
    if block.get("format", CONFIG_FORMAT) > CONFIG_FORMAT:
        raise ValueError(f"config format {block['format']} is newer than this ionmorph ({CONFIG_FORMAT})")
    return {"architecture": config["architecture"],
            "preprocess": PreprocessConfig.from_dict(block["preprocessing"]),
            "classes": tuple(block["classes"]), "informative": tuple(block["informative"]),
            "drop_path_rate": block.get("drop_path_rate", 0.0), "version": str(block.get("version", "0.0.0")),
            "training": block.get("training"), "ranking_head": head_from_settings(block.get("ranking_head"))}


def check_input(x: Any, size: int) -> None:
    """Raise :class:`InputError` unless ``x`` (array or tensor) is a (n, 1, size, size) stack."""
    if len(x.shape) != 4 or tuple(x.shape[1:]) != (1, size, size):
        raise InputError(f"expected preprocessed images (n, 1, {size}, {size}), got shape {tuple(x.shape)}; "
                         "use IonMorphNet.prepare on raw ion images")
