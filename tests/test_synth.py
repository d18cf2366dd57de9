"""Tests of the MSI simulator ionmorph.synth: ground truth, imzML round trips, corpus, CLI."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.labels import CLASSES, read_label_csv
from ionmorph.io.msi import open_msi
from ionmorph.synth import FAMILIES, INSTRUMENTS, build_corpus, make_panel, simulate_section
from ionmorph.synth.ions import ISOTOPE_SPACING

SMALL = (48, 56)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def test_deterministic_from_seed():
    a = simulate_section(5, family="kidney", instrument="desi", shape=SMALL, n_ions=80)
    b = simulate_section(5, family="kidney", instrument="desi", shape=SMALL, n_ions=80)
    c = simulate_section(6, family="kidney", instrument="desi", shape=SMALL, n_ions=80)
    assert np.array_equal(a.abundance, b.abundance) and np.array_equal(a.regions, b.regions)
    assert a.looks == b.looks and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.regions, c.regions)


def test_written_files_are_deterministic(tmp_path):
    sec = simulate_section(2, family="seed", instrument="maldi_orbitrap", shape=(24, 30), n_ions=40)
    p1, p2 = sec.write_imzml(tmp_path / "a.imzML", "processed"), sec.write_imzml(tmp_path / "b.imzML", "processed")
    assert p1.with_suffix(".ibd").read_bytes()[16:] == p2.with_suffix(".ibd").read_bytes()[16:]  # after the UUID


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes_and_every_class_present(family):
    sec = simulate_section(0, family=family, instrument="maldi_orbitrap", shape=(80, 90), n_ions=300)
    h, w = sec.shape
    assert (h, w) == (80, 90) and sec.regions.shape == (h, w) and sec.regions.dtype.kind == "i"
    assert sec.tissue.dtype == bool and sec.mask.dtype == bool
    assert sec.abundance.shape == (300, h, w) and sec.abundance.dtype == np.float32
    assert sec.region_names[0] == "off_sample" and np.all(sec.regions[~sec.tissue] == 0)
    assert 0.15 < sec.tissue.mean() < 0.8 and sec.mask.mean() > 0.9
    assert set(sec.looks) - {""} == set(CLASSES), f"classes seen: {set(sec.looks)}"
    assert len(np.unique(sec.regions[sec.tissue])) >= 3
    ann = sec.annotation()
    assert ann.shape == (h, w) and set(np.unique(ann)) <= {0, 1, 2} and np.all(ann[~sec.tissue] == 0)


def test_panel_chemistry():
    panel = make_panel(3, "brain", n_ions=200)
    assert len(panel) == 200
    for i, ion in enumerate(panel):
        parent = panel[ion.parent]
        assert parent.kind == "mono" and parent.style == ion.style and parent.cls == ion.cls
        if ion.kind == "isotope":
            k = round((ion.mz - parent.mz) / ISOTOPE_SPACING)
            assert k in (1, 2) and abs(ion.mz - parent.mz - k * ISOTOPE_SPACING) < 1e-9
            expected = 0.0107 * parent.n_carbon if k == 1 else (0.0107 * parent.n_carbon) ** 2 / 2
            assert ion.rel == pytest.approx(expected)
        elif ion.kind == "adduct":
            assert ion.mz - parent.mz in (pytest.approx(21.981944), pytest.approx(37.955882))
    mono = [ion for ion in panel if ion.kind == "mono"]
    assert all(150 <= ion.mz <= 1001 for ion in mono)
    only = make_panel(3, "seed", n_ions=60, class_shares={"localized": 1.0})
    assert {ion.cls for ion in only} == {"localized"}
    assert make_panel(3, "brain", n_ions=200) == panel


def test_tumour_markers_and_annotation():
    panel = make_panel(1, "tumour", n_ions=150)
    assert any(ion.marks_tumour for ion in panel)
    sec = simulate_section(4, family="tumour", instrument="desi", shape=(60, 60), panel=panel, tumour_fraction=0.35)
    ann = sec.annotation()
    tumour, healthy = ann == 2, ann == 1
    assert 0.2 < tumour.sum() / (ann > 0).sum() < 0.5
    markers = [i for i, ion in enumerate(sec.ions) if ion.marks_tumour and ion.style == "regional"]
    ratios = [sec.abundance[i][tumour].mean() / sec.abundance[i][healthy].mean() for i in markers]
    assert markers and np.median(ratios) > 1.5
    free = simulate_section(4, family="kidney", instrument="maldi_tof", shape=(40, 40), tumour_fraction=0.0)
    assert set(np.unique(free.annotation())) == {0, 1}
    lesion = simulate_section(4, family="kidney", instrument="maldi_tof", shape=(40, 40), tumour_fraction=0.3)
    assert 2 in lesion.annotation()
    plain = simulate_section(4, family="kidney", instrument="maldi_tof", shape=(40, 40))
    assert set(np.unique(plain.annotation())) == {0, 1, 2}  # background, cortex, medulla


def test_patient_knobs():
    panel = make_panel(9, "brain", n_ions=60)
    base = simulate_section(9, family="brain", shape=SMALL, panel=panel, intensity_scale=1.0)
    bright = simulate_section(9, family="brain", shape=SMALL, panel=panel, intensity_scale=2.0)
    assert np.allclose(bright.abundance, 2.0 * base.abundance, rtol=1e-5)
    shifted = simulate_section(9, family="brain", shape=SMALL, panel=panel, mz_shift_ppm=20.0, intensity_scale=1.0)
    assert float(np.mean(shifted.drift_ppm - base.drift_ppm)) == pytest.approx(20.0, abs=1e-3)
    big = simulate_section(9, family="brain", shape=SMALL, panel=panel, composition={"white_matter": 4.0},
                           intensity_scale=1.0)
    wm = base.region_names.index("white_matter")
    assert (big.regions == wm).sum() > (base.regions == wm).sum()
    faint = simulate_section(9, family="brain", shape=SMALL, panel=panel, intensity_scale=0.003)
    seen = {lab for ion, lab in zip(faint.ions, faint.looks) if ion.cls == "structured" and lab}
    # a faint structured ion looks weak, noise, or (few detections in its brightest region) localized
    assert seen <= {"weak_structured", "unstructured", "localized"}, "labels must follow what the image looks like"
    assert "structured" not in seen


@pytest.mark.parametrize("mode,instrument", [("continuous", "maldi_tof"), ("processed", "maldi_orbitrap"),
                                             ("continuous", "desi"), ("processed", "maldi_tof"),
                                             ("binned", "maldi_tof")])
def test_imzml_round_trip_matches_truth(tmp_path, mode, instrument):
    from pyimzml.ImzMLParser import ImzMLParser

    sec = simulate_section(8, family="kidney", instrument=instrument, shape=(50, 60), n_ions=150, intensity_scale=1.0)
    path = sec.write_imzml(tmp_path / "s.imzML", mode=mode)
    parser = ImzMLParser(str(path))
    assert len(parser.coordinates) == int(sec.mask.sum())
    lengths = {len(parser.getspectrum(i)[0]) for i in range(0, len(parser.coordinates), 97)}
    assert (len(lengths) == 1) == (mode != "processed")
    mzs, ints = parser.getspectrum(0)
    assert np.all(np.diff(mzs) > 0) and np.all(ints >= 0)
    data = open_msi(path)
    assert data.shape == sec.shape and np.array_equal(data.mask, sec.mask)
    assert data.mode == ("processed" if mode == "processed" else "continuous")
    idx = [i for i in sec.labelled() if sec.looks[i] in ("structured", "negative")]
    images = data.ion_images([sec.ions[i].mz for i in idx], ppm=sec.ppm)
    r = np.asarray([_corr(img[sec.mask], sec.abundance[i][sec.mask]) for img, i in zip(images, idx)])
    # bound: ions that look structured or negative correlate with their truth at r >= 0.6 (90 %), median >= 0.85
    assert len(r) >= 20 and np.mean(r >= 0.6) >= 0.9 and np.median(r) >= 0.85, np.round(np.sort(r)[:10], 2)


def test_processed_mode_misses_low_peaks(tmp_path):
    sec = simulate_section(3, family="brain", instrument="maldi_orbitrap", shape=(40, 40), n_ions=120)
    data = open_msi(sec.write_imzml(tmp_path / "p.imzML", mode="processed"))
    faint = [i for i, ion in enumerate(sec.ions) if ion.style == "faint"]
    img = data.ion_images([sec.ions[i].mz for i in faint], ppm=sec.ppm)
    on = sec.tissue & sec.mask
    assert faint and np.mean(img[:, on] == 0) > 0.2  # gappy: many tissue pixels lack the peak


def test_roi_acquisition_crops_to_measured_box(tmp_path):
    sec = simulate_section(3, family="seed", shape=(60, 90), n_ions=30, roi=True)
    assert sec.shape[0] <= 60 and sec.shape[1] < 90 and not sec.mask.all()
    assert sec.mask[0].any() and sec.mask[-1].any() and sec.mask[:, 0].any() and sec.mask[:, -1].any()
    data = open_msi(sec.write_imzml(tmp_path / "r.imzML", mode="processed"))
    assert np.array_equal(data.mask, sec.mask)


def test_write_public_layout(tmp_path):
    sec = simulate_section(1, family="tumour", instrument="desi", shape=(32, 36), n_ions=40)
    path = sec.write_public(tmp_path / "group", "sec01", mode="continuous")
    mask = np.load(tmp_path / "group" / "masks" / "sec01_mask.npy")
    assert path == tmp_path / "group" / "sec01.imzML" and path.with_suffix(".ibd").is_file()
    assert mask.shape == sec.shape and set(np.unique(mask)) == {0, 1, 2}
    assert not list((tmp_path / "group").glob(".*")), "no temporary files left behind"


def test_corpus_layout_labels_and_resume(tmp_path):
    out = build_corpus(tmp_path / "c", 3, seed=4, progress=False, shape_range=(24, 36))
    doc = json.loads((out / "corpus.json").read_text())
    recs = doc["sections"]
    assert [r["family"] for r in recs] == list(FAMILIES[:3])
    assert all(r["instrument"] in INSTRUMENTS and r["mode"] in ("processed", "continuous") for r in recs)
    for r in recs:
        sid = r["id"]
        imzml = out / sid / f"{sid}.imzML"
        rows = read_label_csv(out / "labels" / f"{sid}.csv")
        sec = simulate_section(r["seed"], family=r["family"], instrument=r["instrument"],
                               shape=tuple(r["shape"]), n_ions=r["n_ions"])
        key = [(x.filename, x.mz, x.label, x.databases) for x in rows]
        assert rows and key == [(x.filename, x.mz, x.label, x.databases) for x in sec.label_rows(f"{sid}.imzML")]
        assert {row.filename for row in rows} == {imzml.name} and open_msi(imzml).mode == r["mode"]
    stamp = (out / recs[0]["id"] / f"{recs[0]['id']}.ibd").stat().st_mtime_ns
    build_corpus(tmp_path / "c", 3, seed=4, progress=False, shape_range=(24, 36))
    assert (out / recs[0]["id"] / f"{recs[0]['id']}.ibd").stat().st_mtime_ns == stamp


def test_speed_100x100x300(tmp_path):
    t0 = time.perf_counter()
    sec = simulate_section(0, family="brain", instrument="maldi_tof", shape=(100, 100), n_ions=300)
    sec.write_imzml(tmp_path / "fast.imzML", mode="continuous")
    assert time.perf_counter() - t0 < 10.0


def test_bad_input_raises():
    with pytest.raises(InputError, match="family"):
        simulate_section(0, family="liver")
    with pytest.raises(InputError, match="instrument"):
        simulate_section(0, instrument="nmr")
    with pytest.raises(InputError, match="shape"):
        simulate_section(0, shape=(5, 5))
    with pytest.raises(InputError, match="panel"):
        simulate_section(0, family="seed", panel=make_panel(0, "brain", 10))
    with pytest.raises(InputError, match="composition"):
        simulate_section(0, family="seed", composition={"cortex": 2.0})
    with pytest.raises(InputError, match="class_shares"):
        make_panel(0, "seed", class_shares={"blobby": 1.0})
    sec = simulate_section(0, shape=(20, 20), n_ions=10)
    with pytest.raises(InputError, match="mode"):
        sec.write_imzml("/tmp/never.imzML", mode="centroided")


def test_cli_simulate_and_corpus(tmp_path, capsys):
    from ionmorph.cli import main

    out = tmp_path / "one.imzML"
    assert main(["simulate", str(out), "--family", "seed", "--instrument", "desi", "--shape", "30", "40",
                 "--n-ions", "50", "--seed", "3", "--mode", "processed"]) == 0
    assert out.is_file() and read_label_csv(tmp_path / "one.labels.csv")
    assert main(["simulate", str(tmp_path / "x.imzML"), "--shape", "30", "30", "--n-ions", "20",
                 "--public", str(tmp_path / "grp")]) == 0
    assert (tmp_path / "grp" / "masks" / "x_mask.npy").is_file()
    assert main(["corpus", str(tmp_path / "c"), "--n-sections", "2", "--shape-range", "20", "24",
                 "--modes", "processed"]) == 0
    assert len(list((tmp_path / "c" / "labels").glob("*.csv"))) == 2
    assert main(["simulate", str(tmp_path / "y.imzML"), "--shape", "3", "3"]) == 2
    assert "shape" in capsys.readouterr().err


def test_detection_probability_is_the_poisson_tail():
    from scipy import special

    from ionmorph.synth.looks import detection_probability

    lam = np.linspace(0.0, 25.0, 200)
    for threshold in (0.5, 1, 2, 3, 3.5):
        k = max(1, int(np.ceil(threshold)))
        assert np.allclose(detection_probability(lam, threshold), special.gammainc(k, lam), atol=1e-5)


def test_profile_peaks_have_their_maximum_at_the_ion(tmp_path):
    """No inflated points at the edges of a peak's dense axis window (wide grid gaps beside them)."""
    from ionmorph.io.msi import open_msi

    sec = simulate_section(7, family="kidney", instrument="desi", shape=(40, 40), n_ions=80)
    path = tmp_path / "s.imzML"
    sec.write_imzml(path, mode="continuous")
    mz, mean = open_msi(path).mean_spectrum()
    strongest = np.argsort(-sec.abundance.reshape(len(sec.ions), -1).mean(axis=1))[:10]
    for i in strongest:
        centre = sec.ions[i].mz
        near = np.flatnonzero(np.abs(mz - centre) < centre * 150e-6)
        assert abs(mz[near[np.argmax(mean[near])]] - centre) < centre * 20e-6


