"""Real-data folders (ionmorph.evaluation.realdata) and the real-data benchmark runner (benchmarks/realdata.py)."""
from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ionmorph.evaluation import realdata as rd
from ionmorph.errors import InputError
from ionmorph.labels import CLASSES

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "realdata.py"


def _write_labels(path: Path, mz: np.ndarray, labels: list[str], confidence: list[str] | None = None) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "mz", "label", "confidence"])
        for i, (m, lab) in enumerate(zip(mz, labels)):
            w.writerow([i, f"{m:.6f}", lab, (confidence or ["clear"] * len(labels))[i]])


def _cube_folder(root: Path, name: str = "mine", seed: int = 0) -> Path:
    """A tiny labelled cube folder: 6 channels on an 8 x 10 raster, two segments, a corner unmeasured."""
    rng = np.random.default_rng(seed)
    h, w, c = 8, 10, 6
    seg = np.ones((h, w), np.int8)
    seg[:, w // 2:] = 2
    measured = np.ones((h, w), bool)
    measured[:2, :2] = False
    seg[~measured] = 0
    cube = rng.random((h, w, c)).astype(np.float32)
    cube[..., 0] += 5 * (seg == 2)                       # channel 0 marks segment 2
    cube[~measured] = 0
    folder = root / name
    folder.mkdir(parents=True)
    mz = np.linspace(100.0, 600.0, c)
    np.savez(folder / f"{name}_cube.npz", intensities=cube, mz=mz, measured=measured)
    np.save(folder / f"{name}_segments.npy", seg)
    _write_labels(folder / f"{name}_labels_by_eye.csv", mz, ["localized"] + ["unstructured"] * (c - 1),
                  ["clear", "borderline"] + ["clear"] * (c - 2))
    return folder


@pytest.fixture(scope="module")
def barley(realdata):
    return rd.load_folder(realdata / "barley")


@pytest.mark.realdata
def test_barley_loads_aligned(barley):
    assert barley.kind == "imzml" and barley.data_path.name == "barley101_peaks.imzML"
    assert barley.n_channels == 101 and barley.shape == (49, 106)
    assert barley.images().shape == (101, 49, 106)
    assert barley.n_measured == 3422
    lab = barley.labels
    assert len(lab) == 101 and np.array_equal(lab.index, np.arange(101))
    assert np.allclose(barley.mz[lab.index], lab.mz, atol=1e-3)
    assert int(lab.clear.sum()) == 77
    assert {c: int((lab.label == c).sum()) for c in ("localized", "structured", "weak_structured")} == \
        {"localized": 57, "structured": 24, "weak_structured": 20}
    m = barley.evaluation_mask()
    assert np.array_equal(np.unique(m[m >= 0]), [1, 2, 3, 4, 5]) and int((m >= 0).sum()) == 3422


@pytest.mark.realdata
def test_barley_morans_i_reproduces_readme(barley):
    from ionmorph.picking import baselines as bl

    r, classes = rd.correlations(barley)
    assert classes.tolist() == [1, 2, 3, 4, 5]                  # 0 = not measured is no class
    perm = np.random.default_rng(0).permutation(barley.n_channels)
    draws = [np.random.default_rng(s).permutation(barley.n_channels) for s in range(300)]
    table = rd.mscf1_by_k({"morans_i": bl.morans_i(barley.images(), barley.measured),
                           "draws": [-np.argsort(d).astype(float) for d in draws],
                           "readme_draw": -np.argsort(perm).astype(float)}, r, barley.mz, classes, ks=(10, 40))
    assert abs(table["methods"]["morans_i"]["mscf1"][0] - 0.469) < 0.01
    assert abs(table["best"][0] - 0.537) < 0.001
    assert np.allclose(table["methods"]["readme_draw"]["mscf1"], [0.16, 0.36], atol=0.01)
    # the exact expectation of random picks agrees with the mean over many draws
    assert np.allclose(table["methods"]["draws"]["mscf1"], table["random_expected"], atol=0.01)


@pytest.mark.realdata
def test_find_folders_on_shared_realdata(realdata):
    names = [p.name for p in rd.find_folders(realdata)]
    assert {"barley", "poplar", "plaque-brain"} <= set(names)
    assert "imzml-example" not in names and "m2aia-test" not in names     # imzML only, no labels
    poplar = rd.load_folder(realdata / "poplar")
    assert poplar.kind == "cube" and poplar.images().shape == (200, 256, 256) and poplar.n_measured == 256 * 256
    plaque = rd.load_folder(realdata / "plaque-brain")
    assert plaque.kind == "ion_images" and plaque.n_channels == 3 and plaque.n_measured == 124_509
    assert plaque.names is not None and plaque.segments is None
    assert plaque.labels.label.tolist() == ["fragmented", "weak_structured", "weak_structured"]
    assert plaque.labels.clear.tolist() == [True, False, False]
    assert not rd.add_computed_segments(plaque)            # three ion images are no spectra to segment


@pytest.mark.realdata
def test_segments_from_spectra_reproduce_barley_segments(realdata):
    from sklearn.metrics import adjusted_rand_score

    with np.load(realdata / "barley" / "barley101_cube.npz") as z:
        cube = z["intensities"]
    assert cube.shape == (49, 106, 101)
    ref = np.load(realdata / "barley" / "barley_segments.npy")
    measured = cube.sum(axis=-1) > 0
    assert np.array_equal(measured, ref > 0)
    seg = rd.segments_from_spectra(cube, measured, k=5, seed=0)
    assert seg.dtype == np.int8 and np.array_equal(seg > 0, measured)
    assert adjusted_rand_score(ref[measured], seg[measured]) > 0.999      # the same partition
    assert sorted(np.bincount(seg[measured])[1:]) == sorted([512, 485, 581, 1337, 507])


def test_segments_from_spectra_finds_regions_by_their_spectra():
    rng = np.random.default_rng(0)
    h, w, c = 20, 24, 12
    region = np.zeros((h, w), np.int64)
    region[:, 8:16] = 1
    region[12:, 16:] = 2
    profiles = rng.random((3, c)) * 10
    cube = rng.poisson(profiles[region]).astype(np.float32) * rng.uniform(0.5, 2.0, (h, w, 1))  # TIC varies
    measured = np.ones((h, w), bool)
    measured[0, :] = False
    seg = rd.segments_from_spectra(cube, measured, k=3, seed=0)
    assert (seg[~measured] == 0).all() and set(np.unique(seg[measured])) == {1, 2, 3}
    for r in range(3):                                       # each region is one segment, away from borders
        inner = measured & (region == r)
        assert len(np.unique(seg[inner])) <= 2 and np.bincount(seg[inner]).max() > 0.9 * inner.sum()
    np.testing.assert_array_equal(seg, rd.segments_from_spectra(cube, measured, k=3, seed=0))
    with pytest.raises(InputError, match="cube"):
        rd.segments_from_spectra(cube[..., 0])
    with pytest.raises(InputError, match="measured"):
        rd.segments_from_spectra(cube, measured[:5])
    with pytest.raises(InputError, match="k=0"):
        rd.segments_from_spectra(cube, measured, k=0)


def test_top_k_and_grouped_tables_pick_like_pick_peaks():
    from ionmorph.picking.pick import select

    score = np.array([0.9, 0.8, np.nan, 0.7, 0.1, 0.95])
    group = np.array([0, 0, 1, 2, 2, 3])
    assert rd.top_k(score, 3).tolist() == [5, 0, 1]
    assert rd.top_k(score, 3, group).tolist() == [5, 0, 3]
    assert rd.top_k(score, 10, group).tolist() == [5, 0, 3, 2]         # one per group; NaN last
    assert set(rd.top_k(score, 2, group)) == set(np.flatnonzero(select(np.nan_to_num(score, nan=-np.inf), 2, None,
                                                                      group)))
    # two channels of one segment-marking ion: ungrouped top-2 takes both, grouped takes one
    r = np.array([[0.9, 0.9, 0.1, 0.0], [0.0, 0.0, 0.1, 0.8]])
    mz = np.array([100.0, 101.0, 200.0, 300.0])
    scores = {"a": np.array([4.0, 3.0, 2.0, 1.0])}
    plain = rd.mscf1_by_k(scores, r, mz, np.array([1, 2]), ks=(2,))
    grouped = rd.mscf1_by_k(scores, r, mz, np.array([1, 2]), ks=(2,), group=np.array([0, 0, 1, 2]))
    assert grouped["n_groups"] == 3 and grouped["n_picked"] == [2] and plain["n_picked"] == [2]
    from ionmorph.evaluation.metrics import mscf1_from_r

    classes = np.array([1, 2])
    assert plain["methods"]["a"]["mscf1"][0] == pytest.approx(mscf1_from_r([100.0, 101.0], r, mz, classes=classes).mscf1)
    assert grouped["methods"]["a"]["mscf1"][0] == pytest.approx(mscf1_from_r([100.0, 200.0], r, mz,
                                                                             classes=classes).mscf1)
    assert grouped["methods"]["a"]["mscf1"][0] != plain["methods"]["a"]["mscf1"][0]
    with pytest.raises(InputError, match="group"):
        rd.mscf1_by_k(scores, r, mz, np.array([1, 2]), ks=(2,), group=np.array([0, 1]))


def test_synthetic_imzml_folder_is_found(tmp_path):
    from ionmorph.synth import simulate_section

    sim = simulate_section(1, shape=(20, 24), n_ions=20)
    folder = tmp_path / "my_section"
    sim.write_imzml(folder / "my_section.imzML", mode="binned")
    ann = sim.annotation()
    np.save(folder / "my_section_segments.npy", np.where(sim.mask, ann + 1, 0).astype(np.int16))
    from ionmorph.io.msi import open_msi

    axis = np.asarray(open_msi(folder / "my_section.imzML").mz_axis)
    _write_labels(folder / "my_section_labels_by_eye.csv", axis, [CLASSES[i % 6] for i in range(len(axis))])
    (tmp_path / "format_example").mkdir()                                   # imzML only: skipped
    sim.write_imzml(tmp_path / "format_example" / "x.imzML", mode="binned")
    assert rd.find_folders(tmp_path) == [folder]
    assert rd.find_folders(folder) == [folder]                             # a folder given directly
    f = rd.load_folder(folder)
    assert f.kind == "imzml" and f.n_channels == len(axis) and f.n_measured == int(sim.mask.sum())
    assert len(f.labels) == len(axis) and f.labelled
    m = f.evaluation_mask()
    assert np.array_equal(np.unique(m[m >= 0]), np.unique(ann[sim.mask]) + 1)
    r, classes = rd.correlations(f)
    assert r.shape == (len(classes), len(axis))
    # labels whose m/z does not match the indexed channel are refused
    _write_labels(folder / "my_section_labels_by_eye.csv", axis + 0.5, ["structured"] * len(axis))
    with pytest.raises(InputError, match="not aligned"):
        rd.load_folder(folder)


def test_cube_and_ion_image_folders(tmp_path):
    folder = _cube_folder(tmp_path)
    stack = tmp_path / "spots"
    stack.mkdir()
    np.savez(stack / "spots_ion_images.npz", images=np.zeros((2, 5, 7), np.float32), mz=[500.0, 600.0],
             measured=np.ones((5, 7), bool))
    (tmp_path / "notes").mkdir()
    assert rd.find_folders(tmp_path) == [folder, stack]
    f = rd.load_folder(folder)
    assert f.kind == "cube" and f.images().shape == (6, 8, 10) and f.n_measured == 76
    assert f.labels.clear.sum() == 5 and f.describe()["segments"] == {"1": 36, "2": 40}
    assert f.segments_source == "file mine_segments.npy" and not rd.add_computed_segments(f)
    (folder / "mine_segments.npy").unlink()
    f = rd.load_folder(folder)
    assert f.segments is None and rd.add_computed_segments(f, k=2)
    assert f.segments_source.startswith("computed") and "k=2" in f.segments_source
    assert set(f.describe()["segments"]) == {"1", "2"} and (f.segments[~f.measured] == 0).all()
    g = rd.load_folder(stack)
    assert g.kind == "ion_images" and not g.labelled and g.pick_kwargs()["mask"].all()
    with pytest.raises(InputError, match="no data"):
        rd.load_folder(tmp_path / "notes")


def test_random_expected_and_sampling():
    assert rd.random_expected([10, 10], 100, 10) == pytest.approx(2 * 10 * 10 / (100 * 20))
    assert rd.random_expected([0], 100, 10) == 0.0
    idx = rd.sample_channels(200, 48)
    assert len(idx) == 48 and idx[0] == 0 and idx[-1] == 199 and np.array_equal(idx, rd.sample_channels(200, 48))
    assert np.array_equal(rd.sample_channels(5, 48), np.arange(5))


def test_score_folder_passes_the_normalisation_through(tmp_path):
    from ionmorph.io.normalisation import norm_factor, normalise

    folder = rd.load_folder(_cube_folder(tmp_path))
    scored = rd.score_folder(folder, backend="eager", baselines=False, ks=(2,), norm="tic")
    assert scored.summary["norm"] == "tic" and scored.pick.norm == "tic"
    want = normalise(folder.images(), norm_factor(folder.source, "tic", folder.measured))
    np.testing.assert_allclose(scored.pick.images(np.arange(folder.n_channels)), want, rtol=1e-6)
    assert rd.score_folder(folder, backend="eager", baselines=False, ks=(2,)).summary["norm"] == "none"


@pytest.mark.realdata
def test_score_barley_with_shipped_weights(barley):
    scored = rd.score_folder(barley, backend="eager", baselines=False, ks=(10, 20))
    s = scored.summary
    assert len(scored.pick) == 101 and np.allclose(scored.pick.mz, barley.mz)
    a = s["agreement"]
    assert a["all"]["n"] == 101 and a["clear"]["n"] == 77
    cm = np.asarray(a["all"]["confusion"])
    assert cm.shape == (6, 6) and cm.sum(axis=1)[CLASSES.index("localized")] == 57
    pred = np.asarray([row["predicted"] for row in s["per_channel"]])
    eye = np.asarray([row["eye"] for row in s["per_channel"]])
    assert a["all"]["accuracy"] == pytest.approx(float(np.mean(pred == eye)))
    assert sum(s["predicted"]["counts"].values()) == 101
    top = scored.pick.mz[scored.pick.ranking[:10]]
    from ionmorph.evaluation.metrics import mscf1

    direct = mscf1(top, barley.source, barley.evaluation_mask()).mscf1      # the metric's own entry point
    assert s["mscf1"]["methods"]["ionmorphnet"]["mscf1"][0] == pytest.approx(direct)
    # the grouped table scores exactly what pick_peaks(k=10) picks
    from ionmorph import pick_peaks

    users = pick_peaks(**barley.pick_kwargs(), k=10, backend="eager", progress=False)
    assert users.picked.sum() == s["mscf1_grouped"]["n_picked"][0] == 10
    direct = mscf1(users.mz[users.picked], barley.source, barley.evaluation_mask()).mscf1
    assert s["mscf1_grouped"]["methods"]["ionmorphnet"]["mscf1"][0] == pytest.approx(direct)
    assert s["mscf1_grouped"]["n_groups"] == len(np.unique(scored.pick.group)) < 101
    assert [row["rank"] for row in s["ranking"]] == list(range(1, 11))
    assert s["weights_version"] and s["weights_version"] in s["model"]
    fig = rd.grid_figure(scored, index=[0, 1, 2])
    assert len(fig.axes) >= 4                                                # 3 panels + colour bar
    assert any(ax.title.get_color() == "red" for ax in fig.axes[:3]) or a["all"]["accuracy"] == 1.0
    conf = rd.confusion_figures(scored)
    assert conf.axes[0].get_ylabel() == "label by eye"


@pytest.mark.realdata
def test_score_plaque_brain_against_its_labels(realdata):
    plaque = rd.load_folder(realdata / "plaque-brain")
    s = rd.score_folder(plaque, backend="eager").summary
    assert s["agreement"]["all"]["n"] == 3 and s["agreement"]["clear"]["n"] == 1
    assert "mscf1" not in s and "segments" not in s                         # no segments, none computed
    assert sorted(row["name"] for row in s["ranking"]) == sorted(plaque.names.tolist())
    assert s["per_channel"][0]["eye"] == "fragmented"


def _runner():
    spec = importlib.util.spec_from_file_location("bench_realdata", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_runner_on_a_folder_of_your_own(tmp_path):
    bench = _runner()
    root = tmp_path / "root"
    _cube_folder(root, "mine")
    stack = root / "spots"
    stack.mkdir()
    rng = np.random.default_rng(1)
    np.savez(stack / "spots_ion_images.npz", images=rng.random((2, 9, 11)).astype(np.float32),
             mz=[500.0, 600.0], measured=np.ones((9, 11), bool), species=np.array(["a", "b"]))
    nocut = root / "nocut"
    nocut.mkdir()
    cube = rng.random((9, 11, 5)).astype(np.float32)
    cube[:, 6:, :2] += 4.0
    np.savez(nocut / "nocut_cube.npz", intensities=cube, mz=np.linspace(200.0, 300.0, 5))
    out = tmp_path / "out"
    argv = ["--root", str(root), "--out", str(out), "--out-prefix", "mine_v0", "--backend", "eager",
            "--k", "2", "3", "--random-seeds", "2", "--s3pl-epochs", "1", "--s3pl-train-pixels", "16",
            "--no-progress"]
    assert bench.main(argv) == 0
    res = json.loads((out / "mine_v0.json").read_text())
    assert set(res["datasets"]) == {"mine", "nocut", "spots"} and res["k"] == [2, 3]
    mine = res["datasets"]["mine"]
    assert set(mine["mscf1"]["methods"]) == set(rd.METHODS) == set(mine["mscf1_grouped"]["methods"])
    assert mine["segments_source"] == "file mine_segments.npy" and res["weights_version"]
    cut = res["datasets"]["nocut"]
    assert cut["segments_source"].startswith("computed") and "mscf1_grouped" in cut
    assert len(cut["segments"]) == 5 and sum(cut["segments"].values()) == 99
    assert len(mine["mscf1"]["best"]) == 2 and mine["mscf1"]["methods"]["random"]["n_seeds"] == 2
    assert mine["agreement"]["all"]["n"] == 6 and mine["agreement"]["clear"]["n"] == 5
    assert "agreement" not in res["datasets"]["spots"]
    for f in ("mine_v0.md", "mine_v0_mine_grid.png", "mine_v0_mine_confusion.png", "mine_v0_spots_grid.png",
              "mine_v0_nocut_segments.png"):
        assert (out / f).stat().st_size > 500, f
    assert not (out / "mine_v0_spots_confusion.png").exists()
    md = (out / "mine_v0.md").read_text()
    assert "## mSCF1 by budget k" in md and "best reachable" in md and "## Predicted class shares" in md
    assert "mine, protocol ranking" in md and "mine, pick_peaks(k) selection" in md and "sputnik_csr" in md
    assert "Segments computed from the spectra" in md and "weights version" in md
    with pytest.raises(InputError, match="SCORES"):
        bench.main(argv + ["--score", "no_such_score"])
    if not rd.pick_supports_score():
        with pytest.raises(InputError, match="score"):
            bench.main(argv + ["--score", "classes"])


def test_ranking_misses_lists_confident_false_picks_then_buried_true_ones():
    from types import SimpleNamespace

    from ionmorph.evaluation.realdata import FolderScore, ranking_misses

    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], dtype=np.float32)
    r = np.array([[0.1, 0.6, 0.2, 0.7, 0.1, 0.55, 0.8],
                  [0.0, 0.0, 0.1, 0.0, 0.25, 0.0, 0.0]])
    result = FolderScore(folder=None, pick=SimpleNamespace(score=score), r=r)
    assert ranking_misses(result, n=2).tolist() == [0, 2, 6, 5]
    assert ranking_misses(FolderScore(folder=None, pick=None)).size == 0
