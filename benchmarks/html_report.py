"""Benchmark: the HTML report of 1,000 candidates: file size, time to write, and time to open in a browser.

A simulated 100 x 100 section (:func:`ionmorph.synth.simulate_section` via ``write_section`` of
``benchmarks/ion_images.py``) with 1,000 candidate m/z (its ion pool) is picked with the bundled
IonMorphNet (``score="classes"``, ``k=100``), and ``PickResult.to_html`` writes the report. The
page is opened in headless Chromium (Debian's ``chromium``, driven over the DevTools protocol by
``tests/browser_testutil.py``) from a file URL, as from a mail attachment: the open time is the
page's own ``performance.now()`` when its script has built, sorted and shown every card
(``data-ready-ms``, interactive from then on), and when the load event fired; the median of
three fresh loads. Targets: at most 5 MB and interactive within 2 s. A screenshot of the page
(``html_report.png``) and of one card opened large (``html_report_card.png``) go beside the
results for the README.

Usage: ``python benchmarks/html_report.py [--quick] [--out benchmarks/results]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from browser_testutil import Browser, chromium  # noqa: E402  (the tests' headless-browser driver)
from ion_images import write_section  # noqa: E402
from report import write_report  # noqa: E402

SIZE_TARGET_MB, OPEN_TARGET_S = 5.0, 2.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 candidates on 60 x 60 pixels")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    from ionmorph.picking.pick import pick_peaks

    side, n = (60, 200) if args.quick else (100, 1000)
    if chromium() is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        path, pool, how = write_section(Path(tmp) / "section.imzML", side, n)
        res = pick_peaks(path, k=100, candidates=pool, ppm=10, score="classes", progress=False)
        t = time.perf_counter()
        html = res.to_html(Path(tmp) / "report.html")
        write_s = time.perf_counter() - t
        size_mb = html.stat().st_size / 1e6
        browser = Browser()
        try:
            loads = []
            for i in range(3):
                wall = browser.open(html) if i == 0 else browser.reload()
                loads.append((browser.eval("+document.body.dataset.readyMs") / 1000,
                              browser.eval("+document.body.dataset.loadMs") / 1000, wall,
                              len(browser.shown())))
            browser.screenshot(args.out / "html_report.png")
            browser.set_hash("sort=score&picked=yes&open=" + str(int(res.ranking[0])))
            browser.screenshot(args.out / "html_report_card.png")
        finally:
            browser.close()
    ready = statistics.median(x[0] for x in loads)
    load = statistics.median(x[1] for x in loads)
    wall = statistics.median(x[2] for x in loads)
    result = {"candidates": len(res), "picked": int(res.picked.sum()), "raster": [side, side], "section": how,
              "size_mb": round(size_mb, 3), "size_target_mb": SIZE_TARGET_MB, "write_s": round(write_s, 2),
              "interactive_s": round(ready, 3), "load_event_s": round(load, 3), "navigate_to_load_s": round(wall, 3),
              "open_target_s": OPEN_TARGET_S, "cards_shown": loads[0][3], "chromium": chromium(),
              "meets_targets": size_mb <= SIZE_TARGET_MB and ready <= OPEN_TARGET_S}
    md = ["# HTML report of 1,000 candidates" if not args.quick else "# HTML report (quick)", "",
          f"{len(res)} candidates ({res.picked.sum()} picked) of a simulated {side} x {side} section, "
          f"bundled IonMorphNet, `score=\"classes\"`; `PickResult.to_html`, opened from a file URL in headless "
          f"Chromium (median of 3 loads).", "",
          "| measure | value | target |", "|---|---|---|",
          f"| file size | {size_mb:.2f} MB | <= {SIZE_TARGET_MB:g} MB |",
          f"| interactive (every card built, sorted, shown) | {ready:.2f} s | <= {OPEN_TARGET_S:g} s |",
          f"| load event (all thumbnails decoded) | {load:.2f} s | |",
          f"| writing the report (re-extraction + encoding) | {write_s:.1f} s | |",
          f"| cards rendered | {loads[0][3]} | {len(res)} |", "",
          "Screenshots: `html_report.png` (the page), `html_report_card.png` (a card opened large).", ""]
    write_report(args.out, "html_report" + ("_quick" if args.quick else ""), result, "\n".join(md))
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
