"""Benchmark: a million-pixel processed section, open -> candidate_mz -> pick_peaks, under a memory limit.

1. Writing (:func:`write_section`, streamed: memory stays bounded by one band of rows). The
   simulator's ion panel, anatomy and patterns come from :func:`ionmorph.synth.simulate_section`
   on a coarse raster (every ``factor``-th pixel); its expected ion counts (and calibration drift)
   are bilinearly interpolated to the full raster one band of rows at a time, and each band's
   spectra are made by the simulator's own processed-mode peak model
   (``ionmorph.synth.spectra._processed_chunk``: Poisson counts, detection threshold, centroid
   scatter, calibration drift, chemical-noise peaks; single-pixel hotspots are left out). They are
   written straight into the .ibd (UUID header, then m/z and intensity float32 per spectrum) and
   into a compact imzML XML (one ``<spectrum>`` per pixel, as pyimzML's writer lays it out, without
   the optional per-spectrum summary values). Two more XMLs describe the first rows of the same
   .ibd (hard-linked), for the 1/4 and 1/2 size sections.
2. End to end (:func:`pick_worker`), in a child process whose address space is capped with
   ``RLIMIT_AS`` below the .ibd size (so the file cannot be held in memory): ``open_msi`` ->
   ``candidate_mz`` -> ``pick_peaks(k=200)`` on those candidates with the default weights; time and
   peak RSS per stage (VmHWM, reset between stages), and the child's peak address space (VmPeak).
   Three runs: the detected candidates on the default working raster (``pick_peaks`` bins rasters
   above ``WORKING_SIDE`` px per side), the same at full resolution (``working_side=None``, the
   baseline of the same run), and ``--candidates`` (default 5,000) candidates on the default
   working raster: the detected ones topped up with m/z spread evenly (geometrically) over the
   measured range, away from every detected peak (:func:`padded_candidates`; the simulated
   section holds 500 ions, fewer than an Orbitrap peak list, and the run costs what that many
   windows cost whatever they hold).
3. Ion-image extraction (:func:`extract_worker`) at 1/4, 1/2 and the full pixel count, each in a
   child under the same limit: ``open_msi`` + one ``ion_images`` pass over a fixed set of windows;
   seconds per pixel show whether the time grows linearly.

Usage: ``python benchmarks/scale.py [--side 1000] [--workdir DIR] [--out benchmarks/results]``
(``--quick``: a 200 x 200 section, no memory limit, results ``scale_quick.*``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ion_images import _current_rss_mib, _rss_mib  # noqa: E402  (shared benchmark helpers)
from report import write_report  # noqa: E402

#: Peak RSS target of the end-to-end run (issue 10).
RSS_TARGET_MIB = 1536.0
#: Time target of the many-candidate run (issue 25).
TIME_TARGET_S = 300.0
#: Candidates of the many-candidate run (issue 25).
N_MANY = 5000
#: Smallest .ibd of the full benchmark (issue 10).
MIN_IBD_BYTES = 2 * 10**9
#: Ion-image windows of the extraction timing.
N_EXTRACT = 64
PPM = 10.0

_HEADER = """<?xml version="1.0" encoding="ISO-8859-1"?>
<mzML xmlns="http://psi.hupo.org/ms/mzml" version="1.1">
  <cvList count="3">
    <cv id="MS" fullName="Proteomics Standards Initiative Mass Spectrometry Ontology" version="3.65.0" uri="https://raw.githubusercontent.com/HUPO-PSI/psi-ms-CV/master/psi-ms.obo"/>
    <cv id="UO" fullName="Unit Ontology" version="12:10:2011" uri="http://obo.cvs.sourceforge.net/*checkout*/obo/obo/ontology/phenotype/unit.obo"/>
    <cv id="IMS" fullName="Imaging MS Ontology" version="1.1.0" uri="https://raw.githubusercontent.com/imzML/imzML/master/imagingMS.obo"/>
  </cvList>
  <fileDescription>
    <fileContent>
      <cvParam cvRef="MS" accession="MS:1000579" name="MS1 spectrum" value=""/>
      <cvParam cvRef="MS" accession="MS:1000127" name="centroid spectrum" value=""/>
      <cvParam cvRef="IMS" accession="IMS:1000031" name="processed" value=""/>
      <cvParam cvRef="IMS" accession="IMS:1000080" name="universally unique identifier" value="{{{uuid}}}"/>
    </fileContent>
  </fileDescription>
  <referenceableParamGroupList count="4">
    <referenceableParamGroup id="mzArray">
      <cvParam cvRef="MS" accession="MS:1000576" name="no compression" value=""/>
      <cvParam cvRef="MS" accession="MS:1000514" name="m/z array" unitCvRef="MS" unitAccession="MS:1000040" unitName="m/z"/>
      <cvParam cvRef="MS" accession="MS:1000521" name="32-bit float" value=""/>
      <cvParam cvRef="IMS" accession="IMS:1000101" name="external data" value="true"/>
    </referenceableParamGroup>
    <referenceableParamGroup id="intensityArray">
      <cvParam cvRef="MS" accession="MS:1000521" name="32-bit float" value=""/>
      <cvParam cvRef="MS" accession="MS:1000515" name="intensity array" unitCvRef="MS" unitAccession="MS:1000131" unitName="number of detector counts"/>
      <cvParam cvRef="MS" accession="MS:1000576" name="no compression" value=""/>
      <cvParam cvRef="IMS" accession="IMS:1000101" name="external data" value="true"/>
    </referenceableParamGroup>
    <referenceableParamGroup id="scan1">
      <cvParam cvRef="MS" accession="MS:1000093" name="increasing m/z scan"/>
    </referenceableParamGroup>
    <referenceableParamGroup id="spectrum1">
      <cvParam cvRef="MS" accession="MS:1000579" name="MS1 spectrum" value=""/>
      <cvParam cvRef="MS" accession="MS:1000511" name="ms level" value="1"/>
      <cvParam cvRef="MS" accession="MS:1000127" name="centroid spectrum" value=""/>
      <cvParam cvRef="MS" accession="MS:1000130" name="positive scan" value=""/>
    </referenceableParamGroup>
  </referenceableParamGroupList>
  <softwareList count="1">
    <software id="ionmorph_scale" version="1">
      <cvParam cvRef="MS" accession="MS:1000799" name="custom unreleased software tool" value="benchmarks/scale.py"/>
    </software>
  </softwareList>
  <scanSettingsList count="1">
    <scanSettings id="scanSettings1">
      <cvParam cvRef="IMS" accession="IMS:1000401" name="top down"/>
      <cvParam cvRef="IMS" accession="IMS:1000411" name="one way"/>
      <cvParam cvRef="IMS" accession="IMS:1000480" name="horizontal line scan"/>
      <cvParam cvRef="IMS" accession="IMS:1000491" name="linescan left right"/>
      <cvParam cvRef="IMS" accession="IMS:1000042" name="max count of pixels x" value="{width}"/>
      <cvParam cvRef="IMS" accession="IMS:1000043" name="max count of pixels y" value="{height}"/>
    </scanSettings>
  </scanSettingsList>
  <instrumentConfigurationList count="1">
    <instrumentConfiguration id="IC1"/>
  </instrumentConfigurationList>
  <dataProcessingList count="1">
    <dataProcessing id="scale_writer">
      <processingMethod order="0" softwareRef="ionmorph_scale">
        <cvParam cvRef="MS" accession="MS:1000530" name="file format conversion" value="Output to imzML"/>
      </processingMethod>
    </dataProcessing>
  </dataProcessingList>
  <run defaultInstrumentConfigurationRef="IC1" id="{name}">
    <spectrumList count="{count}" defaultDataProcessingRef="scale_writer">
