"""benchmarks/scale.py on a tiny section: the streamed writer, its sub-sections, the memory cap, the report."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bench_testutil import BENCHMARKS, load_benchmark
from ionmorph.io.msi import open_msi

SIDE = 32


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("scale")


@pytest.fixture(scope="module")
def section(bench, tmp_path_factory):
    return bench.write_section(tmp_path_factory.mktemp("scale") / "s.imzML", SIDE, factor=4, n_ions=60,
                               band_rows=5, sub_rows=(8, 16))


def test_writer_streams_a_readable_processed_section_with_sub_sections(bench, section):
    data = open_msi(section["paths"][SIDE])
    assert data.shape == (SIDE, SIDE) and data.n_pixels == SIDE**2 and data.mode == "processed"
    assert data.spectrum_type == "centroid" and data.mz_dtype == np.float32
    assert section["ibd_bytes"] == data.ibd_path.stat().st_size == 16 + 8 * int(data.spectrum_lengths.sum())
    assert section["mean_peaks_per_spectrum"] == pytest.approx(data.spectrum_lengths.mean())
    assert section["coarse"] == 16 and section["n_ions"] == 60
    full = list(data.spectra(chunk=SIDE))
    for rows in (8, 16):
        sub = open_msi(section["paths"][rows])
        assert sub.shape == (rows, SIDE) and os.path.samefile(sub.ibd_path, data.ibd_path)
        for got, ref in zip(sub.spectra(chunk=SIDE), full[:rows]):      # the same spectra, row by row
            assert all(np.array_equal(a, b) for a, b in zip(got.mz + got.intensity, ref.mz + ref.intensity))
    mz, intensity = next(data.spectra(chunk=1))[1:]
    assert np.all(np.diff(mz[0]) >= 0) and np.all(intensity[0] > 0)


def test_ion_images_show_the_simulated_patterns(section):
    data = open_msi(section["paths"][SIDE])
    images = data.ion_images(section["pool"], ppm=10.0)
    assert images.shape == (60, SIDE, SIDE)
    assert (images.reshape(60, -1).std(axis=1) > 0).mean() > 0.8        # spatial structure, not constants
    # interpolated from a 16 x 16 raster: neighbouring pixels correlate
    a, b = images[:, :, :-1].ravel(), images[:, :, 1:].ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.5


def test_workers_report_stages_and_the_cap_binds(bench, section):
    out = bench.extract_worker(section["paths"][16], _windows(section), None)
    assert out["n_pixels"] == 16 * SIDE and out["n_windows"] == 5
    assert set(out["stages"]) == {"open_msi", "ion_images"} and out["peak_rss_mib"] > 0
    code = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(BENCHMARKS)!r})
        import scale
        scale._limit(1 << 30)
        try:
            np.ones(1 << 28)            # 2 GiB under a 1 GiB address-space cap
        except MemoryError:
            print("capped")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "capped", proc.stderr


def _windows(section) -> str:
    path = os.path.join(os.path.dirname(section["paths"][SIDE]), "w.npy")
    np.save(path, np.sort(section["pool"][:5]))
    return path


def test_run_end_to_end_writes_the_report(bench, tmp_path):
    r = bench.run(SIDE, tmp_path / "work", tmp_path, "tiny", k=20, n_ions=60, limit=False, n_candidates=300)
    saved = json.loads((tmp_path / "scale_tiny.json").read_text())
    assert saved == json.loads(json.dumps(r))
    e = r["end_to_end"]
    assert list(e["stages"]) == ["imports", "open_msi", "candidate_mz", "pick_peaks"]
    assert e["n_pixels"] == SIDE**2 and e["n_picked"] == min(20, e["n_candidates"]) and e["meets_rss_target"]
    assert [v["n_pixels"] for v in r["extraction"]] == [8 * SIDE, 16 * SIDE, SIDE**2]
    assert r["limit"] == {"rlimit_as_gb": None, "below_ibd_size": False}
    full, many = r["full_resolution"], r["many_candidates"]
    assert full["working_side"] is None and full["binning"] == e["binning"] == 1     # 32 px: nothing to bin
    assert many["n_candidates"] == 300 and many["n_candidates"] > e["n_candidates"]
    assert many["meets_time_target"] is (many["total_s"] <= bench.TIME_TARGET_S)
    md = (tmp_path / "scale_tiny.md").read_text()
    assert "| pick_peaks |" in md and f"| {SIDE**2:,} |" in md and "no memory limit" in md
    assert "| topped up, working raster (default) | 300 |" in md and "full resolution (baseline)" in md


def test_padded_candidates_keep_the_found_peaks_and_stay_away_from_them(bench):
    found = np.array([200.0, 400.0, 401.0, 700.0])
    out = bench.padded_candidates(found, 100, (150.0, 900.0))
    assert len(out) == 100 and np.all(np.diff(out) > 0) and set(found) <= set(out)
    extra = np.setdiff1d(out, found)
    assert np.min(np.abs(extra[:, None] - found[None]) / extra[:, None]) > 10 * bench.PPM * 1e-6
    assert extra.min() > 150.0 and extra.max() < 900.0
    np.testing.assert_array_equal(bench.padded_candidates(found, 3, (150.0, 900.0)), found)
