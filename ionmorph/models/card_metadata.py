"""Hub metadata of a model card: the YAML front matter with a ``model-index`` of metric ids.

Both model families (IonMorphNet, tumor3d) describe their evaluation as named evaluation sets of
``{metric: value}``; this module turns them into the Hub's ``model-index`` (metric ids such as
``accuracy``, ``f1``, ``recall`` with ``average: macro``) through ``huggingface_hub.ModelCardData``,
so a generated card parses with ``huggingface_hub.ModelCard`` exactly like a hand-written one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import InputError

_SPLITS = {"train": "train", "training": "train", "val": "validation", "validation": "validation",
           "test": "test"}
_COUNTS = {"n", "n_images", "n_slides", "n_patients"}


@dataclass(frozen=True)
class EvalSet:
    """One evaluation set of a model card.

    Parameters
    ----------
    name : str
        Dataset description shown on the Hub, e.g. ``"test (simulated, seen families)"``.
    metrics : mapping
        ``{metric: value}`` in the project's names (``accuracy``, ``balanced_accuracy``,
        ``F1 <class>``); counts such as ``n`` and values that are not finite numbers are left out.
    dataset_id : str
        Dataset id (the card's ``datasets`` entry the set was drawn from).
    split : str, optional
        Split name; by default the first word of ``name`` when it names one (train, validation, test).
    """

    name: str
    metrics: Mapping[str, Any]
    dataset_id: str
    split: str | None = None

    def hub_split(self) -> str | None:
        """The split recorded on the Hub (given, or read from the first word of the name)."""
        if self.split is not None:
            return self.split
        first = self.name.split(" ", 1)[0].lower()
        return _SPLITS.get(first)


def hub_metric(key: str) -> dict[str, Any]:
    """Metric id, display name and arguments of one of the project's metric names.

    Parameters
    ----------
    key : str
        ``accuracy``, ``balanced_accuracy`` (macro recall), ``F1 <class>`` / ``f1_<class>``
        (F1 of one class), ``f1_macro``, ``mSCF1 k=<k>`` (an F1: SPEC 6's mean over thresholds at
        budget k); any other name is used as its own id.

    Returns
    -------
    dict
        ``metric_type``, ``metric_name`` and, where needed, ``metric_args`` of a
        ``huggingface_hub.EvalResult``.
    """
    low = key.lower().replace(" ", "_")
    if low == "balanced_accuracy":
        return {"metric_type": "recall", "metric_name": "balanced accuracy (macro recall)",
                "metric_args": {"average": "macro"}}
    if low == "f1_macro":
        return {"metric_type": "f1", "metric_name": "F1 macro", "metric_args": {"average": "macro"}}
    if low.startswith("mscf1"):       # "mSCF1 k=10": the mean F1 of SPEC 6 over its thresholds, at budget k
        args = {"average": "mean over the thresholds 0.3, 0.4, 0.5, 0.6"}
        if "k=" in low:
            args["k"] = int(low.split("k=")[1])
        return {"metric_type": "f1", "metric_name": key, "metric_args": args}
    if low.startswith("f1_"):
        return {"metric_type": "f1", "metric_name": key if key.startswith("F1 ") else f"F1 {key[3:]}"}
    return {"metric_type": low, "metric_name": key}


def _value(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def front_matter(*, model_name: str, task_name: str, tags: Sequence[str], datasets: Sequence[str],
                 results: Sequence[EvalSet] = (), license: str = "apache-2.0",
                 repo_id: str | None = None) -> str:
    """YAML front matter of a model card (between ``---`` lines), valid for the Hugging Face Hub.

    Parameters
    ----------
    model_name : str
        Name of the model in the ``model-index`` (the weights' registry name).
    task_name : str
        What the model does, in words (the ``model-index`` task name).
    tags : sequence of str
        Hub tags.
    datasets : sequence of str
        Dataset ids the model was trained or evaluated on.
    results : sequence of EvalSet
        Evaluation sets; each metric becomes one ``model-index`` entry.
    license : str
        Licence of the weights.
    repo_id : str, optional
        Hub repository id of the weights.

    Returns
    -------
    str
        ``---\\n<yaml>---`` (without a trailing newline after the closing line).

    Raises
    ------
    InputError
        When an evaluation set names a dataset missing from ``datasets``.
    """
    from huggingface_hub import EvalResult, ModelCardData

    evals = []
    for res in results:
        if res.dataset_id not in datasets:
            raise InputError(f"model card: evaluation set {res.name!r} is on dataset {res.dataset_id!r}, "
                             f"which is not among the card's datasets {list(datasets)}")
        for key, raw in res.metrics.items():
            value = _value(raw)
            if value is None or key.lower() in _COUNTS:
                continue
            evals.append(EvalResult(task_type="image-classification", task_name=task_name,
                                    dataset_type=res.dataset_id, dataset_name=res.name,
                                    dataset_split=res.hub_split(), metric_value=round(value, 6),
                                    **hub_metric(key)))
    metric_ids = list(dict.fromkeys(e.metric_type for e in evals))
    data = ModelCardData(library_name="ionmorph", license=license, pipeline_tag="image-classification",
                         tags=list(tags), datasets=list(datasets) or None, metrics=metric_ids or None,
                         model_name=model_name if evals else None, eval_results=evals or None,
                         repo_id=repo_id)
    return "---\n" + data.to_yaml() + "\n---"
