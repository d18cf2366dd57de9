"""IonMorphNet's ranking head: forward pass, config round trip, malformed entries, weights folders."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ionmorph.errors import WeightsError
from ionmorph.models.model import IonMorphNet
from ionmorph.models.preprocessing import PreprocessConfig
from ionmorph.models.ranking_head import RankingHead, class_feature_names


def _head(seed: int = 0, n_features: int = 3) -> RankingHead:
    rng = np.random.default_rng(seed)
    return RankingHead(features=tuple(f"f{i}" for i in range(n_features)), mean=rng.normal(size=n_features),
                       scale=rng.uniform(0.5, 2.0, n_features),
                       weights=(rng.normal(size=(n_features, 4)), rng.normal(size=(4, 1))),
                       biases=(rng.normal(size=4), np.array([0.3])), target="t", training={"sections": 2})


def test_forward_is_standardise_relu_linear_clipped():
    head = _head()
    x = np.random.default_rng(1).normal(size=(200, 3)) * 3
    h = np.maximum(((x - head.mean) / head.scale) @ head.weights[0] + head.biases[0], 0.0)
    expected = np.clip((h @ head.weights[1] + head.biases[1])[:, 0], 0.0, 1.0)
    out = head.predict(x)
    assert out.dtype == np.float32 and np.allclose(out, expected, atol=1e-6)
    assert out.min() >= 0.0 and out.max() <= 1.0
    raw = (h @ head.weights[1] + head.biases[1])[:, 0]
    assert ((raw < 0) | (raw > 1)).any()   # the clip is exercised
    with pytest.raises(ValueError):
        head.predict(x[:, :2])


def test_config_round_trip_through_json():
    head = _head()
    back = RankingHead.from_config(json.loads(json.dumps(head.to_config())))
    x = np.random.default_rng(2).normal(size=(20, 3))
    assert back.features == head.features and back.target == "t" and back.training == {"sections": 2}
    assert np.array_equal(back.predict(x), head.predict(x))


@pytest.mark.parametrize("edit", [
    lambda c: c.pop("layers"),
    lambda c: c.update(mean=[0.0, 0.0]),
    lambda c: c["layers"][1].update(weight=[[1.0, 2.0]] * 4),
    lambda c: c.update(scale=[1.0, 0.0, 1.0]),
    lambda c: c.update(format=99),
    lambda c: c.update(features=5),
])
def test_malformed_entry_is_one_line_weights_error(edit):
    block = _head().to_config()
    edit(block)
    with pytest.raises(WeightsError) as err:
        RankingHead.from_config(block)
    assert "\n" not in str(err.value) and "ranking head" in str(err.value)


def test_weights_folder_carries_the_head(tmp_path):
    torch.manual_seed(0)
    head = _head(n_features=len(class_feature_names(("a",))) + 2)
    net = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="test", ranking_head=head)
    folder = net.save_pretrained(tmp_path / "w", dtype="float32")
    assert json.loads((folder / "config.json").read_text())["ionmorph"]["ranking_head"]["features"] == list(head.features)
    back = IonMorphNet.from_pretrained(folder)
    x = np.random.default_rng(3).normal(size=(5, 3))
    assert np.array_equal(back.ranking_head.predict(x), head.predict(x))
    plain = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="test").save_pretrained(
        tmp_path / "p", dtype="float32")
    assert IonMorphNet.from_pretrained(plain).ranking_head is None
    assert "ranking_head" not in json.loads((plain / "config.json").read_text())["ionmorph"]
