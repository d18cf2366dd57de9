"""Tumor3DNet: shapes of every variant, size budget, hub round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ionmorph.errors import InputError
from tumor3d.model import Tumor3DConfig, Tumor3DNet


@pytest.mark.parametrize("kwargs", [dict(n_channels=24, patch=9), dict(n_channels=24, patch=9, kind="2d"),
                                    dict(n_channels=24, patch=1), dict(n_channels=300, patch=1),
                                    dict(n_channels=1, patch=3), dict(n_channels=24, patch=13, pool_mz=False),
                                    dict(n_channels=24, patch=5, widths=(8, 16, 32, 64))])
def test_every_variant_maps_patches_to_logits(kwargs):
    model = Tumor3DNet(**kwargs)
    c, p = kwargs["n_channels"], kwargs["patch"]
    assert model(torch.zeros(3, 1, c, p, p)).shape == (3, 2)
    prob = model.predict_proba(torch.rand(5, 1, c, p, p))
    np.testing.assert_allclose(prob.sum(dim=1).numpy(), 1.0, rtol=1e-5)
    assert model.n_parameters() < 1_000_000


def test_default_size_is_compact_and_config_driven():
    small, wide = Tumor3DNet(n_channels=32), Tumor3DNet(n_channels=32, widths=(32, 64, 128))
    assert small.n_parameters() < 100_000 < wide.n_parameters() < 1_000_000


def test_bad_input_and_config_raise():
    with pytest.raises(InputError):
        Tumor3DNet(n_channels=4, patch=5)(torch.zeros(2, 1, 4, 3, 3))
    with pytest.raises(InputError):
        Tumor3DConfig(n_channels=4, kind="4d")
    with pytest.raises(InputError):
        Tumor3DConfig(n_channels=4, mz=(100.0, 200.0))


def test_hub_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Tumor3DNet(n_channels=6, patch=5, mz=tuple(np.linspace(100, 600, 6)), ppm=7.5).eval()
    for m in model.modules():   # non-trivial batch-norm statistics must survive the trip
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    model.set_input_stats(torch.rand(10, 1, 6, 5, 5) * 3)
    folder = model.save_pretrained(tmp_path / "t3d", card="# test card\n", dtype="float32")
    back = Tumor3DNet.from_pretrained(folder)
    assert back.config == model.config and back.config.ppm == 7.5
    torch.testing.assert_close(back.input_std, model.input_std)
    x = torch.rand(4, 1, 6, 5, 5)
    torch.testing.assert_close(back.predict_proba(x), model.predict_proba(x))
    assert (tmp_path / "t3d" / "README.md").read_text().startswith("# test card")


def test_pool_mz_off_keeps_every_mz_position_to_the_head():
    pooled, kept = Tumor3DNet(n_channels=24, patch=9), Tumor3DNet(n_channels=24, patch=9, pool_mz=False)
    assert pooled.head[0].in_features == 64 * 3 and kept.head[0].in_features == 64 * 24
    assert Tumor3DNet(n_channels=24, patch=9, pool_mz=False, kind="2d").head[0].in_features == 64
