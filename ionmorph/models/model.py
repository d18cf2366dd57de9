"""IonMorphNet: a timm image backbone classifying single ion images into the six classes (SPEC 1-2).

The model carries everything inference needs besides the weights: its preprocessing settings
(:class:`ionmorph.models.preprocessing.PreprocessConfig`), the class names, the default informative classes
and the weights' version. ``config.json`` is timm-compatible (``architecture``, ``num_classes``,
``pretrained_cfg`` with a one-channel ``input_size`` and one-value mean/std, ``model_args``), so
the safetensors file loads into ``timm.create_model(architecture, in_chans=1, num_classes=6)``
directly; our own settings sit in a separate top-level ``ionmorph`` block.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .hub import PretrainedMixin
from ..labels import CLASSES, DEFAULT_INFORMATIVE
from .model_config import CONFIG_FORMAT, FAMILY, settings_from_config
from .model_config import check_input as check_model_input
from .preprocessing import PreprocessConfig, preprocess
from .ranking_head import RankingHead


class IonMorphNet(PretrainedMixin, nn.Module):
    """Six-class ion-image classifier; ``forward`` maps (N, 1, S, S) preprocessed images to logits.

    Parameters
    ----------
    architecture : str
        Any timm model name (built with ``pretrained=False``, ``in_chans=1``).
    preprocess : PreprocessConfig, optional
        Preprocessing of the raw ion images (its ``size`` is the input size S).
    classes : sequence of str
        Output class names, in logit order.
    informative : sequence of str
        Default informative classes of the peak-picking score.
    drop_path_rate : float
        Stochastic depth rate of the backbone (training only).
    version : str
        Version of the weights (set when publishing them).
    training : mapping, optional
        Summary of how the weights were trained (stored in config.json).
    ranking_head : RankingHead, optional
        The head that turns class probabilities and native image statistics into the ``learned``
        peak-picking score (:mod:`ionmorph.models.ranking_head`; stored in config.json).
    """

    family: ClassVar[str] = FAMILY

    def __init__(self, architecture: str = "convnextv2_tiny", preprocess: PreprocessConfig | None = None,
                 classes: Sequence[str] = CLASSES, informative: Sequence[str] = DEFAULT_INFORMATIVE,
                 drop_path_rate: float = 0.05, version: str = "0.0.0",
                 training: Mapping[str, Any] | None = None, ranking_head: RankingHead | None = None) -> None:
        super().__init__()
        import timm

        self.classes = tuple(classes)
        unknown = [c for c in informative if c not in self.classes]
        if unknown or len(set(self.classes)) != len(self.classes) or not self.classes:
            raise InputError(f"informative classes {list(informative)} must be among the distinct classes "
                             f"{list(self.classes)}")
        self.architecture = architecture
        self.preprocess_config = preprocess or PreprocessConfig()
        self.informative = tuple(informative)
        self.drop_path_rate = float(drop_path_rate)
        self.version = str(version)
        self.training_summary = dict(training or {})
        self.ranking_head = ranking_head
        try:
            self.backbone = timm.create_model(architecture, pretrained=False, in_chans=1,
                                              num_classes=len(self.classes), drop_path_rate=self.drop_path_rate)
        except RuntimeError as exc:  # timm's "Unknown model"
            raise InputError(f"cannot build timm model {architecture!r}: {exc}") from None

    @property
    def input_size(self) -> int:
        """Side length S of the square model input."""
        return self.preprocess_config.size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def prepare(self, images: np.ndarray, mask: np.ndarray | None = None, each_normalised=None) -> np.ndarray:
        """Raw ion images (n, H, W) -> model input (n, 1, S, S) with this model's preprocessing
        (``each_normalised``: see :func:`ionmorph.models.preprocessing.preprocess`)."""
        return preprocess(images, mask, self.preprocess_config, each_normalised=each_normalised)

    def check_input(self, x: np.ndarray | torch.Tensor) -> None:
        """Raise :class:`InputError` unless ``x`` is a (n, 1, S, S) stack of this model's size."""
        check_model_input(x, self.input_size)

    @torch.inference_mode()
    def predict_proba(self, images: np.ndarray | torch.Tensor, batch_size: int = 64) -> np.ndarray:
        """Class probabilities, float32 (n, classes), of preprocessed images (n, 1, S, S), in eval mode."""
        self.check_input(images)
        self.eval()
        device = next(self.parameters()).device
        x = torch.as_tensor(images, dtype=torch.float32)
        out = np.zeros((len(x), len(self.classes)), dtype=np.float32)
        for start in range(0, len(x), batch_size):
            logits = self(x[start:start + batch_size].to(device))
            out[start:start + len(logits)] = torch.softmax(logits.float(), dim=1).cpu().numpy()
        return out

    # ------------------------------------------------------------------ weights
    def _weights_module(self) -> nn.Module:
        return self.backbone

    def hub_config(self) -> dict[str, Any]:
        """config.json: timm's keys plus the ``ionmorph`` block."""
        s = self.input_size
        timm_cfg = getattr(self.backbone, "pretrained_cfg", {}) or {}
        pretrained_cfg = {"input_size": [1, s, s], "mean": [0.0], "std": [1.0], "interpolation": "bilinear",
                          "crop_pct": 1.0, "num_classes": len(self.classes)}
        for key in ("first_conv", "classifier"):
            if key in timm_cfg:
                pretrained_cfg[key] = timm_cfg[key]
        return {
            "architecture": self.architecture,
            "num_classes": len(self.classes),
            "num_features": int(getattr(self.backbone, "num_features", 0)),
            "label_names": list(self.classes),
            "pretrained_cfg": pretrained_cfg,
            "model_args": {"in_chans": 1},
            "ionmorph": {
                "format": CONFIG_FORMAT,
                "classes": list(self.classes),
                "informative": list(self.informative),
                "preprocessing": self.preprocess_config.to_dict(),
                "drop_path_rate": self.drop_path_rate,
                "version": self.version,
                "training": self.training_summary,
                **({"ranking_head": self.ranking_head.to_config()} if self.ranking_head is not None else {}),
            },
        }

    @classmethod
    def _from_hub_config(cls, config: dict[str, Any]) -> "IonMorphNet":
        return cls(**settings_from_config(config))

    def _default_card(self, config: dict[str, Any]) -> str:
        return model_card(self)


