"""What a Hub-valid model card holds, checked on ``huggingface_hub.ModelCard(...).data``."""
from __future__ import annotations

from typing import Any


def assert_hub_valid_card(data: Any, name: str, repo_id: str | None = None) -> None:
    """Model-index with metric ids (accuracy, f1, macro recall), pipeline_tag, datasets, library, repo id."""
    assert data.pipeline_tag == "image-classification" and data.datasets and data.library_name == "ionmorph", name
    assert data.model_name == name and data.eval_results
    assert {r.metric_type for r in data.eval_results} <= {"accuracy", "f1", "recall"}
    assert set(data.metrics) == {r.metric_type for r in data.eval_results}      # ids, not free text
    assert all(r.dataset_type in data.datasets and isinstance(r.metric_value, float) for r in data.eval_results)
    assert all(r.metric_args == {"average": "macro"} for r in data.eval_results if r.metric_type == "recall")
    if repo_id is not None:
        assert data.to_dict()["repo_id"] == repo_id
