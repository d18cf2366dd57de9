"""A self-contained HTML report of ion images: one file, no server, no network, no CDN.

:func:`write_html_report` writes a page with

- a header: a list of facts (section, model, rule, ...) and header images (the TIC, a tumour
  probability map), each with a colour bar;
- one card per candidate (or channel): a thumbnail of its ion image, its m/z and the columns it
  has (rank, score, the class probabilities as a stacked bar, label, group, picked, your columns);
- controls: sort by any numeric column, filter by label, picked, an m/z range and a text search;
  a click on a card opens its image large, with a colour bar and the hotspot clipping stated.

Images are embedded as 8-bit palette PNGs (data URIs) whose palette is the shared colour map, so
the browser colours them itself and 1,000 candidates stay within a few MB. Each ion image is
scaled from 0 (or its minimum, if negative) to its :data:`HOTSPOT_PERCENTILE` th percentile over
the measured pixels (METASPACE's hotspot clipping); brighter pixels take the top colour, and the
card records how many. Unmeasured pixels are transparent (grey). The page state lives in the URL
hash (``#sort=mz&dir=asc&label=structured&picked=yes&mzmin=700&mzmax=800&q=text&open=12``), so
a sorted or filtered view can be bookmarked and a headless browser can be tested on it.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..fileio import atomic_write_text, check_output

#: Percentile of the measured pixels at which ion images are clipped (hotspot removal).
HOTSPOT_PERCENTILE = 99.0
#: Longest side of an embedded image; larger rasters are block-averaged down to it.
MAX_SIDE = 64
#: Colours of the palette (the colour map sampled at this many levels; fewer levels compress better).
LEVELS = 64
#: Marker that identifies a report written by :func:`write_html_report` (so a rerun may replace it).
GENERATOR = '<meta name="generator" content="ionmorph html report">'


@dataclass
class EncodedImage:
    """An image as a palette-PNG data URI with the value range its colours span."""

    src: str
    vmin: float
    vmax: float
    n_clipped: int
    n_measured: int
    clipped_at: str


@dataclass
class HeaderImage:
    """A header image: a raster with its title, unit, and a fixed value range (else clipped as ion images)."""

    title: str
    image: np.ndarray
    mask: np.ndarray | None = None
    unit: str = ""
    vmin: float | None = None
    vmax: float | None = None
    cmap: str | None = None
    encoded: EncodedImage | None = field(default=None, repr=False)


def _palette(cmap: str) -> np.ndarray:
    """uint8 (LEVELS, 3) colours of a matplotlib colour map."""
    import matplotlib

    try:
        cm = matplotlib.colormaps[cmap]
    except KeyError:
        raise InputError(f"unknown colour map {cmap!r} (a matplotlib colour map name, e.g. viridis)") from None
    return (cm(np.linspace(0, 1, LEVELS))[:, :3] * 255).round().astype(np.uint8)


def _downsample(image: np.ndarray, mask: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Block means over measured pixels so that the longer side is at most ``max_side``."""
    f = math.ceil(max(image.shape) / max_side)
    if f <= 1:
        return image, mask
    h, w = (math.ceil(s / f) * f for s in image.shape)
    img = np.zeros((h, w), np.float64)
    msk = np.zeros((h, w), np.float64)
    img[:image.shape[0], :image.shape[1]] = np.where(mask, image, 0)
    msk[:image.shape[0], :image.shape[1]] = mask
    s = img.reshape(h // f, f, w // f, f).sum(axis=(1, 3))
    n = msk.reshape(h // f, f, w // f, f).sum(axis=(1, 3))
    return np.divide(s, n, out=np.zeros_like(s), where=n > 0), n > 0


def encode_image(image: np.ndarray, mask: np.ndarray | None = None, *, cmap: str = "viridis",
                 vmin: float | None = None, vmax: float | None = None,
                 clip: float = HOTSPOT_PERCENTILE, max_side: int = MAX_SIDE,
                 palette: np.ndarray | None = None) -> EncodedImage:
    """One (H, W) image as an 8-bit palette PNG (data URI) on colour map ``cmap``.

    The colours span ``vmin`` (default: 0, or the minimum when negative) to ``vmax`` (default: the
    ``clip`` percentile of the measured pixels: hotspot clipping); pixels outside ``mask`` and NaN
    pixels are transparent.
    """
    from PIL import Image

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise InputError(f"an image to embed must be 2-D, got shape {img.shape}")
    measured = np.isfinite(img) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(img))
    values = img[measured]
    lo = (min(0.0, float(values.min())) if values.size else 0.0) if vmin is None else float(vmin)
    if vmax is None:
        hi = float(np.percentile(values, clip)) if values.size else 1.0
        clipped_at = f"the {clip:g}th percentile of the measured pixels"
    else:
        hi, clipped_at = float(vmax), "a fixed range"
    if not hi > lo:
        hi = lo + (1.0 if not values.size or float(values.max()) <= lo else float(values.max()) - lo)
    n_clipped = int((values > hi).sum())
    small, small_mask = _downsample(np.where(measured, img, 0.0), measured, max_side)
    idx = np.clip(np.round((small - lo) / (hi - lo) * (LEVELS - 1)), 0, LEVELS - 1).astype(np.uint8)
    idx[~small_mask] = LEVELS                                    # the transparent index
    pal = _palette(cmap) if palette is None else palette
    png = Image.fromarray(idx, mode="P")
    png.putpalette(np.vstack([pal, [[0, 0, 0]]]).ravel().tolist())
    buf = io.BytesIO()
    png.save(buf, format="PNG", optimize=True, transparency=LEVELS)
    src = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return EncodedImage(src, lo, hi, n_clipped, int(values.size), clipped_at)


def colorbar_css(cmap: str, stops: int = 16) -> str:
    """A CSS ``linear-gradient`` (left to right) of colour map ``cmap``."""
    pal = _palette(cmap)
    pick = pal[np.linspace(0, LEVELS - 1, stops).round().astype(int)]
    return "linear-gradient(to right, " + ", ".join(f"rgb({r},{g},{b})" for r, g, b in pick) + ")"


def is_html_report(path: Path) -> bool:
    """True for a file written by :func:`write_html_report` (a rerun may replace it)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return GENERATOR in fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return False


def report_data(path: str | os.PathLike) -> dict[str, Any]:
    """The data embedded in a report (title, facts, cards, classes, header images): for checks and tools."""
    text = Path(path).read_text(encoding="utf-8")
    start = text.find('<script id="data" type="application/json">')
    end = text.find("</script>", start)
    if not is_html_report(Path(path)) or start < 0 or end < 0:
        raise InputError(f"{path}: not an ionmorph HTML report")
    return json.loads(text[start + len('<script id="data" type="application/json">'):end])


def _json_value(v: Any) -> Any:
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else round(float(v), 6)
    return str(v)


def _records(columns: Mapping[str, np.ndarray], images: Sequence[EncodedImage]) -> list[dict[str, Any]]:
    n = len(images)
    out = []
    for i in range(n):
        rec = {k: _json_value(np.asarray(v)[i]) for k, v in columns.items()}
        e = images[i]
        rec["_img"] = e.src
        rec["_range"] = [e.vmin, e.vmax, e.n_clipped, e.n_measured]
        out.append(rec)
    return out


def write_html_report(path: str | os.PathLike, *, title: str, facts: Mapping[str, Any],
                      columns: Mapping[str, np.ndarray] | None = None, images: Any = (),
                      mask: np.ndarray | None = None, classes: Sequence[str] = (),
                      header_images: Sequence[HeaderImage] = (), cmap: str = "viridis",
                      card_name: str = "candidate", inputs: Sequence[Any] = (), overwrite: bool = False) -> Path:
    """Write the report (module docstring) atomically; returns the path.

    Parameters
    ----------
    path : path-like
        The ``.html`` file. It may not be an input; an existing file is replaced only when it is a
        report written here (:func:`is_html_report`), or with ``overwrite``.
    title : str
        Page title.
    facts : mapping of str to value
        Header facts in display order (None values are left out).
    columns : mapping of str to array (n,), optional
        One card per row; ``mz`` is required. ``p_<class>`` columns for ``classes`` make the
        probability bar; ``label`` and ``picked`` get filters; numeric columns are sort keys.
    images : (n, H, W) array or iterable of (H, W) arrays
        The cards' ion images in row order (streamed: one is encoded at a time).
    mask : bool (H, W), optional
        Measured pixels of the raster.
    classes : sequence of str
        Class names, for the probability bar and its legend.
    header_images : sequence of HeaderImage
        Images shown in the header with colour bars.
    cmap : str
        The shared matplotlib colour map of every ion image.
    card_name : str
        What a card is ("candidate", "channel"), for the page's wording.
    inputs, overwrite
        As in :func:`ionmorph.fileio.check_output`.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{path}: a report is written as .html")
    check_output(path, inputs, force=overwrite, owned=is_html_report)
    columns = dict(columns or {})
    if columns and "mz" not in columns:
        raise InputError("report cards need an 'mz' column")
    n = len(next(iter(columns.values()))) if columns else 0
    pal = _palette(cmap)
    encoded = [encode_image(im, mask, cmap=cmap, palette=pal) for im in images]
    if len(encoded) != n:
        raise InputError(f"{n} report rows but {len(encoded)} ion images")
    heads = []
    for h in header_images:
        hcmap = h.cmap or cmap
        e = encode_image(h.image, h.mask, cmap=hcmap, vmin=h.vmin, vmax=h.vmax)
        heads.append({"title": h.title, "unit": h.unit, "img": e.src, "range": [e.vmin, e.vmax, e.n_clipped,
                      e.n_measured], "clippedAt": e.clipped_at, "bar": colorbar_css(hcmap)})
    numeric = [k for k, v in columns.items() if np.asarray(v).dtype.kind in "iuf"]
    data = {"title": title, "facts": [[k, str(v)] for k, v in facts.items() if v is not None],
            "cards": _records(columns, encoded), "classes": list(classes),
            "classColors": [class_colour(i) for i in range(len(classes))],
            "sortKeys": numeric, "labels": sorted({str(v) for v in columns.get("label", [])}),
            "hasPicked": "picked" in columns, "bar": colorbar_css(cmap), "cmap": cmap,
            "clip": f"the {HOTSPOT_PERCENTILE:g}th percentile of its measured pixels", "heads": heads,
            "cardName": card_name, "aspect": _aspect(mask)}
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = (_TEMPLATE.replace("%GENERATOR%", GENERATOR).replace("%TITLE%", html.escape(title))
            .replace("%DATA%", payload))
    return atomic_write_text(path, page)


def _aspect(mask: np.ndarray | None) -> str:
    """CSS aspect ratio (width / height) of the card images."""
    if mask is None:
        return "1"
    h, w = np.asarray(mask).shape
    return f"{w} / {h}"


#: Colours of the class bar segments (matplotlib's tab10 order).
_CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf")


def class_colour(i: int) -> str:
    """The colour of class ``i`` in the probability bars."""
    return _CLASS_COLOURS[i % len(_CLASS_COLOURS)]


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
%GENERATOR%
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%TITLE%</title>
<style>
body{font:13px/1.35 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f4f6;color:#222}
header{background:#fff;padding:12px 18px;border-bottom:1px solid #ddd;display:flex;gap:24px;flex-wrap:wrap}
h1{font-size:18px;margin:0 0 6px}
table.facts td{padding:1px 8px 1px 0;vertical-align:top}table.facts td:first-child{color:#666;white-space:nowrap}
.head{text-align:center}.head img{height:170px;image-rendering:pixelated;background:#bbb;display:block;margin:auto}
.cbar{height:10px;width:170px;margin:3px auto 0;border:1px solid #999}
.cbl{display:flex;justify-content:space-between;width:172px;margin:auto;font-size:11px;color:#444}
#controls{position:sticky;top:0;background:#fafafa;border-bottom:1px solid #ddd;padding:8px 18px;z-index:2;
 display:flex;gap:12px;flex-wrap:wrap;align-items:center}
#controls input[type=number]{width:80px}
#legend span{display:inline-block;margin-right:8px}#legend i{display:inline-block;width:10px;height:10px;margin-right:3px}
#grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(168px,1fr));gap:10px;padding:12px 18px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;cursor:pointer}
.card.picked{border:2px solid #2a7}
.card img{width:100%;aspect-ratio:var(--ar);object-fit:contain;image-rendering:pixelated;background:#bbb;display:block}
.card .mz{font-weight:600;font-size:14px}.card .meta{color:#555;font-size:12px}
.pbar{display:flex;height:8px;margin:4px 0;border-radius:2px;overflow:hidden;background:#eee}
.badge{font-size:11px;padding:0 4px;border-radius:3px;background:#2a7;color:#fff}
#modal{display:none;position:fixed;inset:0;background:rgba(0,0,0,.6);z-index:5;align-items:center;justify-content:center}
#modal.open{display:flex}
#modal .box{background:#fff;padding:14px;border-radius:8px;max-width:92vw;max-height:94vh;overflow:auto}
#modal img{width:min(70vw,70vh);image-rendering:pixelated;background:#bbb;display:block;margin:auto}
#modal .cbar{width:min(70vw,70vh)}#modal .cbl{width:min(70vw,70vh)}
</style></head>
<body>
<header id="header"></header>
<div id="controls">
 <label>sort <select id="sort"></select></label>
 <select id="dir"><option value="desc">descending</option><option value="asc">ascending</option></select>
 <label>class <select id="label"><option value="">all</option></select></label>
 <label id="pickedBox">picked <select id="picked"><option value="">all</option><option value="yes">picked</option>
  <option value="no">not picked</option></select></label>
 <label>m/z <input id="mzmin" type="number" step="any" placeholder="min"> - <input id="mzmax" type="number" step="any" placeholder="max"></label>
 <input id="q" type="search" placeholder="search (m/z, label, group, name...)">
 <span id="count"></span><span id="legend"></span>
</div>
<main id="grid"></main>
<div id="modal"><div class="box" id="modalBox"></div></div>
<script id="data" type="application/json">%DATA%</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const $ = id => document.getElementById(id);
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
const fmt = v => (typeof v === "number") ? (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-2) ? v.toExponential(2) : +v.toFixed(4)) : v;
const SKIP = new Set(["mz", "rank", "score", "label", "picked", "group", "_img", "_range", "_text"]);
const probCols = D.classes.map(c => "p_" + c);
function bar(lo, hi, css) {
  return `<div class="cbar" style="background:${css}"></div><div class="cbl"><span>${fmt(lo)}</span><span>${fmt(hi)}</span></div>`;
}
function header() {
  let h = `<div><h1>${esc(D.title)}</h1><table class="facts">` +
    D.facts.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("") + "</table></div>";
  for (const im of D.heads) {
    h += `<div class="head"><div>${esc(im.title)}</div><img src="${im.img}" alt="${esc(im.title)}">` +
      bar(im.range[0], im.range[1], im.bar) + `<div class="cbl" style="justify-content:center">${esc(im.unit)}` +
      (im.range[2] ? ` (clipped at ${esc(im.clippedAt)})` : "") + "</div></div>";
  }
  $("header").innerHTML = h;
}
function pbar(r) {
  if (!D.classes.length || !(probCols[0] in r)) return "";
  return `<div class="pbar" title="${D.classes.map((c, i) => c + " " + fmt(r[probCols[i]])).join(", ")}">` +
    D.classes.map((c, i) => `<i style="width:${100 * (r[probCols[i]] || 0)}%;background:${D.classColors[i]}"></i>`).join("") + "</div>";
}
function extras(r) {
  return Object.keys(r).filter(k => !SKIP.has(k) && !probCols.includes(k) && r[k] !== null && r[k] !== "")
    .map(k => `${esc(k)} ${esc(fmt(r[k]))}`).join(" · ");
}
const cards = [];
function build() {
  const parts = [];
  D.cards.forEach((r, i) => {
    const text = [r.mz, r.label, r.group, ...Object.keys(r).filter(k => !SKIP.has(k) && !probCols.includes(k)).map(k => r[k])].join(" ").toLowerCase();
    r._text = text;
    parts.push(`<div class="card${r.picked ? " picked" : ""}" data-i="${i}" data-mz="${r.mz}">` +
      `<img loading="lazy" decoding="async" src="${r._img}" alt="m/z ${r.mz}">` +
      `<div class="mz">m/z ${r.mz.toFixed(4)} ${r.picked ? '<span class="badge">picked</span>' : ""}</div>` +
      `<div class="meta">${"rank" in r ? "rank " + r.rank + " · " : ""}${"score" in r ? "score " + fmt(r.score) : ""}</div>` +
      pbar(r) + `<div class="meta">${r.label !== undefined ? esc(r.label) : ""}${r.group !== undefined ? " · group " + esc(r.group) : ""}</div>` +
      `<div class="meta">${extras(r)}</div></div>`);
  });
  const grid = $("grid");
  grid.style.setProperty("--ar", D.aspect);
  grid.innerHTML = parts.join("");
  for (const el of grid.children) cards[+el.dataset.i] = el;
  grid.replaceChildren();
}
function controls() {
  const keys = D.sortKeys.length ? D.sortKeys : ["mz"];
  $("sort").innerHTML = keys.map(k => `<option value="${esc(k)}">${esc(k.startsWith("p_") ? "P(" + k.slice(2) + ")" : k)}</option>`).join("");
  $("label").innerHTML += D.labels.map(l => `<option>${esc(l)}</option>`).join("");
  if (!D.hasPicked) $("pickedBox").style.display = "none";
  $("legend").innerHTML = D.classes.map((c, i) => `<span><i style="background:${D.classColors[i]}"></i>${esc(c)}</span>`).join("");
  for (const id of ["sort", "dir", "label", "picked", "mzmin", "mzmax", "q"])
    $(id).addEventListener("input", () => { writeHash(); render(); });
  $("grid").addEventListener("click", e => { const c = e.target.closest(".card"); if (c) openCard(+c.dataset.i, true); });
  $("modal").addEventListener("click", e => { if (e.target.id === "modal") closeCard(); });
  document.addEventListener("keydown", e => { if (e.key === "Escape") closeCard(); });
  window.addEventListener("hashchange", () => { readHash(); render(); });
}
const STATE = ["sort", "dir", "label", "picked", "mzmin", "mzmax", "q"];
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const defaultSort = D.sortKeys.includes("score") ? "score" : "mz";
  $("sort").value = p.get("sort") || defaultSort;
  if (!$("sort").value) $("sort").value = defaultSort;
  $("dir").value = p.get("dir") || ($("sort").value === "mz" || $("sort").value === "rank" ? "asc" : "desc");
  for (const id of ["label", "picked", "mzmin", "mzmax", "q"]) $(id).value = p.get(id) || "";
  const o = p.get("open");
  if (o !== null && D.cards[+o]) openCard(+o, false); else closeCard(false);
}
function writeHash(extra) {
  const p = new URLSearchParams();
  for (const id of STATE) if ($(id).value) p.set(id, $(id).value);
  if (extra !== undefined) p.set("open", extra);
  history.replaceState(null, "", "#" + p.toString());
}
function shown() {
  const lab = $("label").value, pk = $("picked").value, q = $("q").value.trim().toLowerCase();
  const lo = parseFloat($("mzmin").value), hi = parseFloat($("mzmax").value);
  const key = $("sort").value, sign = $("dir").value === "asc" ? 1 : -1;
  const idx = [];
  D.cards.forEach((r, i) => {
    if (lab && String(r.label) !== lab) return;
    if (pk && (pk === "yes") !== !!r.picked) return;
    if (!isNaN(lo) && r.mz < lo) return;
    if (!isNaN(hi) && r.mz > hi) return;
    if (q && !r._text.includes(q)) return;
    idx.push(i);
  });
  idx.sort((a, b) => (sign * ((D.cards[a][key] ?? -Infinity) - (D.cards[b][key] ?? -Infinity))) || (D.cards[a].mz - D.cards[b].mz));
  return idx;
}
function render() {
  const idx = shown();
  const frag = document.createDocumentFragment();
  for (const i of idx) frag.appendChild(cards[i]);
  $("grid").replaceChildren(frag);
  $("count").textContent = `${idx.length} of ${D.cards.length} ${D.cardName}s shown`;
  $("count").dataset.shown = idx.length;
}
function openCard(i, push) {
  const r = D.cards[i], [lo, hi, nc, nm] = r._range;
  const probs = D.classes.length && probCols[0] in r ?
    "<table class='facts'>" + D.classes.map((c, j) => `<tr><td><i style="display:inline-block;width:10px;height:10px;background:${D.classColors[j]}"></i> ${esc(c)}</td><td>${fmt(r[probCols[j]])}</td></tr>`).join("") + "</table>" : "";
  $("modalBox").innerHTML = `<div class="mz" style="font-size:16px">m/z ${r.mz.toFixed(6)} ${r.picked ? '<span class="badge">picked</span>' : ""}</div>` +
    `<img src="${r._img}" alt="m/z ${r.mz}">` + bar(lo, hi, D.bar) +
    `<p id="clipnote">Colour map ${esc(D.cmap)} from ${fmt(lo)} to ${fmt(hi)}: hotspot clipping at ${esc(D.clip)}; ` +
    `${nc} of ${nm} measured pixels (${(100 * nc / Math.max(nm, 1)).toFixed(1)} %) are brighter and shown at the top colour. Grey: no spectrum.</p>` +
    `<div class="meta">${"rank" in r ? "rank " + r.rank + " · " : ""}${"score" in r ? "score " + fmt(r.score) + " · " : ""}${r.label !== undefined ? esc(r.label) : ""}${r.group !== undefined ? " · group " + esc(r.group) : ""}</div>` +
    probs + `<div class="meta">${extras(r)}</div><p style="color:#888">Esc or a click outside closes.</p>`;
  $("modal").classList.add("open");
  $("modal").dataset.open = i;
  if (push) writeHash(i);
}
function closeCard(write = true) {
  if (!$("modal").classList.contains("open")) return;
  $("modal").classList.remove("open");
  delete $("modal").dataset.open;
  if (write) writeHash();
}
header(); controls(); build(); readHash(); render();
document.body.dataset.readyMs = Math.round(performance.now());
window.addEventListener("load", () => { document.body.dataset.loadMs = Math.round(performance.now()); });
</script>
</body></html>
"""