# ----------------------------------------------------------------------------- model card
_DEFAULT_LIMITATIONS = (
    "Trained on simulated sections only; real ion images can differ (instrument artefacts, matrix "
    "clusters, tissue types absent from the simulator). Check the predictions by eye on a new kind of data.",
    "The six classes are a coarse, partly subjective description of morphology: neighbouring classes "
    "(structured vs weak_structured, localized vs fragmented) overlap.",
    "The score ranks ion images by spatial structure, not by chemical identity or annotation confidence.",
)


def _score_sentence(model: IonMorphNet) -> str:
    """How ``pick_peaks`` scores with these weights, for the card."""
    if model.ranking_head is not None:
        return ("by default `pick_peaks` ranks by the weights' ranking head (`score=\"learned\"`, one inference per "
                "image): a small perceptron over the class probabilities and statistics of the image at native "
                "resolution, predicting how strongly the image follows the section's main tissue segments "
                f"({len(model.ranking_head.features)} inputs; see *Ranking head*). `\"classes\"`, `\"views\"`, "
                "`\"clarity\"` and `\"views_clarity\"` are the other choices.")
    return ("weights without a ranking head score by `\"views_clarity\"`: the sum averaged over the full frame and "
            "four corner crops, weighted by the image's spatial coherence at native resolution.")


