"""The harness: preparation with cache, grouped CV of baselines and 3D CNNs, slide rule, read-out."""
from __future__ import annotations

import numpy as np
import pytest

from tumor3d.explain import explain, precision_at_k
from tumor3d.patches import extract_patches, sample_centres
from tumor3d.slide import slide_call, slide_truth
from tumor3d.train import METHODS, TrainConfig, cross_validate, prepare_task, run_fold, train_final
from tumor3d_testutil import MARKERS, MZ, write_toy_cohort

FAST = TrainConfig(n_channels=5, patch=5, stride=1, epochs=15, batch_size=32, max_per_class=60)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    cohort = write_toy_cohort(root / "cohort", n_patients=4)
    data = prepare_task(cohort, cache_dir=root / "cache", candidates=MZ, selections=("intensity", "random"))
    return cohort, data, root


def test_prepare_caches_and_normalises(toy):
    cohort, data, root = toy
    assert len(list((root / "cache").glob("*.npz"))) == len(cohort.slides)
    again = prepare_task(cohort, cache_dir=root / "cache", candidates=MZ, selections=("intensity",))
    np.testing.assert_array_equal(again.slides[3].cube, data.slides[3].cube)
    assert data.slides[0].cube.shape == (len(MZ), 16, 16) and np.isfinite(data.slides[0].cube).all()
    assert [s.patient for s in data.slides][:4] == ["P0", "P0", "P1", "P1"]


def test_grouped_cv_of_a_baseline_and_a_short_3d_training(toy):
    _, data, _ = toy
    specs = tuple(m for m in METHODS if m.name in ("3d-cnn/intensity", "pixel logreg/all"))
    results = cross_validate(data, specs, k=2, train=FAST)
    assert len(results) == 4
    for r in results:
        assert r.patch_balanced_accuracy() > 0.9, r.method       # the toy markers are strong
        assert np.array_equal(r.slide_true, [True, False, True, False])
        assert r.slide_balanced_accuracy() == 1.0
        assert len(r.y_true) == sum((s.annotation > 0).sum() for s in data.slides[:4])


def test_slide_rule():
    region = np.ones((20, 20), dtype=bool)
    prob = np.zeros((20, 20))
    prob[::7, ::7] = 1.0                    # scattered false positives: smoothed away
    assert not slide_call(prob, region)
    prob[5:12, 5:12] = 0.9                  # a 49-pixel tumour (12 %)
    assert slide_call(prob, region)
    ann = np.ones((20, 20), dtype=int)
    assert not slide_truth(ann)
    ann[:3, :10] = 2
    assert slide_truth(ann)


def test_attribution_ranks_the_true_markers_first(toy):
    _, data, _ = toy
    model = train_final(data, FAST, selection="intensity")
    chans = data.channels("intensity", FAST.n_channels)
    assert model.config.mz == tuple(data.mz[chans])
    x = np.concatenate([extract_patches(s.cube, sample_centres(s.annotation, 2, classes=(2,), balance=False)[0],
                                        FAST.patch, chans) for s in data.slides[::2]])
    table = explain(model, x)
    present = np.isin(data.mz[chans], MARKERS).sum()
    assert 1 <= present < len(chans)
    assert precision_at_k(table.mz, MARKERS, int(present), 10.0) == 1.0
    assert precision_at_k(np.array([MZ[0], MARKERS[0] * (1 + 5e-6)]), MARKERS, 2, 10.0) == 0.5


def test_spectral_only_and_spatial_only_variants_train(toy):
    _, data, _ = toy
    for name in ("spectral-only (p=1)/ionmorphnet", "spatial-only 2d-cnn/ionmorphnet"):
        spec = next(m for m in METHODS if m.name == name)
        res = run_fold(data, type(spec)(spec.name, "intensity", spec.classifier, spec.spectral_only),
                       np.arange(4), np.arange(4, 8), FAST)
        assert res.y_prob.shape == (len(res.y_true), 2)
        assert res.patch_balanced_accuracy() > 0.8


def test_headline_method_on_ionmorphnet_channels(toy, tmp_path):
    from ionmorph.models.model import IonMorphNet
    from ionmorph.models.preprocessing import PreprocessConfig

    cohort, _, root = toy
    folder = IonMorphNet(architecture="convnextv2_atto", preprocess=PreprocessConfig(size=32)).save_pretrained(
        tmp_path / "tiny")
    data = prepare_task(cohort, cache_dir=root / "cache", candidates=MZ, model=str(folder),
                        selections=("ionmorphnet",))
    scores = data.scores["ionmorphnet"]
    assert scores.shape == (len(MZ),) and np.all((scores >= 0) & (scores <= 1)) and np.ptp(scores) > 0
    res = run_fold(data, METHODS[0], np.arange(4), np.arange(4, 8), FAST)
    assert res.method == "3d-cnn/ionmorphnet" and len(res.channels) == FAST.n_channels
    from ionmorph.picking.reduction import select_channels

    assert set(res.channels) == set(select_channels(scores, MZ, FAST.n_channels, data.similarity))
    assert data.similarity.shape == (len(MZ), len(MZ)) and np.allclose(np.diag(data.similarity), 1.0)