def test_binned_mode_sums_the_profile_into_one_channel_per_peak(tmp_path):
    from ionmorph.synth.spectra import binned_axis

    sec = simulate_section(5, family="brain", instrument="maldi_tof", shape=(30, 34), n_ions=60)
    profile = open_msi(sec.write_imzml(tmp_path / "c.imzML", mode="continuous"))
    binned = open_msi(sec.write_imzml(tmp_path / "b.imzML", mode="binned"))
    channels, matrix = binned_axis(sec.panel.mz, sec.instrument)
    assert np.allclose(binned.mz_axis, channels) and np.all(np.diff(channels) > 0)
    assert matrix.shape == (len(profile.mz_axis), len(channels))
    assert np.array_equal(np.asarray(matrix.sum(axis=1)).ravel(), np.ones(len(profile.mz_axis)))  # a partition
    a = profile.channel_images(np.arange(len(profile.mz_axis)))
    b = binned.channel_images(np.arange(len(channels)))
    summed = np.tensordot(matrix.T.toarray(), a, axes=1)
    assert np.allclose(summed, b, rtol=1e-4, atol=1e-2 * float(b.max()) * 1e-3)
    # every simulated peak lies in exactly one channel, at most one FWHM from the channel's m/z
    mz = np.sort(sec.panel.mz)
    nearest = np.abs(channels[None, :] - mz[:, None]).min(axis=1)
    assert np.all(nearest <= sec.instrument.fwhm(mz))
    assert len(channels) < 0.6 * len(profile.mz_axis)


