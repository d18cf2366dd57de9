"""Tests of ionmorph.picking.candidates: peak detection on synthetic and real mean spectra, user lists."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from ionmorph.picking.candidates import candidate_mz, detect_peaks, merge_within_ppm, noise_stats
from ionmorph.errors import InputError, LabelFormatError
from ionmorph.labels import LabelRow, write_label_csv

TRUE_MZ = np.array([312.2041, 455.3317, 455.4101, 600.9, 788.6134])
HEIGHTS = np.array([50.0, 30.0, 20.0, 8.0, 100.0])


class FakeData:
    """Stands in for MSIData: only the documented ``mean_spectrum`` and ``mz_range``."""

    def __init__(self, mz: np.ndarray, intensity: np.ndarray) -> None:
        self._spec = (mz, intensity)
        self.mz_range = (float(mz[0]), float(mz[-1]))
        self.mode = "continuous"

    def mean_spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        return self._spec


def _profile(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian profile peaks (FWHM ~0.02 Da at 0.004 Da spacing) on a sloped baseline + noise."""
    rng = np.random.default_rng(seed)
    mz = np.arange(300.0, 800.0, 0.004)
    sigma = 0.02 / 2.355
    y = 5.0 + 0.01 * (mz - 300)
    for m, h in zip(TRUE_MZ, HEIGHTS):
        sel = np.abs(mz - m) < 10 * sigma
        y[sel] += h * np.exp(-0.5 * ((mz[sel] - m) / sigma) ** 2)
    return mz, y + rng.normal(0, 1.0, mz.size)


def test_profile_peaks_found_and_centroided():
    mz, y = _profile()
    found, snr = detect_peaks(mz, y, snr=5, ppm=5)
    assert found.size == TRUE_MZ.size
    # strong peaks: centroids within 0.4 of the 0.004 Da sampling step; the weak (SNR 8) one
    # is noise-limited, within one step
    np.testing.assert_allclose(found[[0, 1, 2, 4]], TRUE_MZ[[0, 1, 2, 4]], atol=0.0015)
    assert abs(found[3] - TRUE_MZ[3]) < 0.004
    assert np.argmax(snr) == 4 and snr.min() > 5
    assert np.all(np.diff(found) > 0)


def test_noise_stats_is_robust():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 2.0, 20000)
    y[::100] += 1000  # peaks do not inflate the estimate
    floor, noise = noise_stats(y + 7.0)
    assert floor == pytest.approx(7.0, abs=0.1) and noise == pytest.approx(2.0, rel=0.1)


def test_merge_within_ppm_weighted():
    mz, h = merge_within_ppm(np.array([500.0, 500.002, 600.0]), np.array([1.0, 3.0, 2.0]), ppm=10)
    np.testing.assert_allclose(mz, [500.0015, 600.0])
    np.testing.assert_allclose(h, [3.0, 2.0])
    mz, _ = merge_within_ppm(np.array([500.0, 500.01]), np.array([1.0, 1.0]), ppm=10)
    assert mz.size == 2  # 20 ppm apart stays two


def test_centroid_spectrum_merging_and_cap():
    # centroid data on a common 0.5 mDa axis: mostly zeros, sporadic weak noise peaks
    rng = np.random.default_rng(2)
    mz = np.round(np.arange(100.0, 200.0, 0.0005), 6)
    y = np.zeros_like(mz)
    y[rng.choice(mz.size, 3000, replace=False)] = rng.exponential(1.0, 3000)
    true = {120.0: 40.0, 120.001: 60.0, 150.0: 50.0, 170.0: 70.0, 190.0: 80.0}
    for m, h in true.items():
        i = np.searchsorted(mz, m)
        y[i - 1:i + 2] = [0.0, h, 0.0]  # lone bins; 120.000 and 120.001 (8.3 ppm) are two maxima
    found, snr = detect_peaks(mz, y, snr=15, ppm=20)
    np.testing.assert_allclose(found, [120.0006, 150.0, 170.0, 190.0], atol=1e-6)
    assert snr.min() > 40
    two, _ = detect_peaks(mz, y, snr=15, ppm=5)
    assert two.size == 5
    capped, _ = detect_peaks(mz, y, snr=15, ppm=20, max_peaks=2)
    np.testing.assert_allclose(capped, [170.0, 190.0], atol=1e-6)


