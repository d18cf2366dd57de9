"""ionmorph.io.html_report: image encoding, the written page, and the page in a real (headless) browser."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from browser_testutil import Browser, require_chromium
from ionmorph.errors import InputError, OutputError
from ionmorph.io.html_report import LEVELS, HeaderImage, encode_image, report_data, write_html_report

CLASSES = ("structured", "weak_structured", "localized", "fragmented", "unstructured", "negative")


def _png(src: str) -> np.ndarray:
    img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    assert img.mode == "P"
    return np.asarray(img)


def test_encode_image_clips_hotspots_and_hides_unmeasured_pixels():
    img = np.tile(np.arange(10, dtype=np.float32), (10, 1))
    img[0, 0] = 1000.0                                          # a hotspot
    mask = np.ones((10, 10), bool)
    mask[9, 9] = False
    e = encode_image(img, mask, clip=95)
    idx = _png(e.src)
    assert e.vmin == 0 and e.vmax == pytest.approx(np.percentile(img[mask], 95))
    assert e.n_clipped == int((img[mask] > e.vmax).sum()) >= 1 and e.n_measured == 99
    assert idx[0, 0] == LEVELS - 1 and idx[9, 9] == LEVELS and idx[5, 0] == 0   # top colour, transparent, bottom
    fixed = encode_image(img, mask, vmin=0, vmax=2000)
    assert fixed.n_clipped == 0 and _png(fixed.src)[0, 0] == round(1000 / 2000 * (LEVELS - 1))
    big = encode_image(np.random.default_rng(0).random((300, 150)), max_side=100)
    assert _png(big.src).shape == (100, 50)                     # block means down to the longest side


def _cards(n: int, rng: np.random.Generator):
    proba = rng.dirichlet(np.ones(6), n).astype(np.float32)
    cols = {"mz": np.sort(rng.uniform(100, 900, n)), "score": proba[:, [0, 2, 5]].sum(1),
            **{f"p_{c}": proba[:, i] for i, c in enumerate(CLASSES)},
            "label": np.asarray(CLASSES)[proba.argmax(1)], "picked": np.arange(n) % 4 == 0,
            "rank": np.argsort(np.argsort(-proba[:, [0, 2, 5]].sum(1))) + 1, "group": np.arange(n) // 2,
            "name": np.array([f"ion{i}" for i in range(n)])}
    images = rng.gamma(2.0, 1.0, (n, 12, 16)).astype(np.float32)
    return cols, images


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    rng = np.random.default_rng(0)
    cols, images = _cards(40, rng)
    mask = np.ones((12, 16), bool)
    mask[0, :3] = False
    path = write_html_report(tmp_path_factory.mktemp("r") / "report.html", title="test", facts={"file": "x.imzML"},
                             columns=cols, images=images, mask=mask, classes=CLASSES,
                             header_images=[HeaderImage("TIC", images.sum(0), mask, unit="counts")])
    return path, cols


def test_report_embeds_every_card_and_guards_its_output(report, tmp_path):
    path, cols = report
    data = report_data(path)
    assert len(data["cards"]) == 40 and data["classes"] == list(CLASSES) and data["heads"][0]["title"] == "TIC"
    assert data["cards"][3]["name"] == "ion3" and data["cards"][3]["mz"] == pytest.approx(cols["mz"][3], abs=1e-6)
    text = path.read_text()
    assert "http://" not in text and "https://" not in text   # nothing to fetch: opens offline
    args = dict(title="t", facts={}, columns={"mz": np.array([1.0])}, images=np.ones((1, 3, 3)))
    write_html_report(path, **args)                              # its own report is replaced
    (tmp_path / "mine.html").write_text("<html>my page</html>")
    with pytest.raises(OutputError, match="mine.html"):
        write_html_report(tmp_path / "mine.html", **args)
    with pytest.raises(InputError, match=".html"):
        write_html_report(tmp_path / "r.txt", **args)
    with pytest.raises(InputError, match="2 report rows but 1"):
        write_html_report(tmp_path / "n.html", **{**args, "columns": {"mz": np.array([1.0, 2.0])}})


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium on a 40-card report, for every browser check."""
    require_chromium()
    rng = np.random.default_rng(0)
    cols, images = _cards(40, rng)
    path = write_html_report(tmp_path_factory.mktemp("b") / "report.html", title="browser", facts={},
                             columns=cols, images=images, mask=np.ones((12, 16), bool), classes=CLASSES)
    b = Browser()
    b.open(path)
    yield b, cols
    b.close()


def test_browser_renders_every_card_sorted_by_score(browser):
    b, cols = browser
    assert b.shown() == list(np.argsort(-cols["score"], kind="stable"))   # 40 cards, best score first
    assert b.eval("document.getElementById('count').dataset.shown") == "40"
    assert b.eval("+document.body.dataset.readyMs") > 0


def test_browser_sorting_and_filtering_change_the_cards(browser):
    b, cols = browser
    assert b.set_hash("sort=mz&dir=desc") == list(range(39, -1, -1))
    assert b.set_hash("sort=p_localized&dir=asc") == list(np.argsort(cols["p_localized"], kind="stable"))
    label = str(cols["label"][0])
    assert set(b.set_hash(f"label={label}")) == set(np.flatnonzero(cols["label"] == label))
    assert set(b.set_hash("picked=yes")) == set(np.flatnonzero(cols["picked"]))
    lo, hi = cols["mz"][10], cols["mz"][20]
    assert b.set_hash(f"mzmin={lo - 1e-4}&mzmax={hi + 1e-4}&sort=mz&dir=asc") == list(range(10, 21))
    assert b.set_hash("q=ion17") == [17]
    # the controls themselves, as a user changes them
    b.set_hash("")
    assert b.set_control("sort", "mz") == list(range(39, -1, -1))          # score's default direction kept
    assert b.set_control("dir", "asc") == list(range(40))
    assert b.set_control("picked", "no") == [i for i in range(40) if not cols["picked"][i]]
    assert "picked=no" in b.eval("location.hash")


def test_browser_opens_a_card_large_with_its_clipping(browser, tmp_path):
    b, _ = browser
    b.set_hash("")
    b.eval("document.querySelector('#grid .card[data-i=\"5\"]').click()")
    assert b.eval("document.getElementById('modal').dataset.open") == "5"
    assert "hotspot clipping at the 99th percentile" in b.eval("document.getElementById('clipnote').textContent")
    assert "open=5" in b.eval("location.hash")
    png = b.screenshot(tmp_path / "shot.png")
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000