# ----------------------------------------------------------------------------- realism of labels and framing
def _disk(shape=(60, 60), centre=(30, 30), radius=24):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return np.hypot(yy - centre[0], xx - centre[1]) < radius


def test_sparse_image_confined_to_one_region_is_localized():
    from ionmorph.synth.looks import apparent_class, detection_probability

    tissue = _disk()
    mask = np.ones_like(tissue)
    region = tissue & _disk(radius=8, centre=(20, 30))
    expected = np.where(region, 0.8, 0.0)           # sparse: most region pixels show nothing
    det = detection_probability(expected, 1.0)
    assert float(det[region].mean()) < 0.6
    assert apparent_class("localized", "regional", expected, det, tissue, mask) == "localized"
    assert apparent_class("structured", "regional", expected, det, tissue, mask) == "localized"
    too_few = np.where(region, 0.01, 0.0)
    assert apparent_class("localized", "regional", too_few, detection_probability(too_few, 1.0),
                          tissue, mask) == "unstructured"


def test_faint_image_of_the_whole_structure_is_weak_structured():
    from ionmorph.synth.looks import apparent_class, detection_probability

    tissue = _disk()
    mask = np.ones_like(tissue)
    expected = np.where(tissue, 0.5, 0.0) * (1 + 0.3 * (np.arange(60)[None, :] > 30))
    det = detection_probability(expected, 1.0)
    assert apparent_class("structured", "regional", expected, det, tissue, mask) == "weak_structured"


