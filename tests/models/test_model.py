"""IonMorphNet: shapes, the timm-compatible config.json, save/load round trip, the model card."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ionmorph.errors import InputError, WeightsError
from ionmorph.labels import CLASSES, DEFAULT_INFORMATIVE
from ionmorph.models.model import IonMorphNet, model_card
from ionmorph.models.preprocessing import PreprocessConfig, preprocess


@pytest.fixture(scope="module")
def tiny() -> IonMorphNet:
    torch.manual_seed(0)
    return IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="0.0.1",
                       training={"epochs": 2, "corpus": "unit test"}).eval()


def test_forward_and_predict_proba(tiny):
    x = np.random.default_rng(0).random((5, 1, 32, 32), dtype=np.float32)
    assert tiny(torch.from_numpy(x)).shape == (5, 6)
    p = tiny.predict_proba(x, batch_size=2)
    assert p.shape == (5, 6) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(p, tiny.predict_proba(x, batch_size=64), atol=1e-6)
    with pytest.raises(InputError, match=r"expected preprocessed images \(n, 1, 32, 32\)"):
        tiny.predict_proba(x[:, :, :16, :16])


def test_prepare_is_the_shared_preprocessing(tiny):
    images = np.random.default_rng(1).gamma(1.0, size=(3, 20, 30)).astype(np.float32)
    mask = np.ones((20, 30), bool)
    mask[:2] = False
    np.testing.assert_array_equal(tiny.prepare(images, mask), preprocess(images, mask, PreprocessConfig(size=32)))


def test_config_json_is_timm_compatible(tiny, tmp_path):
    folder = tiny.save_pretrained(tmp_path / "w")
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["architecture"] == "convnextv2_atto" and cfg["num_classes"] == 6
    assert cfg["pretrained_cfg"]["input_size"] == [1, 32, 32]
    assert cfg["pretrained_cfg"]["mean"] == [0.0] and cfg["pretrained_cfg"]["std"] == [1.0]
    assert cfg["model_args"] == {"in_chans": 1} and cfg["family"] == "ionmorphnet"
    block = cfg["ionmorph"]
    assert block["classes"] == list(CLASSES) and block["informative"] == list(DEFAULT_INFORMATIVE)
    assert block["preprocessing"] == {"size": 32, "hotspot_quantile": 0.99, "scale_quantile": 0.99}
    assert block["version"] == "0.0.1" and block["training"] == {"epochs": 2, "corpus": "unit test"}
    # the stored weights load into a plain timm model built from the timm keys alone
    import timm
    from safetensors.torch import load_file

    plain = timm.create_model(cfg["architecture"], num_classes=cfg["num_classes"], **cfg["model_args"]).eval()
    plain.load_state_dict(load_file(str(folder / "model.safetensors")))
    x = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(plain(x), tiny(x), atol=2e-2, rtol=2e-2)


def test_save_load_round_trip(tiny, tmp_path):
    x = np.random.default_rng(2).random((4, 1, 32, 32), dtype=np.float32)
    exact = IonMorphNet.from_pretrained(tiny.save_pretrained(tmp_path / "f32", dtype="float32"))
    np.testing.assert_allclose(exact.predict_proba(x), tiny.predict_proba(x), atol=1e-6)
    half = IonMorphNet.from_pretrained(tiny.save_pretrained(tmp_path / "f16"))
    np.testing.assert_allclose(half.predict_proba(x), tiny.predict_proba(x), atol=2e-3)
    for attr in ("architecture", "classes", "informative", "version", "training_summary", "preprocess_config"):
        assert getattr(half, attr) == getattr(tiny, attr), attr
    assert half.drop_path_rate == pytest.approx(0.05)


def test_custom_classes_and_bad_arguments(tmp_path):
    m = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), classes=("a", "b", "c"), informative=("a",))
    assert m(torch.zeros(1, 1, 32, 32)).shape == (1, 3)
    back = IonMorphNet.from_pretrained(m.save_pretrained(tmp_path / "abc"))
    assert back.classes == ("a", "b", "c") and back.informative == ("a",)
    with pytest.raises(InputError, match="informative classes"):
        IonMorphNet("convnextv2_atto", informative=("shiny",))
    with pytest.raises(InputError, match="cannot build timm model 'no_such_net'"):
        IonMorphNet("no_such_net")


def test_loading_a_config_from_the_future_fails_clearly(tiny, tmp_path):
    folder = tiny.save_pretrained(tmp_path / "w")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["ionmorph"]["format"] = 99
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="cannot build the model: .*format 99 is newer"):
        IonMorphNet.from_pretrained(folder)


def test_model_card_metadata_and_sections(tiny, tmp_path):
    card = model_card(tiny, metrics={"test": {"accuracy": 0.912, "balanced_accuracy": 0.887},
                                     "held-out family": {"accuracy": 0.801}},
                      datasets=["ionmorph-synth-v1"], evaluation_notes="Barley: looks plausible.",
                      extra_sections={"Choice of input size": "64 px: best accuracy per second."})
    head, body = card.split("\n---\n", 1)
    assert head.startswith("---\n")
    for line in ("library_name: ionmorph\n", "license: apache-2.0\n", "- mass-spectrometry-imaging",
                 "datasets:\n- ionmorph-synth-v1", "metrics:\n- accuracy\n- recall\n", "model-index:"):
        assert line in head
    for section in ("## Training data", "## Intended use", "## Evaluation", "## Limitations",
                    "## Choice of input size"):
        assert section in body
    assert "| test | 0.912 | 0.887 |" in body and "| held-out family | 0.801 |  |" in body
    assert "- epochs: 2" in body and "Barley: looks plausible." in body
    default = (tiny.save_pretrained(tmp_path / "w") / "README.md").read_text()
    assert "No evaluation recorded" in default and "weights 0.0.1" in default