def test_candidate_mz_from_mean_spectrum_with_range_and_cap():
    data = FakeData(*_profile())
    out = candidate_mz(data, snr=5, ppm=5)
    assert out.dtype == np.float64 and out.size == 5
    out = candidate_mz(data, snr=5, ppm=5, min_mz=400, max_mz=700)
    np.testing.assert_allclose(out, TRUE_MZ[1:4], atol=0.004)
    out = candidate_mz(data, snr=5, ppm=5, max_peaks=2)
    np.testing.assert_allclose(out, TRUE_MZ[[0, 4]], atol=0.0015)


def test_user_list_sorted_validated_and_range_checked():
    data = FakeData(*_profile())
    np.testing.assert_array_equal(candidate_mz(None, mz=[500.0, 400.0, 500.0]), [400.0, 500.0])
    with pytest.warns(UserWarning, match="1 candidate"):
        out = candidate_mz(data, mz=[350.0, 900.0])
    np.testing.assert_array_equal(out, [350.0])
    with pytest.raises(InputError, match="finite and positive"):
        candidate_mz(None, mz=[100.0, np.nan])
    with pytest.raises(InputError, match="either"):
        candidate_mz(None, mz=[1.0], labels="x.csv")
    with pytest.raises(InputError, match="needs data"):
        candidate_mz(None)