def test_bright_region_over_a_dense_image_of_the_rest_is_localized():
    from ionmorph.synth.looks import apparent_class, detection_probability

    tissue = _disk()
    mask = np.ones_like(tissue)
    region = tissue & _disk(radius=8, centre=(20, 30))
    dense = np.where(region, 400.0, np.where(tissue, 60.0, 0.0))  # every tissue pixel shows the ion
    det = detection_probability(dense, 3.0)
    assert float(det[tissue].mean()) > 0.99
    for cls, style in (("structured", "regional"), ("weak_structured", "faint"), ("localized", "regional")):
        assert apparent_class(cls, style, dense, det, tissue, mask) == "localized"
    even = np.where(region, 400.0, np.where(tissue, 250.0, 0.0))  # the rest is nearly as bright
    assert apparent_class("structured", "regional", even, detection_probability(even, 3.0), tissue, mask) == "structured"


def test_shot_to_shot_variation_is_per_pixel_and_partly_ion_specific():
    from ionmorph.synth.section import ION_YIELD_CV_RANGE, PIXEL_CV_RANGE, _ion_yield, _substrate

    tissue = _disk(shape=(80, 80), centre=(40, 40), radius=36)
    inst = simulate_section(0, n_ions=5, shape=(20, 20)).instrument
    _, shot = _substrate(np.random.default_rng(3), tissue, np.ones((80, 80)), inst)
    log = np.log(shot)
    inner = tissue & np.roll(tissue, 1, axis=1)
    assert PIXEL_CV_RANGE[0] * 0.8 < log[tissue].std() < PIXEL_CV_RANGE[1] * 1.2
    assert abs(np.corrcoef(log[inner], np.roll(log, 1, axis=1)[inner])[0, 1]) < 0.1  # not blurred
    assert np.all(shot[~tissue] == 1.0)
    sec = simulate_section(4, family="brain", instrument="maldi_orbitrap", n_ions=40, shape=(40, 40))
    ions = [ion for ion in sec.panel if ion.kind == "mono"][:2]
    a, b = (_ion_yield(ion, (40, 40), 4) for ion in ions)
    assert np.array_equal(a, _ion_yield(ions[0], (40, 40), 4)) and not np.array_equal(a, b)
    assert np.log(a).std() <= ION_YIELD_CV_RANGE[1] * 1.1


