"""Benchmark: does per-pixel normalisation (``pick_peaks(norm=...)``) change the picks of a real section?

Runs ``ionmorph.pick_peaks(PATH, k=K, norm=NORM)`` for every normalisation of
:data:`ionmorph.io.normalisation.NORMS` (default model and score, everything else at its default) and
counts how many of the ``K`` picks each pair of normalisations share. The mSCF1 of each
normalisation is ``benchmarks/realdata.py --norm NORM``.

Output: ``<out>/<prefix>.json`` and ``.md`` (default ``benchmarks/results/realdata_norm_picks``).

Usage: ``python benchmarks/norm_picks.py [PATH] [-k 20] [--out-prefix NAME]`` (PATH default: the
barley imzML of ``../shared/realdata``).
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402  (shared benchmark helpers)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PATH = REPO.parent / "shared" / "realdata" / "barley" / "barley101_peaks.imzML"


def run(path: Path, k: int) -> dict[str, Any]:
    """Picks of every normalisation and the pairwise overlap of the picked m/z sets."""
    from ionmorph import pick_peaks
    from ionmorph.io.normalisation import NORMS

    picks: dict[str, list[float]] = {}
    model = scoring = None
    for norm in NORMS:
        res = pick_peaks(path, k=k, norm=norm, progress=False)
        picks[norm] = [round(float(m), 4) for m in res.picked_mz]
        model, scoring = res.model, res.scoring
    overlap = {f"{a}/{b}": len(set(picks[a]) & set(picks[b])) for a, b in itertools.combinations(NORMS, 2)}
    return {"benchmark": "norm_picks", "path": str(path), "k": k, "model": model, "score": scoring,
            "picks": picks, "overlap": overlap}


def to_markdown(res: dict[str, Any]) -> str:
    """The Markdown report of :func:`run`'s results."""
    lines = [f"# Picks by normalisation ({Path(res['path']).name}, k = {res['k']})", "",
             f"Model: {res['model']}; score `{res['score']}`; `pick_peaks(path, k={res['k']}, norm=...)`.", "",
             "| pair | shared picks |", "|---|---|"]
    lines += [f"| {pair} | {n} / {res['k']} |" for pair, n in res["overlap"].items()]
    lines += ["", "| norm | picked m/z, best first |", "|---|---|"]
    lines += [f"| {norm} | " + ", ".join(f"{m:.4f}" for m in mz) + " |" for norm, mz in res["picks"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH, help="an imzML file (default: barley)")
    p.add_argument("-k", type=int, default=20, help="picks per normalisation (default 20)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--out-prefix", default="realdata_norm_picks", help="results name")
    a = p.parse_args(argv)
    res = run(a.path, a.k)
    text = to_markdown(res)
    write_report(a.out, a.out_prefix, res, text)
    print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.exit(main())
