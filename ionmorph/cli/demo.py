"""The main job end to end on an embedded default (``make demo``).

Simulates a kidney-like MALDI-Orbitrap section (a family and instrument the shipped model saw in
training), writes it as processed imzML, runs :func:`ionmorph.pick_peaks` with the bundled
weights, and writes the picked-peak table and an ion-image grid figure.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def run_demo(out: Path, seed: int = 7, k: int = 40, progress: bool = True) -> dict[str, Path]:
    """Run the demo into ``out`` and return the paths it wrote."""
    from ..picking.pick import pick_peaks
    from ..plotting import save_figure
    from ..synth import simulate_section

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    section = simulate_section(seed, family="kidney", instrument="maldi_orbitrap", shape=(100, 120), n_ions=200)
    imzml = out / "demo_section.imzML"
    section.write_imzml(imzml, mode="processed")
    print(f"simulated {section.mask.shape[0]}x{section.mask.shape[1]} section -> {imzml} "
          f"({time.perf_counter() - t0:.1f} s)")

    result = pick_peaks(imzml, k=k, progress=progress)
    paths = {"imzml": imzml, "csv": out / "picked_peaks.csv", "all": out / "all_candidates.csv",
             "figure": out / "picked_peaks.png"}
    result.to_csv(paths["all"])
    result.to_csv(paths["csv"], picked_only=True)
    save_figure(result.plot(n=24), paths["figure"])
    print(f"{len(result.mz)} candidates classified, {int(result.picked.sum())} picked "
          f"in {time.perf_counter() - t0:.1f} s")
    for key in ("csv", "all", "figure"):
        print(f"  {key:7s} {paths[key]}")
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m ionmorph.cli.demo --out demo_out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out"))
    parser.add_argument("-k", type=int, default=40, help="number of peaks to pick")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    run_demo(args.out, seed=args.seed, k=args.k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