def test_clarity_grades_noise():
    from ionmorph.synth.looks import clarity

    tissue = _disk()
    mask = np.ones_like(tissue)
    pattern = np.where(tissue, 1.0, 0.1) * (1 + (np.arange(60)[:, None] > 30))
    rng = np.random.default_rng(0)
    bright = clarity(200 * pattern, mask, 3.0, 0.1, rng)
    faint = clarity(0.3 * pattern, mask, 1.0, 0.1, rng)
    assert bright > 0.95 and faint < 0.6 and faint < bright
    assert clarity(np.full((20, 20), 5.0), np.ones((20, 20), bool), 1.0, 0.0, rng) == 0.0


def test_framings_cover_border_cuts_and_hand_drawn_regions():
    from ionmorph.synth.section import _hand_drawn

    cut, corners = 0, 0
    for seed in range(24):
        sec = simulate_section(seed, family="kidney", instrument="maldi_orbitrap", n_ions=20, roi=False)
        t = sec.tissue
        if t[0].any() or t[-1].any() or t[:, 0].any() or t[:, -1].any():
            cut += 1
            corners += int(not t.all())
    assert cut >= 6, f"only {cut} of 24 sections touch the raster border"
    assert corners == cut
    tissue = _disk(centre=(30, 28), radius=18)
    region = _hand_drawn(np.random.default_rng(1), tissue)
    assert region[tissue].mean() > 0.9 and region.mean() < 0.9


