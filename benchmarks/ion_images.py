"""Benchmark: one-pass ``MSIData.ion_images`` against a loop of pyimzML ``getionimage`` calls.

Data: a processed-mode (centroid) section written by ``ionmorph.synth.simulate_section``; the
windows are ``n_windows`` of its ion m/z values at 5 ppm.

Each method runs in its own subprocess so that its peak RSS (``ru_maxrss``) is its own. The
one-pass extraction's peak (Linux: the peak is reset after ``open_msi`` and read from VmHWM) is
compared with the bound "1.5 x output array + one chunk" on top of the RSS the process held after
opening the file (interpreter, numpy, parsed XML). The loop is timed on a subset
of the windows and extrapolated linearly to all of them (stated in the output).

Usage: ``python benchmarks/ion_images.py [--quick] [--out benchmarks/results]``.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402  (shared benchmark helpers)

PPM = 5.0


def _rss_mib() -> float:
    """Peak resident memory of this process so far (MiB): VmHWM where available, else ru_maxrss."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mib() -> float:
    """Resident memory now (MiB), and reset the peak (Linux: clear_refs 5) so it can be re-measured."""
    status = Path("/proc/self/status")
    if not status.exists():
        return _rss_mib()
    now = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS:"))
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return now / 1024.0


def write_section(path: Path, side: int, n_ions: int, seed: int = 0) -> tuple[Path, np.ndarray, str]:
    """Write the benchmark section with the simulator; return (imzML path, ion m/z pool, how it was made)."""
    from ionmorph.synth import simulate_section

    section = simulate_section(seed, shape=(side, side), n_ions=n_ions)
    section.write_imzml(path, mode="processed")
    pool = np.asarray([ion.mz for ion in section.ions], dtype=np.float64)
    return path, pool, "ionmorph.synth.simulate_section"


def worker_onepass(path: str, mz: np.ndarray) -> dict:
    """Open + one-pass extraction; timings and peak RSS."""
    import tqdm.auto  # noqa: F401  (imported by ion_images; loaded first so its memory is not counted)

    from ionmorph.io.msi import CHUNK_BYTES, open_msi

    t0 = time.perf_counter()
    data = open_msi(path)
    t_open = time.perf_counter() - t0
    rss_open = _current_rss_mib()
    chunk = data.default_chunk(n_windows=len(mz))  # what ion_images picks itself
    t1 = time.perf_counter()
    images = data.ion_images(mz, ppm=PPM, chunk=chunk)
    t_extract = time.perf_counter() - t1
    return {"open_s": t_open, "extract_s": t_extract, "total_s": t_open + t_extract,
            "rss_after_open_mib": rss_open, "peak_rss_mib": _rss_mib(),
            "output_mib": images.nbytes / 2**20, "chunk_pixels": chunk, "chunk_budget_mib": CHUNK_BYTES / 2**20,
            "n_pixels": data.n_pixels, "shape": list(data.shape),
            "mean_peaks_per_spectrum": float(data.spectrum_lengths.mean())}


def worker_loop(path: str, mz: np.ndarray) -> dict:
    """Open + one getionimage call per m/z (absolute tolerance = M * ppm * 1e-6)."""
    from pyimzml.ImzMLParser import ImzMLParser, getionimage

    t0 = time.perf_counter()
    parser = ImzMLParser(path)
    t_open = time.perf_counter() - t0
    t1 = time.perf_counter()
    for m in mz:
        getionimage(parser, m, tol=m * PPM * 1e-6)
    return {"open_s": t_open, "extract_s": time.perf_counter() - t1, "peak_rss_mib": _rss_mib()}