"""
_SPECTRUM = (
    '<spectrum id="spectrum={i}" index="{i}" defaultArrayLength="0"><referenceableParamGroupRef ref="spectrum1"/>'
    '<scanList count="1"><cvParam cvRef="MS" accession="MS:1000795" name="no combination"/>'
    '<scan instrumentConfigurationRef="IC1"><referenceableParamGroupRef ref="scan1"/>'
    '<cvParam cvRef="IMS" accession="IMS:1000050" name="position x" value="{x}"/>'
    '<cvParam cvRef="IMS" accession="IMS:1000051" name="position y" value="{y}"/></scan></scanList>'
    '<binaryDataArrayList count="2">'
    '<binaryDataArray encodedLength="0"><referenceableParamGroupRef ref="mzArray"/>'
    '<cvParam cvRef="IMS" accession="IMS:1000103" name="external array length" value="{n}"/>'
    '<cvParam cvRef="IMS" accession="IMS:1000104" name="external encoded length" value="{nb}"/>'
    '<cvParam cvRef="IMS" accession="IMS:1000102" name="external offset" value="{mo}"/><binary/></binaryDataArray>'
    '<binaryDataArray encodedLength="0"><referenceableParamGroupRef ref="intensityArray"/>'
    '<cvParam cvRef="IMS" accession="IMS:1000103" name="external array length" value="{n}"/>'
    '<cvParam cvRef="IMS" accession="IMS:1000104" name="external encoded length" value="{nb}"/>'
    '<cvParam cvRef="IMS" accession="IMS:1000102" name="external offset" value="{io}"/><binary/></binaryDataArray>'
    '</binaryDataArrayList></spectrum>\n')
_FOOTER = "    </spectrumList>\n  </run>\n</mzML>\n"


def _axis_weights(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear interpolation from ``n_in`` to ``n_out`` pixel centres: (lower index, upper index, weight)."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1.0)
    lo = np.floor(pos).astype(np.int64)
    return lo, np.minimum(lo + 1, n_in - 1), pos - lo


def _band(field: np.ndarray, rows: tuple, cols: tuple) -> np.ndarray:
    """Bilinear interpolation of ``field`` (..., h, w) at the band's rows and all columns: (..., rows, W)."""
    r0, r1, fy = rows
    c0, c1, fx = cols
    a = field[..., r0, :] * (1.0 - fy)[:, None] + field[..., r1, :] * fy[:, None]
    return a[..., c0] * (1.0 - fx) + a[..., c1] * fx