def test_corpus_labels_carry_clarity(tmp_path):
    from ionmorph.labels import read_label_csv

    out = build_corpus(tmp_path / "c", n_sections=1, shape_range=(40, 50), progress=False)
    rows = read_label_csv(next((out / "labels").glob("*.csv")))
    q = np.array([r.clarity for r in rows])
    assert len(rows) and np.all((q >= 0) & (q <= 1))


def test_tof_sims_is_sparse():
    sec = simulate_section(4, family="tumour", instrument="tof_sims", shape=(60, 60), n_ions=60)
    lab = sec.labelled()
    shown = np.array([np.mean(sec.abundance[i][sec.mask] >= 1.0) for i in lab])
    assert np.median(shown) < 0.5  # most pixels of most channels hold less than one count


def test_cell_walls_are_thin_connected_lines_of_the_requested_cell_size():
    from scipy import ndimage

    from ionmorph.synth.fields import cell_walls

    walls = cell_walls(np.random.default_rng(0), (120, 120), diameter=10.0)
    assert walls.shape == (120, 120) and walls.min() >= 0.0 and walls.max() <= 1.0
    wall_px = walls > 0.5
    assert 0.05 < wall_px.mean() < 0.4                    # thin walls, mostly cell interior
    n_cells = ndimage.label(~wall_px)[1]
    assert 0.5 * 120 * 120 / 100 < n_cells < 2.5 * 120 * 120 / 100   # about one cell per 10 x 10 px


def test_cells_only_where_pixels_resolve_them():
    from ionmorph.synth.instruments import get_instrument
    from ionmorph.synth.section import _cells

    tof = [_cells(seed, (80, 80), get_instrument("maldi_tof")) for seed in range(30)]
    assert all(c is None for c in tof)                    # 50 um pixels never resolve 10-120 um cells
    sims = [_cells(seed, (80, 80), get_instrument("tof_sims")) for seed in range(30)]
    assert 5 < sum(c is not None for c in sims) < 25       # about half of the ToF-SIMS sections