def test_label_csv_list(tmp_path):
    path = tmp_path / "2016-10-01_12h21m40s.csv"
    rows = [LabelRow("2016-10-01_12h21m40s.imzML", m, "structured") for m in (700.5, 301.25, 455.1)]
    write_label_csv(path, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = candidate_mz(FakeData(*_profile()), labels=path)
    np.testing.assert_array_equal(out, [301.25, 455.1, 700.5])
    with pytest.raises(LabelFormatError):
        candidate_mz(None, labels=tmp_path / "missing.csv")


def test_bad_spectrum_raises():
    with pytest.raises(InputError, match="increasing"):
        detect_peaks(np.array([1.0, 3.0, 2.0]), np.ones(3))
    with pytest.raises(InputError, match="equal length"):
        detect_peaks(np.arange(4.0), np.ones(3))


@pytest.mark.realdata
def test_real_profile_tof_file(realdata):
    msi = pytest.importorskip("ionmorph.io.msi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = msi.open_msi(realdata / "m2aia-test" / "test.imzML")
    out = candidate_mz(data, snr=3, ppm=10)
    lo, hi = data.mz_range
    # broad linear-TOF protein peaks: one candidate per resolved peak, not one per noise wiggle
    assert 10 <= out.size <= 200 and lo <= out[0] and out[-1] <= hi
    assert np.all(np.diff(out) / out[1:] * 1e6 > 10)
    # the dominant protein peak of this recording lies near m/z 4963.4
    assert np.min(np.abs(out - 4963.4)) < 1.0
    assert candidate_mz(data, max_peaks=10).size == 10


def test_profile_shoulders_within_fwhm_are_one_peak():
    mz = np.linspace(1000.0, 1010.0, 4001)
    sigma = 0.02
    y = 100 * np.exp(-0.5 * ((mz - 1003.0) / sigma) ** 2) + 30 * np.exp(-0.5 * ((mz - 1003.03) / sigma) ** 2)
    y += 50 * np.exp(-0.5 * ((mz - 1007.0) / sigma) ** 2) + 1.0
    y += np.random.default_rng(0).normal(0, 0.2, mz.size)
    found, _ = detect_peaks(mz, y, snr=5, ppm=5)
    assert found.size == 2
    assert abs(found[0] - 1003.0) < 0.02 and abs(found[1] - 1007.0) < 0.005


def test_centroid_noise_peaks_are_dropped_by_frequency():
    from ionmorph.picking.candidates import window_frequency

    axis = np.array([100.0, 200.0, 200.001, 300.0])
    freq = np.array([0.001, 0.3, 0.4, 0.002])
    got = window_frequency(np.array([100.0, 200.0005, 300.0]), axis, freq, ppm=10)
    assert np.allclose(got, [0.001, 0.7, 0.002])


def test_prebinned_file_every_ion_channel_is_a_candidate(tmp_path):
    """Continuous centroid data (one channel per peak): adjacent isotope channels are separate peaks."""
    from ionmorph.io.msi import open_msi
    from ionmorph.synth import simulate_section

    sec = simulate_section(11, family="kidney", instrument="desi", shape=(36, 40), n_ions=80)
    data = open_msi(sec.write_imzml(tmp_path / "b.imzML", mode="binned"))
    found = candidate_mz(data, ppm=sec.ppm)
    peaks = np.sort(sec.panel.mz)
    ion_channel = np.abs(data.mz_axis[:, None] - peaks[None, :]).min(axis=1) <= sec.instrument.fwhm(data.mz_axis)
    hit = np.abs(found[:, None] - data.mz_axis[ion_channel][None, :]).min(axis=1) < 1e-6
    assert hit.mean() >= 0.95                                  # candidates sit on ion channels
    assert hit.sum() >= 0.8 * ion_channel.sum()                # and most ion channels are found
    # a local-maximum search keeps only the tallest of adjacent ion channels; the data tell them apart
    mz, mean = data.mean_spectrum()
    assert detect_peaks(mz, mean, ppm=sec.ppm, binned=False)[0].size < 0.8 * found.size
    assert np.array_equal(detect_peaks(mz, mean, ppm=sec.ppm, binned=None)[0], found)


@pytest.mark.realdata
def test_barley_peak_list_gives_every_channel(realdata):
    """barley stores 101 picked peaks on a continuous axis: all of them are candidates (detection kept 8)."""
    from ionmorph.picking.candidates import find_candidates, is_peak_list
    from ionmorph.io.msi import open_msi

    data = open_msi(realdata / "barley" / "barley101_peaks.imzML")
    assert is_peak_list(data.mz_axis)
    out = candidate_mz(data)
    np.testing.assert_array_equal(out, data.mz_axis.astype(np.float64))
    found = find_candidates(data)
    assert len(found) == 101 and found.kind == "peak list" and found.ppm_source == "default"


@pytest.mark.realdata
def test_same_recording_continuous_or_processed_same_candidates(realdata):
    from ionmorph.picking.candidates import find_candidates
    from ionmorph.io.msi import open_msi

    cont = open_msi(realdata / "imzml-example" / "Example_Continuous.imzML")
    proc = open_msi(realdata / "imzml-example" / "Example_Processed.imzML")
    a, b = find_candidates(cont), find_candidates(proc)
    np.testing.assert_array_equal(a.mz, b.mz)
    assert len(a) == 762 and a.ppm == b.ppm and a.ppm_source == "estimated"
    assert not find_candidates(cont, ppm=5.0).ppm_source == "estimated"


def test_profile_and_binned_axes_are_not_peak_lists():
    from ionmorph.picking.candidates import is_peak_list

    assert not is_peak_list(np.linspace(100.0, 800.0, 8399))                    # constant Da spacing
    assert not is_peak_list(300.0 * 1.004 ** np.arange(400))                     # constant-ppm grid
    assert is_peak_list(np.array([74.65, 104.1, 118.3, 175.3, 184.1, 230.0, 277.2, 293.2, 307.2]))
    assert is_peak_list(np.array([100.0, 200.0]))


def test_ppm_estimated_from_profile_peak_widths():
    from ionmorph.picking.candidates import estimate_ppm

    mz, y = _profile()                       # FWHM 0.02 Da: 40 ppm at m/z 500, 25 ppm at 800
    ppm = estimate_ppm(mz, y)
    fwhm_ppm = 0.02 / TRUE_MZ * 1e6
    assert np.min(fwhm_ppm) / 2 * 0.8 <= ppm <= np.max(fwhm_ppm) / 2 * 1.2
    lone = np.zeros(200)
    lone[::7] = 10.0                         # one point per peak: no width to measure
    assert estimate_ppm(np.linspace(100, 300, 200), lone) is None


def test_user_candidates_whose_window_overlaps_the_range_are_kept():
    data = FakeData(*_profile())
    lo, hi = data.mz_range
    inside_window = [lo * (1 - 0.4e-6), hi * (1 + 5e-6)]                       # 0.4 / 5 ppm outside the range
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(candidate_mz(data, mz=inside_window, ppm=10), inside_window)
    with pytest.warns(UserWarning, match="window lies outside"):
        assert candidate_mz(data, mz=[hi * (1 + 50e-6)], ppm=10).size == 0


def test_candidate_tables_with_extra_columns(tmp_path):
    from ionmorph.picking.candidates import read_candidate_table

    (tmp_path / "a.csv").write_text('"m/z";"formula";"adduct";"name"\n760.5851;C42H82NO8P;[M+H]+;PC 34:1\n'
                                    '798.5410;C42H82NO8P;[M+K]+;PC 34:1\n')
    t = read_candidate_table(tmp_path / "a.csv")
    np.testing.assert_allclose(t["mz"], [760.5851, 798.5410])
    assert t["name"].tolist() == ["PC 34:1"] * 2 and t["adduct"].tolist() == ["[M+H]+", "[M+K]+"]
    (tmp_path / "b.txt").write_text("# list\n300.1\n\n200.2\n")
    assert read_candidate_table(tmp_path / "b.txt")["mz"].tolist() == [300.1, 200.2]
    (tmp_path / "c.tsv").write_text("Name\tMZ\nx\t150.5\n")
    t = read_candidate_table(tmp_path / "c.tsv")
    assert t["mz"].tolist() == [150.5] and t["Name"].tolist() == ["x"]
    (tmp_path / "bad.csv").write_text("mz,name\nabc,x\n")
    with pytest.raises(InputError, match="not a list of m/z"):
        read_candidate_table(tmp_path / "bad.csv")


def test_unit_mass_grid_is_a_channel_list():
    from ionmorph.picking.candidates import is_peak_list, is_unit_grid

    assert is_unit_grid(np.arange(1.0, 201.0)) and is_peak_list(np.arange(1.0, 201.0))
    assert is_peak_list(np.arange(100.0, 400.0, 0.5))
    assert not is_unit_grid(np.linspace(100.0, 800.0, 8399))             # a profile axis
    assert not is_peak_list(np.linspace(100.0, 800.0, 8399))
    assert not is_unit_grid(np.array([1.0, 2.0, 3.5, 4.0]))


def test_unit_mass_imzml_gives_every_channel(tmp_path):
    """Poplar-like: 200 unit-mass channels of sparse counts, written as continuous imzML."""
    from ionmorph.io.msi import open_msi
    from ionmorph.picking.candidates import find_candidates
    from msi_testutil import write_imzml

    rng = np.random.default_rng(0)
    mz = np.arange(1.0, 201.0)
    xy = [(x, y) for y in range(1, 9) for x in range(1, 9)]
    spectra = [(mz, (rng.poisson(0.3, 200) + (rng.random(200) < 0.05) * 20 + 1).astype(np.float32)) for _ in xy]
    path = write_imzml(tmp_path / "sims.imzML", spectra, xy, "continuous", spec_type="centroid")
    found = find_candidates(open_msi(path))
    assert found.kind == "peak list" and len(found) == 200