def _head_section(head: RankingHead) -> list[str]:
    """The card's *Ranking head* section: inputs, target, layers and how it was trained."""
    widths = [w.shape[0] for w in head.weights] + [1]
    lines = ["## Ranking head", "",
             f"- inputs ({len(head.features)}): " + ", ".join(f"`{f}`" for f in head.features),
             f"- target: {head.target}",
             "- perceptron " + " -> ".join(map(str, widths)) + " (ReLU), output clipped to [0, 1]; stored in "
             "config.json (`ionmorph.ranking_head`), run in NumPy"]
    lines += [f"- {k}: {v}" for k, v in (head.training or {}).items() if k != "validation"]
    validation = (head.training or {}).get("validation")
    if validation:
        ks = (head.training or {}).get("validation_k", [])
        lines += ["", "mSCF1 on held-out simulated sections, k = " + ", ".join(map(str, ks)) + ":", "",
                  "| ranking | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
        lines += [f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |" for name, values in validation.items()]
    return lines + [""]


def _metrics_table(metrics: Mapping[str, Mapping[str, float]]) -> str:
    names = sorted({k for row in metrics.values() for k in row})
    lines = ["| evaluation set | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for split, row in metrics.items():
        cells = [str(v) if isinstance(v := row.get(k, ""), int) and not isinstance(v, bool)
                 else f"{v:.3f}" if isinstance(v, float) else str(v) for k in names]
        lines.append(f"| {split} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_card(model: IonMorphNet, *, metrics: Mapping[str, Mapping[str, float]] | None = None,
               training_data: str | None = None, evaluation_notes: str = "",
               limitations: Sequence[str] = _DEFAULT_LIMITATIONS, datasets: Sequence[str] = (),
               license: str = "apache-2.0", extra_sections: Mapping[str, str] | None = None,
               name: str | None = None, repo_id: str | None = None) -> str:
    """README.md of a weights folder: Hub metadata and the sections a user needs to judge the model.

    Parameters
    ----------
    model : IonMorphNet
        The model (architecture, classes, preprocessing and version are read from it).
    metrics : mapping, optional
        ``{evaluation set: {metric: value}}``, e.g. ``{"test": {"accuracy": 0.91, "F1 structured": 0.95}}``.
        Every numeric metric also becomes a ``model-index`` entry of the front matter
        (:func:`ionmorph.models.card_metadata.hub_metric`: ``accuracy``, ``balanced_accuracy`` as macro
        ``recall``, ``F1 <class>`` as ``f1``); counts (``n``) and non-finite values stay in the table only.
    training_data : str, optional
        Description of the training data (default: the model's training summary).
    evaluation_notes : str
        Markdown shown under the metrics table (e.g. a real-data results table).
    limitations : sequence of str
        Bullet points of the Limitations section.
    datasets : sequence of str
        Dataset ids for the metadata; the metrics are recorded as measured on the first one.
    license : str
        Licence of the weights.
    extra_sections : mapping, optional
        ``{heading: markdown}`` appended before the citation (e.g. "Choice of input size").
    name : str, optional
        Name of the weights in the ``model-index`` (default ``ionmorphnet-<architecture>``, with dashes).
    repo_id : str, optional
        Hub repository id recorded in the metadata.

    Raises
    ------
    InputError
        When metrics are given without ``datasets`` to say what they were measured on.
    """
    from .card_metadata import EvalSet, front_matter

    metrics = dict(metrics or {})
    if metrics and not datasets:
        raise InputError("model card: metrics need datasets=[...] naming the data they were measured on")
    results = [EvalSet(split, row, datasets[0]) for split, row in metrics.items()]
    meta = [front_matter(model_name=name or f"ionmorphnet-{model.architecture.replace('_', '-')}",
                         task_name=f"ion-image morphology classification ({len(model.classes)} classes)",
                         tags=["mass-spectrometry-imaging", "msi", "peak-picking", "ionmorphnet", model.architecture],
                         datasets=datasets, results=results, license=license, repo_id=repo_id)]
    s = model.input_size
    summary = model.training_summary
    if training_data is None:
        training_data = ("\n".join(f"- {k}: {v}" for k, v in summary.items()) if summary
                         else "Not recorded: these weights carry no training summary (e.g. untrained or converted).")
    body = [
        f"# IonMorphNet ({model.architecture}), weights {model.version}", "",
        "Classifies a single mass spectrometry imaging (MSI) ion image into six spatial-structure classes: "
        + ", ".join(f"`{c}`" for c in model.classes) + ". The informative score used for peak picking is the sum "
        "of the probabilities of " + ", ".join(f"`{c}`" for c in model.informative) + "; " + _score_sentence(model), "",
        "## Model", "",
        f"- backbone: timm `{model.architecture}`, 1 input channel, {len(model.classes)} classes",
        f"- input: {s} x {s} pixels; preprocessing `{model.preprocess_config.to_dict()}` (hotspot clip and "
        "quantile scaling over measured pixels, aspect-preserving resize with zero padding)",
        "- method: Weigand et al., IonMorphNet (CVPR 2026 workshop, arXiv 2604.19369), re-implemented from the paper", "",
        "## Training data", "", training_data, "",
        *(_head_section(model.ranking_head) if model.ranking_head is not None else []),
        "## Intended use", "",
        "Ranking candidate m/z values of an MSI section by spatial informativeness (peak picking without "
        "per-dataset tuning) and choosing a reduced channel stack for downstream models. Use through "
        "`ionmorph.pick_peaks(\"section.imzML\", k=100)` or `ionmorph pick`. Not for clinical decisions.", "",
        "## Evaluation", "",
        _metrics_table(metrics) if metrics else "No evaluation recorded for these weights.", "",
    ]
    if evaluation_notes:
        body += [evaluation_notes, ""]
    body += ["## Limitations", ""] + [f"- {item}" for item in limitations] + [""]
    for heading, text in (extra_sections or {}).items():
        body += [f"## {heading}", "", text, ""]
    body += ["## How to use", "", "```python",
             "from ionmorph import IonMorphNet, pick_peaks",
             "model = IonMorphNet.from_pretrained(\"path/or/name\")",
             "result = pick_peaks(\"section.imzML\", k=100, model=\"path/or/name\")", "```", ""]
    return "\n".join(meta + [""] + body)