def _run_worker(kind: str, path: Path, mz: np.ndarray) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", kind, str(path), json.dumps(mz.tolist())],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(side: int, n_windows: int, n_loop: int, out_dir: Path, label: str) -> dict:
    """Build the section, run both methods, write ``<out_dir>/ion_images.{json,md}``."""
    with tempfile.TemporaryDirectory(prefix="ionmorph-bench-") as tmp:
        t0 = time.perf_counter()
        path, pool, source = write_section(Path(tmp) / "section.imzML", side, n_windows)
        t_write = time.perf_counter() - t0
        size_mib = (path.stat().st_size + path.with_suffix(".ibd").stat().st_size) / 2**20
        rng = np.random.default_rng(1)
        mz = np.sort(rng.choice(pool, n_windows, replace=len(pool) < n_windows))
        one = _run_worker("onepass", path, mz)
        loop = _run_worker("loop", path, mz[np.linspace(0, len(mz) - 1, n_loop).astype(int)])
    per_image = loop["extract_s"] / n_loop
    loop_total = loop["open_s"] + per_image * n_windows
    bound = 1.5 * one["output_mib"] + one["chunk_budget_mib"]
    extra = one["peak_rss_mib"] - one["rss_after_open_mib"]
    result = {
        "benchmark": "ion_images", "label": label, "data_source": source,
        "raster": one["shape"], "n_pixels": one["n_pixels"], "n_windows": n_windows, "ppm": PPM,
        "mean_peaks_per_spectrum": round(one["mean_peaks_per_spectrum"], 1),
        "file_size_mib": round(size_mib, 1), "write_s": round(t_write, 2),
        "onepass": {k: round(v, 3) if isinstance(v, float) else v for k, v in one.items()},
        "getionimage_loop": {"images_timed": n_loop, "open_s": round(loop["open_s"], 3),
                             "timed_s": round(loop["extract_s"], 3), "per_image_s": round(per_image, 4),
                             "extrapolated_total_s": round(loop_total, 2),
                             "extrapolated": n_loop < n_windows, "peak_rss_mib": round(loop["peak_rss_mib"], 1)},
        "speedup_extraction": round(per_image * n_windows / one["extract_s"], 1),
        "speedup_end_to_end": round(loop_total / one["total_s"], 1),
        "memory": {"extra_rss_mib": round(extra, 1), "bound_mib": round(bound, 1),
                   "bound": "1.5 x output array + one chunk (CHUNK_BYTES), above the RSS after open_msi",
                   "within_bound": bool(extra <= bound)},
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "numpy": np.__version__},
    }
    write_report(out_dir, "ion_images", result, _markdown(result), indent=2)
    return result


def _markdown(r: dict) -> str:
    one, loop, mem = r["onepass"], r["getionimage_loop"], r["memory"]
    extra = (f" (timed on {loop['images_timed']} of {r['n_windows']} m/z, extrapolated linearly)"
             if loop["extrapolated"] else "")
    return (f"# ion_images benchmark ({r['label']})\n\n"
            f"Data: {r['raster'][0]} x {r['raster'][1]} px processed-mode centroid section, "
            f"{r['mean_peaks_per_spectrum']} peaks per spectrum on average, {r['file_size_mib']} MiB; "
            f"{r['data_source']}. Windows: {r['n_windows']} m/z at +/- {r['ppm']:g} ppm.\n\n"
            f"| method | open (s) | extraction (s) | total (s) | peak RSS (MiB) |\n|---|---|---|---|---|\n"
            f"| `MSIData.ion_images` (one pass) | {one['open_s']:.2f} | {one['extract_s']:.2f} | "
            f"{one['total_s']:.2f} | {one['peak_rss_mib']:.0f} |\n"
            f"| pyimzML `getionimage` loop{extra} | {loop['open_s']:.2f} | "
            f"{loop['extrapolated_total_s'] - loop['open_s']:.1f} | {loop['extrapolated_total_s']:.1f} | "
            f"{loop['peak_rss_mib']:.0f} |\n\n"
            f"**Speed-up of the extraction: {r['speedup_extraction']}x** (target >= 50x); end to end, "
            f"including the XML parse by pyimzML that both methods share: {r['speedup_end_to_end']}x.\n\n"
            f"Memory: the one pass added {mem['extra_rss_mib']} MiB to the {one['rss_after_open_mib']:.0f} MiB "
            f"the process held after `open_msi`; bound {mem['bound']}: {mem['bound_mib']} MiB "
            f"(output {one['output_mib']:.1f} MiB, chunk {one['chunk_pixels']} px within "
            f"{one['chunk_budget_mib']:.0f} MiB) -> {'within' if mem['within_bound'] else 'OVER'} the bound.\n\n"
            f"Machine: Python {r['machine']['python']}, numpy {r['machine']['numpy']}, "
            f"{r['machine']['cpu']}; run `python benchmarks/ion_images.py` to reproduce.\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 x 100 px, 200 windows (a smoke run)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--loop-images", type=int, default=None, help="getionimage calls actually timed")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        kind, path, mz = args.worker
        fn = worker_onepass if kind == "onepass" else worker_loop
        print(json.dumps(fn(path, np.asarray(json.loads(mz), dtype=np.float64))))
        return 0
    side, n_windows = (100, 200) if args.quick else (200, 1000)
    n_loop = args.loop_images or (10 if args.quick else 20)
    r = run(side, n_windows, min(n_loop, n_windows), args.out, "quick" if args.quick else "full")
    print(_markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
