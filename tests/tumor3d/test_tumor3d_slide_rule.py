"""The calibrated slide rule, the domain guard's measures and the label-free channel selections."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ionmorph.errors import InputError
from ionmorph.io.metadata import AcquisitionInfo
from tumor3d.model import Tumor3DConfig, Tumor3DNet
from tumor3d.slide import (CALLS, MIN_FRACTION, SlideRule, calibrate_rule, channel_stats, check_domain,
                           domain_record, operating_point)
from tumor3d.train import FoldResult, class_budget_channels, cluster_channels, slide_level


def test_calibrated_rule_keeps_false_calls_at_target():
    rng = np.random.default_rng(0)
    free = rng.uniform(0, 0.03, 40)
    tumour = np.concatenate([rng.uniform(0.01, 0.06, 20), rng.uniform(0.1, 0.4, 20)])
    scores = np.concatenate([free, tumour])
    truth = np.r_[np.zeros(40, bool), np.ones(40, bool)]
    small = np.r_[np.zeros(40, bool), np.ones(20, bool), np.zeros(20, bool)]
    rule = calibrate_rule(scores, truth, small, target_fpr=0.05)
    assert np.mean(free >= rule.threshold) <= 0.05
    assert np.sort(free)[-3] < rule.threshold          # the third-highest free slide is never called
    c = rule.calibration
    assert c["fpr"] <= 0.05 and c["n_free"] == 40 and c["n_tumour"] == 40 and c["n_small"] == 20
    assert c["sensitivity_large"] == 1.0 and 0 < c["sensitivity_small"] < 1
    assert 0.5 < c["roc_auc"] <= 1.0


def test_rule_three_way_call_and_config_round_trip():
    rule = SlideRule(0.02, 2.0)
    assert [rule.call(s) for s in (0.03, 0.02, 0.015, 0.009)] == [CALLS[0], CALLS[0], CALLS[2], CALLS[1]]
    cfg = Tumor3DConfig(n_channels=2, slide_rule=rule.as_dict())
    assert SlideRule.from_config(cfg) == rule
    assert SlideRule.from_config(Tumor3DConfig(n_channels=2)).threshold == MIN_FRACTION
    assert "default, not calibrated" in SlideRule().text()
    with pytest.raises(InputError, match="tumour-free and tumour-bearing"):
        calibrate_rule(np.array([0.1, 0.2]), np.array([True, True]))


def test_operating_point_counts_too_close_as_not_called():
    calls = np.array([CALLS[0], CALLS[2], CALLS[1], CALLS[0]])
    truth = np.array([True, True, False, False])
    op = operating_point(calls, truth, np.array([False, True, False, False]))
    assert op["sensitivity"] == 0.5 and op["fpr"] == 0.5 and op["sensitivity_small"] == 0.0
    assert op["too_close"] == 0.25 and op["balanced_accuracy"] == 0.5


def test_slide_level_calibrates_out_of_fold():
    def fold(f, free, tumour):
        scores = np.r_[free, tumour]
        truth = np.r_[np.zeros(len(free), bool), np.ones(len(tumour), bool)]
        return FoldResult("m", f, np.zeros(1, int), np.zeros((1, 2)), truth, scores >= MIN_FRACTION,
                          slide_score=scores, slide_small=np.zeros(len(scores), bool))

    res = [fold(0, [0.0, 0.004], [0.2, 0.3]), fold(1, [0.001, 0.002], [0.25, 0.05]), fold(2, [0.0, 0.05], [0.3, 0.4])]
    out = slide_level(res)
    assert out["roc"]["auc"] > 0.9 and out["rule"]["threshold"] > 0.004
    # fold 2's free slide at 0.05 exceeds what folds 0 and 1 allow: an out-of-sample false call
    assert out["operating_point"]["fpr"] == pytest.approx(1 / 6)


def _model(stats, channels=np.arange(4), pixel=None):
    net = Tumor3DNet(Tumor3DConfig(n_channels=len(channels), patch=3, mz=tuple(100.0 + 10 * np.arange(len(channels)))))
    net.config.domain = domain_record(stats, channels, instrument="desi", pixel_sizes=[pixel] * len(stats),
                                      instrument_models=[], ppm=10.0, normalisation="tic-permille-log1p")
    net.input_mean.zero_()
    net.input_std.fill_(10.0)
    return net


def _raw(rng, levels, floor=100.0, shape=(20, 20)):
    raw = np.stack([floor * (1 + rng.poisson(lv, shape)) * (rng.random(shape) < 0.8) for lv in levels])
    return raw.astype(np.float32)


def test_domain_guard_profile_floor_and_pixel_size():
    rng = np.random.default_rng(1)
    levels = np.array([2.0, 8.0, 20.0, 50.0])
    region = np.ones((20, 20), bool)
    stats = [channel_stats(_raw(rng, levels * s), region) for s in (0.8, 1.0, 1.2)]
    net = _model(stats, pixel=100.0)
    cube = np.zeros((4, 20, 20), np.float32)
    ok = check_domain(net, _raw(rng, levels), cube, region, "in.imzML", AcquisitionInfo((100.0, 100.0), None, None))
    assert ok.warnings == () and ok.profile_z < 3 and ok.floor_log10_distance == 0.0
    warned = check_domain(net, _raw(rng, levels, floor=250.0), cube, region, "gain.imzML")
    assert any("detection floor" in w for w in warned.warnings)
    with pytest.raises(InputError, match="detection floor"):
        check_domain(net, _raw(rng, levels, floor=1000.0), cube, region, "fticr.imzML")
    with pytest.raises(InputError, match="spectral profile.*desi"):
        check_domain(net, _raw(rng, levels[::-1] ** 2 / 10), cube, region, "other.imzML")
    small = check_domain(net, _raw(rng, levels), cube, region, "px.imzML", AcquisitionInfo((150.0, 150.0), None, None))
    assert any("pixel size 150" in w for w in small.warnings)
    with pytest.raises(InputError, match="pixel size 20 um outside"):
        check_domain(net, _raw(rng, levels), cube, region, "px.imzML", AcquisitionInfo((20.0, 20.0), None, None))


def test_cluster_and_class_budget_selections():
    # six candidates in two spatial patterns (0-2 alike, 3-5 alike); pattern A scores higher
    sim = np.full((6, 6), 0.05)
    sim[:3, :3] = sim[3:, 3:] = 0.9
    np.fill_diagonal(sim, 1.0)
    scores = np.array([0.9, 0.85, 0.8, 0.5, 0.45, 0.4])
    mz = np.arange(6) * 10.0 + 100
    assert cluster_channels(scores, mz, 2, sim).tolist() == [0, 3]
    proba = np.zeros((6, 6))
    proba[:3, 5] = 1.0      # top three: negative (off-sample)
    proba[3:, 0] = 1.0      # the rest: structured
    classes = ("structured", "weak_structured", "localized", "fragmented", "unstructured", "negative")
    picked = class_budget_channels(scores, proba, classes, mz, 2, None)
    assert picked.tolist() == [0, 3]                     # one per class, not the two best negatives
    assert torch.is_tensor(torch.zeros(1))