def test_map_figure_shows_the_call_and_rule():
    from tumor3d.slide import SlideRule, call_text, probability_figure

    prob = np.full((12, 12), 0.9, dtype=np.float32)
    rule = SlideRule(0.03, 2.0)
    fig = probability_figure(prob, np.ones((12, 12), dtype=int), "slide A", call=(rule.call(0.42), 0.42, rule))
    text = fig._suptitle.get_text()
    assert text.startswith("slide A\ncalled tumour-bearing (score 42.00% of the region") and "threshold 3.00%" in text
    assert " ".join(text.split()).endswith(rule.text())             # wrapped to the figure width
    assert "too close to call" in call_text(rule.call(0.02), 0.02, rule)


def test_early_stopping_follows_the_smoothed_validation_ba(toy):
    from dataclasses import replace

    _, data, _ = toy
    cfg = replace(FAST, epochs=25, patience=3, smoothing=0.5)
    spec = next(m for m in METHODS if m.name == "3d-cnn/intensity")
    clf = run_fold(data, spec, np.arange(4), np.arange(4, 8), cfg).classifier
    h, n = clf.history, len(clf.history["train_loss"])
    assert len(h["val_ba"]) == len(h["val_ba_smooth"]) == len(h["val_loss"]) == n
    smooth = [h["val_ba"][0]]
    for v in h["val_ba"][1:]:
        smooth.append(0.5 * v + 0.5 * smooth[-1])
    np.testing.assert_allclose(h["val_ba_smooth"], smooth)
    assert clf.best_epoch == int(np.argmax(smooth))           # the first best is kept
    assert n == cfg.epochs or n == clf.best_epoch + cfg.patience + 1
    assert all(v > 0 for v in h["val_loss"])


def test_architecture_search_rows_and_choice(toy):
    from dataclasses import replace

    from tumor3d.model import Tumor3DNet
    from tumor3d.search import Architecture, architecture_search, choose, multiply_adds

    assert multiply_adds(Tumor3DNet(n_channels=4, patch=3, widths=(2,))) == 4 * 3 * 3 * 2 * 27 + 4 * 32 + 32 * 2
    _, data, _ = toy
    cands = (Architecture((4, 8), patch=3), Architecture((8, 16), pool_mz=False, patch=5))
    rows = architecture_search(data, data.channels("intensity", 5), replace(FAST, epochs=3), cands)
    assert [(r["architecture"], r["patch"]) for r in rows] == [("4-8, p=3", 3), ("8-16, no m/z pooling, p=5", 5)]
    assert rows[0]["multiply_adds"] < rows[1]["multiply_adds"] and rows[0]["parameters"] < rows[1]["parameters"]
    assert all(0 <= r["val_ba_smooth"] <= 1 and 1 <= r["epochs"] <= 3 for r in rows)
    table = [{"val_ba_smooth": 0.80, "multiply_adds": 10}, {"val_ba_smooth": 0.795, "multiply_adds": 5},
             {"val_ba_smooth": 0.70, "multiply_adds": 1}]
    assert choose(table)["multiply_adds"] == 5 and choose(table, tolerance=0.0)["multiply_adds"] == 10


def test_ionmorphnet_selection_ranks_by_the_heads_learned_score(toy, tmp_path):
    """With a ranking head, ``ionmorphnet`` ranks as pick_peaks does (learned); the class sum stays an ablation."""
    import warnings

    from ionmorph.models.model import IonMorphNet
    from ionmorph.models.preprocessing import PreprocessConfig
    from ionmorph.models.ranking_head import RankingHead
    from ionmorph.training.ranking_head import feature_names
    from tumor3d.train import default_net_score, ionmorphnet_provenance

    cohort, _, root = toy
    plain = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32)).save_pretrained(tmp_path / "plain")
    net = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32))
    features = feature_names(net.classes)
    w = np.zeros((len(features), 1))
    w[features.index("coherence"), 0] = 1.0
    net.ranking_head = RankingHead(features, np.zeros(len(features)), np.ones(len(features)), (w,), (np.zeros(1),),
                                   target="test")
    headed = net.save_pretrained(tmp_path / "headed", dtype="float32")
    assert default_net_score(str(plain)) == "classes" and default_net_score(str(headed)) == "learned"
    assert ionmorphnet_provenance(str(headed))["score"] == "learned"
    rules = ("ionmorphnet", "ionmorphnet-probabilities")
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # head-less weights: no five-view fallback warning
        without = prepare_task(cohort, cache_dir=root / "cache", candidates=MZ, model=str(plain), selections=rules)
    np.testing.assert_allclose(without.scores["ionmorphnet"], without.scores["ionmorphnet-probabilities"])
    data = prepare_task(cohort, cache_dir=root / "cache", candidates=MZ, model=str(headed), selections=rules)
    assert not np.allclose(data.scores["ionmorphnet"], data.scores["ionmorphnet-probabilities"])
    from ionmorph.picking.pick import pick_peaks
    from tumor3d.train import _cached_images

    expected = np.mean([pick_peaks(_cached_images(s.imzml, MZ, cohort.ppm, root / "cache")[0], mz=MZ,
                                   mask=_cached_images(s.imzml, MZ, cohort.ppm, root / "cache")[2], model=str(headed),
                                   progress=False).score for s in cohort.slides], axis=0)
    np.testing.assert_allclose(data.scores["ionmorphnet"], expected, atol=1e-5)
