"""pick_peaks and PickResult on a tiny random model: sources, selection rules, streaming, backends, outputs."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from ionmorph.picking import pick as pick_mod
from ionmorph.errors import InputError
from ionmorph.models.inference import PROB_TOLERANCE, Classifier, clear_cache, get_classifier
from ionmorph.models.model import IonMorphNet
from ionmorph.io.msi import open_msi
from ionmorph.picking.pick import DEFAULT_THRESHOLD, pick_peaks, select
from ionmorph.models.preprocessing import PreprocessConfig
from msi_testutil import random_spectra, write_imzml


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(1)
    model = IonMorphNet("convnextv2_atto", PreprocessConfig(size=32), version="test")
    return model.save_pretrained(tmp_path_factory.mktemp("w") / "tiny", dtype="float32")


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    """A 9 x 7 processed centroid file with a hole (two pixels without spectra)."""
    coords = [(x, y) for y in range(1, 8) for x in range(1, 10) if (x, y) not in ((1, 1), (9, 7))]
    common, spectra = random_spectra(len(coords), seed=3, n_peaks=30)
    path = write_imzml(tmp_path_factory.mktemp("s") / "sec.imzML", spectra, coords)
    return path, common


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IONMORPH_CACHE", str(tmp_path / "cache"))
    yield
    clear_cache()


def test_file_source_matches_array_source(weights, section):
    path, common = section
    res = pick_peaks(path, k=5, candidates=common, model=weights, backend="eager", progress=False, score="classes")
    data = open_msi(path)
    assert np.array_equal(res.mz, np.sort(common)) and res.proba.shape == (30, 6)
    images = data.ion_images(res.mz)
    arr = pick_peaks(images, k=5, mz=res.mz, mask=data.mask, model=weights, backend="eager", progress=False)
    np.testing.assert_allclose(arr.proba, res.proba, atol=1e-6)
    same = pick_peaks(data, k=5, candidates=common, model=weights, backend="eager", progress=False, score="classes")
    np.testing.assert_array_equal(same.picked, res.picked)
    np.testing.assert_allclose(res.proba.sum(axis=1), 1.0, rtol=1e-5)
    informative = [res.classes.index(c) for c in ("structured", "localized", "negative")]
    np.testing.assert_allclose(res.score, res.proba[:, informative].sum(axis=1), rtol=1e-6)   # the class sum
    assert list(res.label) == [res.classes[i] for i in res.proba.argmax(axis=1)]
    assert set(res.timings) >= {"reading", "ion_images", "preprocess", "inference", "total"}


def test_detected_candidates_by_default(weights, section):
    path, _ = section
    res = pick_peaks(path, model=weights, backend="eager", progress=False)
    assert len(res) > 0 and np.all(np.diff(res.mz) > 0)
    assert np.array_equal(res.picked, res.score >= DEFAULT_THRESHOLD)


def test_selection_rules():
    score = np.array([0.9, 0.2, 0.6, 0.6, 0.45], dtype=np.float32)
    assert select(score, 2, None).tolist() == [True, False, True, False, False]      # ties: m/z order
    assert select(score, None, 0.5).tolist() == [True, False, True, True, False]
    assert select(score, None, None).tolist() == [True, False, True, True, False]    # default 0.5
    assert select(score, 10, 0.4).tolist() == [True, False, True, True, True]       # k caps, threshold filters
    assert select(score, 2, 0.95).sum() == 0 and select(score, 0, None).sum() == 0
    for bad in (dict(k=-1), dict(k=2.5), dict(threshold=1.5)):
        with pytest.raises(InputError):
            select(score, bad.get("k"), bad.get("threshold"))


def test_ranking_picked_mz_and_custom_informative(weights, section):
    path, common = section
    res = pick_peaks(path, k=4, candidates=common, informative=("unstructured",), model=weights,
                     backend="eager", progress=False, score="classes")
    np.testing.assert_allclose(res.score, res.proba[:, res.classes.index("unstructured")])
    assert np.all(np.diff(res.score[res.ranking]) <= 0)
    np.testing.assert_array_equal(res.picked_mz, res.mz[res.ranking[:4]])
    with pytest.raises(InputError, match="informative classes"):
        pick_peaks(path, candidates=common, informative=("sparkly",), model=weights, progress=False)


def test_streaming_blocks_give_the_same_answer(weights, section, monkeypatch):
    path, common = section
    whole = pick_peaks(path, candidates=common, model=weights, backend="eager", batch_size=4, progress=False)
    monkeypatch.setattr(pick_mod, "BLOCK_BYTES", 4 * 9 * 7 * 5)    # 5 images -> blocks of one batch (4)
    calls = []
    real = type(open_msi(path)).ion_images

    def counting(self, mz, **kw):
        calls.append(len(mz))
        return real(self, mz, **kw)

    monkeypatch.setattr(type(open_msi(path)), "ion_images", counting)
    blocked = pick_peaks(path, candidates=common, model=weights, backend="eager", batch_size=4, progress=False)
    assert calls == [4] * 7 + [2]
    np.testing.assert_allclose(blocked.proba, whole.proba, atol=1e-6)


@pytest.mark.parametrize("backend", ["onnx", "bf16"])
def test_backends_agree_with_eager(weights, backend):
    x = np.random.default_rng(0).random((10, 1, 32, 32), dtype=np.float32)
    model = IonMorphNet.from_pretrained(weights)
    ref = Classifier(model, "eager", "cpu", batch_size=4).predict_proba(x)
    got = Classifier(model, backend, "cpu", batch_size=4).predict_proba(x)   # 10 = 4 + 4 + 2 (padded)
    assert np.abs(got - ref).max() <= (PROB_TOLERANCE if backend == "onnx" else 2e-2)


def test_auto_backend_caching_and_onnx_disk_cache(weights, tmp_path):
    a = get_classifier(weights, device="cpu", batch_size=8)
    assert a.backend == "onnx" and get_classifier(str(weights), device="cpu", batch_size=8) is a
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1
    clear_cache()
    get_classifier(weights, device="cpu", batch_size=8)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1     # exported once, reused
    with pytest.raises(InputError, match="unknown inference backend"):
        get_classifier(weights, backend="tpu")
    with pytest.raises(InputError, match="onnx backend runs on the CPU only"):
        get_classifier(weights, backend="onnx", device="meta")


def test_auto_falls_back_to_eager_without_onnxruntime(weights, monkeypatch):
    import ionmorph.models.inference as inf

    monkeypatch.setattr(inf, "_have_onnxruntime", lambda: False)
    assert get_classifier(weights, device="cpu", batch_size=3).backend == "eager"


def test_outputs_csv_dataframe_plot(weights, section, tmp_path):
    path, common = section
    res = pick_peaks(path, k=3, candidates=common, model=weights, backend="eager", progress=False)
    out = res.to_csv(tmp_path / "all.csv")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 30 and list(rows[0]) == ["mz", *(f"p_{c}" for c in res.classes), "score", "score_from",
                                                 "norm", "label", "picked", "rank", "score_rank", "group", "isotope_of"]
    assert rows[0]["score_from"].startswith("(p_structured+p_localized+p_negative averaged over the full frame")
    assert rows[0]["score_from"].endswith("spatial coherence (Moran's I of the hotspot-clipped image, >= 0)")
    assert all(len(r["mz"].split(".")[1]) == 6 for r in rows)                 # 6 decimals, not 17 digits
    np.testing.assert_allclose([float(r["mz"]) for r in rows], res.mz, atol=5e-7)
    by_rank = list(csv.DictReader(res.to_csv(tmp_path / "r.csv", sort="rank").open()))
    assert [int(r["score_rank"]) for r in by_rank] == list(range(1, 31))
    assert sum(r["picked"] == "true" for r in rows) == 3
    assert sorted(r["rank"] for r in rows if r["picked"] == "true") == ["1", "2", "3"]    # rank counts the picks
    assert all(r["rank"] == "" for r in rows if r["picked"] == "false")
    picked = list(csv.DictReader(res.to_csv(tmp_path / "p.csv", picked_only=True).open()))
    np.testing.assert_allclose(sorted(float(r["mz"]) for r in picked), sorted(res.picked_mz), atol=5e-7)
    df = res.to_dataframe()
    assert df.shape == (30, 16) and df["picked"].sum() == 3
    assert len(repr(res)) < 300 and "30 candidates" in repr(res) and "3 picked" in repr(res)
    assert len(res.to_dataframe(picked_only=True)) == 3
    fig = res.plot(n=10, which="all")
    titled = [ax for ax in fig.axes if ax.get_title()]
    best = res.ranking[0]
    assert len(titled) == 10 and titled[0].get_title() == (f"m/z {res.mz[best]:.4f}\n{res.label[best]} "
                                                         f"p={res.proba[best].max():.2f}, score {res.score[best]:.2f}")
    assert len([ax for ax in res.plot(n=10).axes if ax.get_title()]) == 3
    with pytest.raises(InputError):
        res.plot(which="some")


def test_dataframe_without_pandas_is_a_clear_import_error(weights, monkeypatch):
    import builtins

    res = pick_peaks(np.random.default_rng(0).random((3, 8, 8)), mz=[100.0, 200.0, 300.0], model=weights,
                     backend="eager", progress=False)
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("no pandas")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match="needs pandas"):
        res.to_dataframe()


def test_bad_sources_raise_input_errors(weights, section):
    path, common = section
    stack = np.zeros((3, 8, 8), np.float32)
    cases = [(dict(source=stack), "needs mz="), (dict(source=stack, mz=[1.0, 2.0]), "2 m/z values for 3"),
             (dict(source=np.zeros((8, 8))), r"ion images \(n, H, W\)"),
             (dict(source=stack, mz=[1.0, 2.0, 3.0], mask=np.ones((4, 4), bool)), "mask shape"),
             (dict(source=stack, mz=[1.0, 2.0, 3.0], candidates=[1.0]), "candidates= applies to file"),
             (dict(source=path, mz=[1.0]), "array sources only"),
             (dict(source=path, candidates=common, k=-2), "non-negative")]
    for kwargs, msg in cases:
        with pytest.raises(InputError, match=msg):
            pick_peaks(model=weights, progress=False, **kwargs)


@pytest.mark.realdata
def test_barley_end_to_end(weights, realdata):
    path = realdata / "barley" / "barley101_peaks.imzML"
    cube = np.load(realdata / "barley" / "barley101_cube.npz")
    res = pick_peaks(path, k=20, candidates=cube["mz"], model=weights, progress=False)
    assert len(res) == 101 and res.picked.sum() == 20
    fig = res.plot(n=8)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 8


def test_view_score_is_the_mean_over_full_frame_and_corner_crops():
    from ionmorph.models.inference import get_classifier
    from ionmorph.models.views import view_stacks

    rng = np.random.default_rng(3)
    images = rng.gamma(2.0, 1.0, (5, 30, 40)).astype(np.float32)
    images[:, 5:20, 8:30] *= 6.0
    plain = pick_peaks(images, mz=np.arange(5.0) + 100, k=2, progress=False, score="classes")
    views = pick_peaks(images, mz=np.arange(5.0) + 100, k=2, progress=False, score="views")
    default = pick_peaks(images, mz=np.arange(5.0) + 100, k=2, progress=False)
    assert plain.scoring == "classes" and views.scoring == "views" and default.scoring == "learned"
    np.testing.assert_array_equal(plain.proba, views.proba)          # labels stay the full frame's
    clf = get_classifier()
    cols = [clf.model.classes.index(c) for c in plain.informative]
    per_view = [clf.predict_proba(clf.model.prepare(s, m))[:, cols].sum(axis=1)
                for s, m in view_stacks(images, np.ones((30, 40), bool))]
    np.testing.assert_allclose(views.score, np.mean(per_view, axis=0), atol=1e-5)
    with pytest.raises(InputError):
        pick_peaks(images, mz=np.arange(5.0) + 100, progress=False, score="best")


def test_one_pick_per_group():
    score = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    group = np.array([0, 0, 1, 2])
    assert select(score, 2, None, group).tolist() == [True, False, True, False]
    assert select(score, None, 0.65, group).tolist() == [True, False, True, False]
    assert select(score, 2, None).tolist() == [True, True, False, False]
    assert select(score, None, np.float32(0.65)).sum() == 3                         # numpy scalars accepted


def test_isotopes_take_one_pick_and_user_columns_come_through(weights, tmp_path):
    """Three ions with an M+1 isotope each on a 12 x 12 stack: k=3 picks one per ion unless asked otherwise."""
    from ionmorph.picking.ion_groups import ISOTOPE_SPACING

    rng = np.random.default_rng(4)
    base = [rng.random((12, 12)) for _ in range(3)]
    mono = np.array([300.0, 500.0, 700.0])
    mz = np.sort(np.concatenate([mono, mono + ISOTOPE_SPACING]))
    images = np.stack([base[int(i // 2)] * (1.0 if i % 2 == 0 else 0.4) for i in range(6)]).astype(np.float32)
    res = pick_peaks(images, k=3, mz=mz, model=weights, backend="eager", progress=False)
    assert res.group.tolist() == [0, 0, 1, 1, 2, 2]
    np.testing.assert_allclose(res.isotope_of[1::2], mono)
    assert np.bincount(res.group[res.picked]).tolist() == [1, 1, 1]
    free = pick_peaks(images, k=3, mz=mz, model=weights, backend="eager", progress=False, group_isotopes=False)
    np.testing.assert_array_equal(free.score, res.score)                          # scores do not change
    assert free.group.tolist() == list(range(6))
    with pytest.warns(UserWarning, match="k=10 asks for more than the 6 candidates"):
        pick_peaks(images, k=10, mz=mz, model=weights, backend="eager", progress=False)
    with pytest.warns(UserWarning, match="k=4: 6 candidates form 3 ions .* so 3 are picked"):
        assert pick_peaks(images, k=4, mz=mz, model=weights, backend="eager", progress=False).picked.sum() == 3


def test_file_source_records_ppm_and_carries_user_columns(weights, section, tmp_path):
    path, common = section
    table = {"mz": common[:4], "name": np.array(["a", "b", "c", "d"]), "formula": np.array(["C1", "C2", "C3", "C4"])}
    with pytest.warns(UserWarning, match="7 x 9 pixels"):
        res = pick_peaks(path, k=2, candidates=table, model=weights, backend="eager", progress=False)
    assert res.ppm == 10.0 and res.ppm_source == "default" and res.candidate_kind == "user list"
    rows = list(csv.DictReader(res.to_csv(tmp_path / "t.csv").open()))
    order = np.argsort(common[:4])
    assert [r["name"] for r in rows] == [table["name"][i] for i in order]
    assert [r["formula"] for r in rows] == [table["formula"][i] for i in order]
    given = pick_peaks(path, k=2, candidates=common[:4], ppm=25, model=weights, backend="eager", progress=False)
    assert given.ppm == 25.0 and given.ppm_source == "given"


def test_to_spatialdata_and_to_html_round_trip(weights, section, tmp_path):
    from ionmorph.io.html_report import report_data

    path, common = section
    res = pick_peaks(path, k=3, candidates=common, model=weights, backend="eager", progress=False, score="classes")
    data = report_data(res.to_html(tmp_path / "r.html"))
    assert [c["mz"] for c in data["cards"]] == pytest.approx(res.mz.tolist(), abs=1e-6)
    assert [c["picked"] for c in data["cards"]] == res.picked.tolist()
    stack = pick_peaks(res.images(np.arange(4)), mz=res.mz[:4], model=weights, backend="eager", progress=False,
                       score="classes", k=1)
    assert dict(report_data(stack.to_html(tmp_path / "s.html"))["facts"])["source"] == "ion-image stack"
    sd = pytest.importorskip("spatialdata")
    back = sd.read_zarr(res.to_spatialdata(tmp_path / "p.zarr"))
    order = res.ranking[res.picked[res.ranking]]
    np.testing.assert_allclose(back.images["ion_images"].values, res.images(order))
    table = back.tables["table"]
    np.testing.assert_allclose(table.var["mz"], res.mz[order])
    np.testing.assert_allclose(table.var["score"], res.score[order], rtol=1e-6)
    xy = {tuple(map(int, p)) for p in open_msi(path).xy}
    assert {tuple(map(int, p)) for p in table.obsm["spatial"]} == xy              # the imzML's own x / y


@pytest.mark.parametrize("name", ["morans_i", "mean_intensity"])
def test_baseline_scores_from_pick_peaks(weights, section, name):
    """A classic baseline as the score: the same numbers as the baseline itself; the model still labels."""
    from ionmorph.picking.baselines import BASELINE_SCORES

    path, common = section
    res = pick_peaks(path, k=4, candidates=common, model=weights, backend="eager", progress=False, score=name)
    expected = BASELINE_SCORES[name](res.images(np.arange(len(res))), res.mask)
    np.testing.assert_allclose(res.score, expected, rtol=1e-5, atol=1e-6)
    assert res.picked.sum() <= 4 and res.scoring == name and len(set(res.label)) >= 1
    assert res._columns()["score_from"][0] == f"{name} of the raw ion image (classic baseline; not from the p_ columns)"
    with pytest.raises(InputError, match="classic baseline, not a probability: give k"):
        pick_peaks(path, candidates=common, model=weights, progress=False, score=name)
    with pytest.raises(InputError, match="score must be one of"):
        pick_peaks(path, k=2, candidates=common, model=weights, progress=False, score="nonsense")