def write_section(path: Path, side: int, factor: int = 4, n_ions: int = 500, seed: int = 0,
                  band_rows: int = 8, sub_rows: tuple[int, ...] = ()) -> dict:
    """Stream-write a ``side`` x ``side`` processed centroid section (module docstring, step 1).

    ``sub_rows``: also write ``<stem>_<rows>rows.imzML`` for the first ``rows`` rows, on a hard
    link of the same .ibd. Returns the paths, the ion m/z pool, sizes and the write time.
    """
    from ionmorph.synth import simulate_section
    from ionmorph.synth.spectra import _processed_chunk

    t0 = time.perf_counter()
    coarse = max(16, side // factor)      # the simulator draws rasters of at least 16 x 16
    sec = simulate_section(seed, shape=(coarse, coarse), n_ions=n_ions)
    inst, mz = sec.instrument, sec.panel.mz
    abundance = sec.abundance.astype(np.float64)
    drift = sec.drift_ppm.astype(np.float64)
    mz_lo, mz_hi = float(mz.min()) * 0.98, float(mz.max()) * 1.02
    rng = np.random.default_rng([seed, 0x5CA1E])
    cols = _axis_weights(side, coarse)
    row_map = _axis_weights(side, coarse)
    file_id = uuid.uuid4()
    paths = {side: path}
    paths.update({r: path.with_name(f"{path.stem}_{r}rows.imzML") for r in sub_rows if 0 < r < side})
    xmls = {r: open(p, "w", encoding="ascii") for r, p in paths.items()}
    offset, n_peaks = 16, 0
    try:
        for r, fh in xmls.items():
            fh.write(_HEADER.format(uuid=str(file_id).upper(), width=side, height=r, name=paths[r].stem,
                                    count=side * r))
        with open(path.with_suffix(".ibd"), "wb") as ibd:
            ibd.write(file_id.bytes)
            for top in range(0, side, band_rows):
                rows = slice(top, min(top + band_rows, side))
                band = tuple(a[rows] for a in row_map)
                expected = _band(abundance, band, cols)                          # (ions, band, side)
                counts = rng.poisson(expected.reshape(len(mz), -1).T).astype(np.float64)
                pix_drift = _band(drift, band, cols).ravel()
                pix, pmz, pint = _processed_chunk(rng, mz, counts, pix_drift, inst, mz_lo, mz_hi)
                lengths = np.bincount(pix, minlength=len(counts))
                starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
                buf = np.empty(2 * len(pix), dtype="<f4")
                i = np.arange(len(pix))
                buf[starts[pix] + i] = pmz
                buf[starts[pix] + lengths[pix] + i] = pint
                ibd.write(buf.tobytes())
                mz_off = offset + 8 * starts
                int_off = mz_off + 4 * lengths
                for y in range(rows.stop - rows.start):
                    text = "".join(_SPECTRUM.format(i=(top + y) * side + x + 1, x=x + 1, y=top + y + 1, n=n,
                                                    nb=4 * n, mo=mo, io=io)
                                   for x, n, mo, io in zip(range(side), lengths[y * side:(y + 1) * side].tolist(),
                                                           mz_off[y * side:(y + 1) * side].tolist(),
                                                           int_off[y * side:(y + 1) * side].tolist()))
                    for r, fh in xmls.items():
                        if top + y < r:
                            fh.write(text)
                offset += buf.nbytes
                n_peaks += len(pix)
        for fh in xmls.values():
            fh.write(_FOOTER)
    finally:
        for fh in xmls.values():
            fh.close()
    for r, p in paths.items():
        if r != side:
            ibd_link = p.with_suffix(".ibd")
            ibd_link.unlink(missing_ok=True)
            os.link(path.with_suffix(".ibd"), ibd_link)
    return {"paths": {int(r): str(p) for r, p in paths.items()}, "pool": mz, "coarse": coarse,
            "n_ions": len(mz), "ibd_bytes": offset, "xml_bytes": path.stat().st_size,
            "mean_peaks_per_spectrum": n_peaks / side**2, "write_s": time.perf_counter() - t0}


def _limit(limit_bytes: int | None) -> None:
    """Cap this process's address space (RLIMIT_AS) at ``limit_bytes`` (None: no cap)."""
    if limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def _vm_peak_mib() -> float | None:
    """Peak virtual memory (VmPeak) of this process, MiB (Linux), else None."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    line = next((ln for ln in status.read_text().splitlines() if ln.startswith("VmPeak:")), None)
    return int(line.split()[1]) / 1024 if line else None


class _Stages:
    """Seconds, RSS after and peak RSS during each stage (the peak is reset between stages)."""

    def __init__(self) -> None:
        self.out: dict[str, dict[str, float]] = {}
        self._t = time.perf_counter()
        _current_rss_mib()

    def done(self, name: str) -> None:
        peak = _rss_mib()
        self.out[name] = {"s": round(time.perf_counter() - self._t, 2), "rss_mib": round(_current_rss_mib(), 1),
                          "peak_mib": round(peak, 1)}
        self._t = time.perf_counter()

    @property
    def peak_mib(self) -> float:
        return max(v["peak_mib"] for v in self.out.values())


def padded_candidates(found: np.ndarray, n: int, mz_range: tuple[float, float], ppm: float = PPM) -> np.ndarray:
    """``found`` (ascending) topped up to ``n`` m/z: a geometric grid over ``mz_range`` with every
    point farther than 5 windows from a found peak, thinned evenly to the number missing."""
    found = np.sort(np.asarray(found, dtype=np.float64))
    missing = int(n) - len(found)
    if missing <= 0:
        return found
    lo, hi = mz_range
    grid = np.geomspace(lo * (1 + 1e-3), hi * (1 - 1e-3), 4 * int(n))
    pos = np.clip(np.searchsorted(found, grid), 1, max(len(found) - 1, 1))
    near = np.minimum(np.abs(grid - found[pos - 1]), np.abs(grid - found[np.minimum(pos, len(found) - 1)])) \
        if len(found) else np.full(len(grid), np.inf)
    free = grid[near > 10 * ppm * 1e-6 * grid]
    extra = free[np.linspace(0, len(free) - 1, min(missing, len(free))).astype(np.int64)]
    return np.sort(np.concatenate([found, extra]))


def pick_worker(path: str, k: int, limit_bytes: int | None, model: str | None = None, n_candidates: int = 0,
                working_side: int | None = -1) -> dict:
    """open_msi -> candidate_mz (topped up to ``n_candidates`` when more) -> pick_peaks(k) on a working
    raster of ``working_side`` (-1: the default, None: full resolution) under the address-space cap;
    per-stage time and memory."""
    _limit(limit_bytes)
    stages = _Stages()
    import tqdm.auto  # noqa: F401  (imported by the stages below; counted with the imports)

    from ionmorph.picking.candidates import candidate_mz
    from ionmorph.io.msi import open_msi
    from ionmorph.picking.pick import DEFAULT_MODEL, WORKING_SIDE, pick_peaks

    stages.done("imports")
    data = open_msi(path)
    stages.done("open_msi")
    cand = padded_candidates(candidate_mz(data), n_candidates, data.mz_range)
    stages.done("candidate_mz")
    side = WORKING_SIDE if working_side == -1 else working_side
    res = pick_peaks(data, k=k, candidates=cand, ppm=PPM, model=model or DEFAULT_MODEL, progress=False,
                     working_side=side)
    stages.done("pick_peaks")
    return {"n_pixels": data.n_pixels, "shape": list(data.shape), "n_candidates": len(cand),
            "n_picked": int(res.picked.sum()), "stages": stages.out, "pick_timings": res.timings,
            "peak_rss_mib": stages.peak_mib, "vm_peak_mib": _vm_peak_mib(), "model": res.model,
            "working_side": side, "binning": res.binning,
            "total_s": round(sum(v["s"] for v in stages.out.values()), 1)}


def extract_worker(path: str, mz_file: str, limit_bytes: int | None) -> dict:
    """open_msi + one ion_images pass over the windows in ``mz_file`` under the cap."""
    _limit(limit_bytes)
    import tqdm.auto  # noqa: F401

    from ionmorph.io.msi import open_msi

    stages = _Stages()
    data = open_msi(path)
    stages.done("open_msi")
    images = data.ion_images(np.load(mz_file), ppm=PPM)
    stages.done("ion_images")
    return {"n_pixels": data.n_pixels, "n_windows": len(images), "stages": stages.out,
            "peak_rss_mib": stages.peak_mib, "vm_peak_mib": _vm_peak_mib()}


def _child(*args: str) -> dict:
    """Run this script with ``args`` in a fresh child process; its JSON result."""
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(side: int, workdir: Path, out_dir: Path | None, label: str, k: int = 200, n_ions: int = 500,
        factor: int = 4, limit: bool = True, model: str | None = None, n_candidates: int = N_MANY) -> dict:
    """Write the section, run the end-to-end and extraction children, write the results (``out_dir``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    info = write_section(workdir / "scale.imzML", side, factor=factor, n_ions=n_ions,
                         sub_rows=(side // 4, side // 2))
    limit_bytes = int(0.9 * info["ibd_bytes"]) if limit else None
    lim = "" if limit_bytes is None else str(limit_bytes)
    mz_file = workdir / "windows.npy"
    rng = np.random.default_rng(1)
    np.save(mz_file, np.sort(rng.choice(info["pool"], min(N_EXTRACT, len(info["pool"])), replace=False)))
    e2e = _child("--pick-worker", info["paths"][side], str(k), lim, model or "", "0", "-1")
    full_res = _child("--pick-worker", info["paths"][side], str(k), lim, model or "", "0", "")
    many = _child("--pick-worker", info["paths"][side], str(k), lim, model or "", str(n_candidates), "-1") \
        if n_candidates else None
    extraction = {}
    for rows, p in sorted(info["paths"].items()):
        extraction[rows] = _child("--extract-worker", p, str(mz_file), lim)
    full = extraction[side]
    per_px_full = full["stages"]["ion_images"]["s"] / full["n_pixels"]
    result = {
        "benchmark": "scale", "label": label,
        "section": {"raster": [side, side], "n_pixels": side * side, "coarse_raster": [info["coarse"]] * 2,
                    "n_ions": info["n_ions"], "mean_peaks_per_spectrum": round(info["mean_peaks_per_spectrum"], 1),
                    "ibd_gb": round(info["ibd_bytes"] / 1e9, 3), "xml_gb": round(info["xml_bytes"] / 1e9, 3),
                    "write_s": round(info["write_s"], 1)},
        "limit": {"rlimit_as_gb": None if limit_bytes is None else round(limit_bytes / 1e9, 3),
                  "below_ibd_size": limit_bytes is not None and limit_bytes < info["ibd_bytes"]},
        "end_to_end": {**e2e, "k": k, "ppm": PPM, "rss_target_mib": RSS_TARGET_MIB,
                       "meets_rss_target": e2e["peak_rss_mib"] <= RSS_TARGET_MIB},
        "full_resolution": full_res,
        "many_candidates": None if many is None else {
            **many, "time_target_s": TIME_TARGET_S, "meets_time_target": many["total_s"] <= TIME_TARGET_S,
            "meets_rss_target": many["peak_rss_mib"] <= RSS_TARGET_MIB},
        "extraction": [{"rows": rows, "n_pixels": v["n_pixels"], "n_windows": v["n_windows"],
                        "open_s": v["stages"]["open_msi"]["s"], "ion_images_s": v["stages"]["ion_images"]["s"],
                        "us_per_pixel": round(1e6 * v["stages"]["ion_images"]["s"] / v["n_pixels"], 2),
                        "ratio_to_linear": round(v["stages"]["ion_images"]["s"] / (per_px_full * v["n_pixels"]), 2),
                        "peak_rss_mib": v["peak_rss_mib"]} for rows, v in sorted(extraction.items())],
        "machine": {"python": platform.python_version(), "cpu": platform.machine(), "cores": os.cpu_count()},
    }
    if out_dir is not None:
        suffix = "" if label == "full" else f"_{label}"
        write_report(out_dir, f"scale{suffix}", result, to_markdown(result))
    return result


def to_markdown(r: dict) -> str:
    s, e, lim = r["section"], r["end_to_end"], r["limit"]
    cap = (f"RLIMIT_AS {lim['rlimit_as_gb']} GB ({'below' if lim['below_ibd_size'] else 'NOT below'} the .ibd size)"
           if lim["rlimit_as_gb"] else "no memory limit")
    lines = [f"# Scale: a {s['raster'][0]} x {s['raster'][1]} processed section ({r['label']})", "",
             f"{s['n_pixels']:,} spectra, {s['mean_peaks_per_spectrum']} peaks per spectrum on average "
             f"({s['n_ions']} simulated ions; patterns simulated on {s['coarse_raster'][0]} x {s['coarse_raster'][1]} "
             f"and interpolated); .ibd {s['ibd_gb']} GB, XML {s['xml_gb']} GB, streamed out in {s['write_s']} s. "
             f"Every run below is a fresh child process under {cap}.", "",
             f"## End to end: open_msi -> candidate_mz -> pick_peaks(k={e['k']}, ppm={e['ppm']:g})", "",
             f"{e['n_candidates']} candidates, {e['n_picked']} picked; model {e['model']}.", "",
             "| stage | s | RSS after (MiB) | peak during (MiB) |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['s']:.1f} | {v['rss_mib']:.0f} | {v['peak_mib']:.0f} |" for k, v in e["stages"].items()]
    t = e["pick_timings"]
    lines += ["", "Inside pick_peaks: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in t.items()) + ".",
              "", f"Peak RSS {e['peak_rss_mib']:.0f} MiB (target <= {e['rss_target_mib']:g} MiB: "
              f"{'met' if e['meets_rss_target'] else 'MISSED'}); peak address space {e['vm_peak_mib']:.0f} MiB.", ""]
    lines += _runs_table(r)
    lines += ["",
              f"## Ion-image extraction ({r['extraction'][0]['n_windows']} windows, one pass)", "",
              "| pixels | open_msi (s) | ion_images (s) | us per pixel | time / linear from the full size | peak RSS (MiB) |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {v['n_pixels']:,} | {v['open_s']:.1f} | {v['ion_images_s']:.1f} | {v['us_per_pixel']} | "
              f"{v['ratio_to_linear']} | {v['peak_rss_mib']:.0f} |" for v in r["extraction"]]
    m = r["machine"]
    lines += ["", f"Machine: Python {m['python']}, {m['cpu']}, {m['cores']} cores; run "
              "`python benchmarks/scale.py` to reproduce.", ""]
    return "\n".join(lines)


def _runs_table(r: dict) -> list[str]:
    """The working-raster runs beside the full-resolution baseline, and the many-candidate target."""
    e, full, many = r["end_to_end"], r.get("full_resolution"), r.get("many_candidates")
    if not full:
        return []
    rows = [("detected, working raster (default)", e), ("detected, full resolution (baseline)", full)]
    rows += [] if many is None else [("topped up, working raster (default)", many)]
    from ionmorph.io.binning import binned_shape

    h, w = e["shape"]
    lines = ["## Working raster against full resolution", "",
             "`pick_peaks` scores rasters above `WORKING_SIDE` px per side binned (cell means over measured pixels, "
             "inside the streaming pass); `working_side=None` scores at full resolution.", "",
             "| run | candidates | raster scored | whole run (s) | pick_peaks (s) | ion images (s) | preprocess (s) | "
             "inference (s) | statistics (s) | peak RSS (MiB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in rows:
        b, t = v["binning"], v["pick_timings"]
        raster = "{} x {}".format(*binned_shape((h, w), b)) + (f" (bin {b})" if b > 1 else "")
        lines.append(f"| {name} | {v['n_candidates']:,} | {raster} | {v['total_s']:.1f} | {v['stages']['pick_peaks']['s']:.1f} | "
                     f"{t.get('ion_images', 0):.1f} | {t.get('preprocess', 0):.1f} | {t.get('inference', 0):.1f} | "
                     f"{t.get('statistics', 0):.1f} | {v['peak_rss_mib']:.0f} |")
    ratio = full["stages"]["pick_peaks"]["s"] / max(e["stages"]["pick_peaks"]["s"], 1e-9)
    lines += ["", f"pick_peaks on the detected candidates: full resolution / working raster = {ratio:.1f}x (same run)."]
    if many is not None:
        lines += ["", f"{many['n_candidates']:,} candidates: {many['total_s']:.0f} s end to end (target < "
                  f"{many['time_target_s']:g} s: {'met' if many['meets_time_target'] else 'MISSED'}), peak RSS "
                  f"{many['peak_rss_mib']:.0f} MiB (target <= {RSS_TARGET_MIB:g} MiB: "
                  f"{'met' if many['meets_rss_target'] else 'MISSED'}); weights: {many['model']}."]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=1000, help="raster side in pixels (default 1000)")
    p.add_argument("--n-ions", type=int, default=500, help="simulated ions (default 500)")
    p.add_argument("--quick", action="store_true", help="200 x 200, no memory limit, results scale_quick.*")
    p.add_argument("--workdir", type=Path, help="where the section is written (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--candidates", type=int, default=N_MANY,
                   help=f"candidates of the many-candidate run (default {N_MANY}; 0 skips it)")
    p.add_argument("--pick-worker", nargs=6, metavar=("IMZML", "K", "LIMIT", "MODEL", "N_CANDIDATES", "SIDE"),
                   help=argparse.SUPPRESS)
    p.add_argument("--extract-worker", nargs=3, metavar=("IMZML", "MZ_NPY", "LIMIT"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.pick_worker:
        path, k, lim, model, n_cand, side = a.pick_worker
        print(json.dumps(pick_worker(path, int(k), int(lim) if lim else None, model or None, int(n_cand),
                                     int(side) if side else None)))
        return 0
    if a.extract_worker:
        path, mz_file, lim = a.extract_worker
        print(json.dumps(extract_worker(path, mz_file, int(lim) if lim else None)))
        return 0
    side, label = (200, "quick") if a.quick else (a.side, "full")
    with tempfile.TemporaryDirectory(prefix="ionmorph-scale-", dir=a.workdir) as tmp:
        r = run(side, Path(tmp), a.out, label, n_ions=a.n_ions, limit=not a.quick, n_candidates=a.candidates)
    if not a.quick and r["section"]["ibd_gb"] * 1e9 < MIN_IBD_BYTES:
        print(f"warning: the .ibd is {r['section']['ibd_gb']} GB, below the 2 GB of issue 10", file=sys.stderr)
    print(to_markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
