"""Tests of ionmorph.training.dataset: section discovery, splits by section, the ion-image cache."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from ionmorph.training.dataset import IonImageDataset, build_cache, find_sections, split_sections
from ionmorph.errors import IonMorphError, LabelFormatError
from ionmorph.labels import CLASSES, PUBLISHED_SPLIT, read_label_csv
from ionmorph.io.msi import open_msi
from ionmorph.models.preprocessing import PreprocessConfig, preprocess

from train_testutil import write_tiny_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("corpus"), n_sections=4)


def test_find_sections_reads_corpus_json(corpus):
    secs = find_sections(corpus)
    assert [s.id for s in secs] == sorted(s.id for s in secs) and len(secs) == 4
    assert {s.family for s in secs} == {"brain", "kidney"}
    assert {s.instrument for s in secs} == {"maldi_tof", "desi"}
    assert all(s.ppm == 20.0 for s in secs)


def test_find_sections_errors(tmp_path, corpus):
    with pytest.raises(LabelFormatError, match="no label CSVs"):
        find_sections(tmp_path)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.csv").write_text("filename,mz,label\n")
    with pytest.raises(LabelFormatError, match="x.imzML"):
        find_sections(tmp_path)


def _many(n=30, families=("a", "b", "c"), instruments=("i1", "i2")):
    from pathlib import Path

    from ionmorph.training.dataset import Section

    return [Section(f"s{i:02d}", Path("x"), Path("y"), families[i % len(families)],
                    instruments[i % len(instruments)]) for i in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_split_is_by_section_and_seeded(seed):
    secs = _many()
    sp = split_sections(secs, seed=seed, val_fraction=0.2, test_fraction=0.2,
                        holdout_family=["c"], holdout_instrument=[])
    ids = [i for v in sp.values() for i in v]
    assert sorted(ids) == sorted(s.id for s in secs) and len(ids) == len(set(ids))  # partition
    fam = {s.id: s.family for s in secs}
    assert {fam[i] for i in sp["holdout"]} == {"c"}
    assert all(fam[i] != "c" for k in ("train", "val", "test") for i in sp[k])
    assert len(sp["test"]) == len(sp["val"]) == 4
    assert {fam[i] for i in sp["test"]} == {"a", "b"}  # families interleaved
    assert sp == split_sections(secs, seed=seed, val_fraction=0.2, test_fraction=0.2, holdout_family=["c"])
    assert sp != split_sections(secs, seed=seed + 10, val_fraction=0.2, test_fraction=0.2, holdout_family=["c"])


def test_split_holdout_instrument_and_errors():
    secs = _many()
    sp = split_sections(secs, holdout_instrument=["i2"])
    assert all(int(i[1:]) % 2 == 1 for i in sp["holdout"]) and len(sp["holdout"]) == 15
    with pytest.raises(IonMorphError, match="held-out family"):
        split_sections(secs, holdout_family=["nope"])
    with pytest.raises(IonMorphError, match="unknown split"):
        split_sections(secs, split="kfold")


def test_published_split():
    from pathlib import Path

    from ionmorph.training.dataset import Section

    ids = list(PUBLISHED_SPLIT["val"][:2]) + list(PUBLISHED_SPLIT["test"][:1]) + ["2019-01-01_00h00m00s"]
    sp = split_sections([Section(i, Path("x"), Path("y")) for i in ids], split="published")
    assert sp["val"] == sorted(ids[:2]) and sp["test"] == [ids[2]] and sp["train"] == [ids[3]]


def test_cache_matches_shared_preprocess_and_is_reused(corpus, tmp_path):
    secs = find_sections(corpus)
    cfg = PreprocessConfig(size=24)
    cache = build_cache(secs, tmp_path, cfg, default_ppm=10.0, workers=1, progress=False)
    assert cache.images.shape == (48, 1, 24, 24) and cache.images.dtype == np.float16
    assert isinstance(cache.images, np.memmap)
    # rows of one section equal the shared extraction + preprocessing path (to float16 precision)
    s = secs[1]
    rows = cache.indices([s.id])
    labels = read_label_csv(s.labels)
    data = open_msi(s.imzml)
    ref = preprocess(data.ion_images([r.mz for r in labels], ppm=20.0), data.mask, cfg)
    np.testing.assert_allclose(cache.images[rows].astype(np.float32), ref, atol=1e-3)
    assert [CLASSES[i] for i in cache.label[rows]] == [r.label for r in labels]
    np.testing.assert_allclose(cache.mz[rows], [r.mz for r in labels])
    assert set(cache.family[rows]) == {s.family}
    assert not list(tmp_path.glob("parts_*/*.npz"))  # parts merged and removed
    # second call reuses without re-extracting
    stamp = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.*")}
    again = build_cache(secs, tmp_path, cfg, default_ppm=10.0, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.*")} == stamp
    assert np.array_equal(np.asarray(again.images), np.asarray(cache.images))
    # another input size is a separate cache
    other = build_cache(secs[:1], tmp_path, PreprocessConfig(size=16), default_ppm=10.0, progress=False)
    assert other.images.shape == (12, 1, 16, 16)


def test_cache_updates_changed_section_and_resumes_parts(tmp_path):
    root = write_tiny_corpus(tmp_path / "c", n_sections=3, n_ions=6)
    secs = find_sections(root)
    cfg = PreprocessConfig(size=16)
    build_cache(secs[:2], tmp_path / "cache", cfg, 10.0, progress=False)
    # a third section appears and the first one changes (new labels)
    lab = secs[0].labels
    lines = lab.read_text().splitlines()
    lab.write_text("\n".join(lines[:4]) + "\n")
    os.utime(lab, ns=(time.time_ns(), time.time_ns() + 10**9))
    secs = find_sections(root)
    cache = build_cache(secs, tmp_path / "cache", cfg, 10.0, progress=False)
    assert len(cache.indices([secs[0].id])) == 3
    assert len(cache.indices([secs[2].id])) == 6 and len(cache) == 15


def test_dataset_items_and_augment(corpus, tmp_path):
    from ionmorph.training.augment import Augmenter

    cache = build_cache(find_sections(corpus), tmp_path, PreprocessConfig(size=24), 10.0, progress=False)
    rows = np.arange(5, 15)
    plain = IonImageDataset(cache, rows)
    x, y, clear = plain[2]
    assert tuple(x.shape) == (1, 24, 24) and str(x.dtype) == "torch.float32" and y == cache.label[7]
    assert clear == cache.clarity[7] or (clear != clear and cache.clarity[7] != cache.clarity[7])
    np.testing.assert_array_equal(x.numpy()[0], cache.images[7, 0].astype(np.float32))
    aug = IonImageDataset(cache, rows, Augmenter(24, seed=0))
    a0 = aug[2][0]
    assert np.array_equal(a0.numpy(), aug[2][0].numpy())
    aug.set_epoch(1)
    assert not np.array_equal(a0.numpy(), aug[2][0].numpy())
    assert np.array_equal(plain.labels, cache.label[rows])


def test_graded_targets():
    from ionmorph.labels import CLASSES, graded_targets

    s, w, loc, un = (CLASSES.index(c) for c in ("structured", "weak_structured", "localized", "unstructured"))
    t = graded_targets(np.array([s, loc, un, s]), np.array([0.5, 0.9, 0.2, np.nan]))
    assert np.allclose(t.sum(axis=1), 1.0)
    assert t[0, s] == pytest.approx(0.25) and t[0, w] == pytest.approx(0.75)
    assert t[1, loc] == pytest.approx(0.81) and t[1, un] == pytest.approx(0.19)
    assert t[2, un] == 1.0 and t[3, s] == 1.0   # ungraded class; unknown clarity
