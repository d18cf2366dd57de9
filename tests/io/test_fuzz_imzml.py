"""Seeded fuzzing of ionmorph.io.msi: malformed imzML/ibd pairs give project errors, never anything else.

Each class below mutates two small valid datasets (processed and continuous) a few dozen times with
a fixed seed. For every case the file is opened and, when that succeeds, streamed through
``ion_images``, ``tic_image``, ``mean_spectrum`` and ``spectra``. The only exceptions allowed are
ionmorph's own (:mod:`ionmorph.errors`), each one line naming a file; results that do come back
must be finite, non-negative float32 images on a bounded raster ("no garbage"); a case that runs
longer than :data:`CASE_SECONDS` fails as a hang. Cases marked ``must_fail`` are corrupt beyond
doubt and must raise; where the problem is known, the message must name it (``expect``). Every
case's XML must also parse to the same header, or the same error, with and without the fast path
of :mod:`ionmorph.io.imzml_xml`.
"""
from __future__ import annotations

import re
import shutil
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from ionmorph.errors import IonMorphError
from ionmorph.io.msi import MAX_EMPTY_RATIO, MIN_RASTER_LIMIT, open_msi
from msi_testutil import continuous_cube, parse_difference, random_spectra, write_imzml

SEED = 20240917
CASES_PER_CLASS = 50
CASE_SECONDS = 10

HOSTILE_INTEGERS = ["-1", "0", "1", "15", "16", "17", str(2**31 - 1), str(2**31), str(2**32), str(2**61 - 2),
                    str(2**61), str(2**62), str(2**63 - 1), str(2**63), str(2**64), str(-2**63), str(-2**63 - 1),
                    "1e30", "1.5", "", "abc", "0x10", " 7 ", "+3", "-0", "1_000", "9" * 400, "\u0663"]


@dataclass
class Base:
    """One valid dataset as bytes."""

    xml: str
    ibd: bytes
    n_spectra: int


@dataclass
class Case:
    """One malformed dataset: the files to write (name -> bytes, a directory, or a dangling link)."""

    files: dict
    target: str
    label: str
    must_fail: bool = False
    expect: str | None = None  # regex the project error must match, where the problem is known


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Base]:
    root = tmp_path_factory.mktemp("fuzz-bases")
    xy = [(x, y) for y in (1, 2, 3) for x in (1, 2, 3)]
    _, spectra = random_spectra(len(xy), seed=5, n_peaks=12)
    processed = write_imzml(root / "p.imzML", spectra, xy, "processed")
    axis, cube = continuous_cube(len(xy), n_channels=24)
    continuous = write_imzml(root / "c.imzML", [(axis, row) for row in cube], xy, "continuous",
                             np.float32, np.float32, spec_type="profile")
    return {name: Base(p.read_text(encoding="latin-1"), p.with_suffix(".ibd").read_bytes(), len(xy))
            for name, p in (("processed", processed), ("continuous", continuous))}


def _pair(base: Base, xml: str | bytes | None = None, ibd: bytes | None = None, stem: str = "f", **kw) -> Case:
    xml = base.xml if xml is None else xml
    files = {f"{stem}.imzML": xml.encode("latin-1", "replace") if isinstance(xml, str) else xml,
             f"{stem}.ibd": base.ibd if ibd is None else ibd}
    return Case(files, f"{stem}.imzML", kw.pop("label", ""), **kw)


def _params(xml: str, names: tuple[str, ...]) -> list[re.Match]:
    return list(re.finditer(r'name="(%s)" value="([^"]*)"' % "|".join(map(re.escape, names)), xml))


# ------------------------------------------------------------------ mutation classes
def numbers(base: Base, rng: np.random.Generator) -> Case:
    """Offsets, lengths and coordinates replaced by hostile values (beyond int64, not integers, wraps)."""
    hits = _params(base.xml, ("external offset", "external array length", "position x", "position y"))
    xml = base.xml
    for m in sorted(rng.choice(hits, size=int(rng.integers(1, 4)), replace=False), key=lambda m: -m.start()):
        value = str(rng.choice(HOSTILE_INTEGERS))
        xml = xml[:m.start(2)] + value + xml[m.end(2):]
    return _pair(base, xml, label="numbers")


def xml_bytes(base: Base, rng: np.random.Generator) -> Case:
    """Byte-level damage to the XML: truncation, flipped bytes, cut or repeated ranges."""
    raw = bytearray(base.xml.encode("latin-1"))
    how = rng.choice(["truncate", "flip", "cut", "repeat"])
    size = len(raw)
    at = int(rng.integers(0, size))
    if how == "truncate":
        raw = raw[:at]
    elif how == "flip":
        for pos in rng.integers(0, len(raw), int(rng.integers(1, 8))):
            raw[pos] = int(rng.integers(0, 256))
    elif how == "cut":
        raw = raw[:at] + raw[at + int(rng.integers(1, 400)):]
    else:
        raw = raw[:at] + raw[at:at + int(rng.integers(1, 400))] + raw[at:]
    return _pair(base, bytes(raw), label=f"xml {how}", must_fail=how == "truncate" and at < size - 20)


_FORMATS = ['accession="MS:1000521" name="32-bit float"', 'accession="MS:1000523" name="64-bit float"',
            'accession="IMS:1000141" name="32-bit integer"', 'accession="IMS:1000142" name="64-bit integer"',
            'accession="MS:1000519" name="32-bit integer"', 'accession="MS:1000000" name="16-bit float"']


def structure(base: Base, rng: np.random.Generator) -> Case:
    """Elements removed or changed: params, group refs, arrays, formats, compression, storage mode."""
    xml = base.xml
    how = rng.choice(["drop line", "format", "compress", "mode", "swap refs", "drop group"])
    must_fail, expect = False, None
    if how == "drop line":
        lines = xml.split("\n")
        candidates = [i for i, line in enumerate(lines) if "<cvParam" in line or "<referenceableParamGroupRef" in line]
        del lines[int(rng.choice(candidates))]
        xml = "\n".join(lines)
    elif how == "format":
        hits = [m for f in _FORMATS[:5] for m in re.finditer(re.escape(f), xml)]
        m = hits[int(rng.integers(len(hits)))]
        xml = xml[:m.start()] + str(rng.choice(_FORMATS)) + xml[m.end():]
    elif how == "compress":
        refs = [m.end() for m in re.finditer(r'<referenceableParamGroupRef ref="(mz|intensity)Array"/>', xml)]
        at = int(rng.choice(refs))
        xml = xml[:at] + '<cvParam cvRef="MS" accession="MS:1000574" name="zlib compression" value=""/>' + xml[at:]
        must_fail, expect = True, "compressed binary arrays are not supported"
    elif how == "mode":
        xml = xml.replace('accession="IMS:1000031" name="processed"', 'accession="IMS:1000030" name="continuous"')
        xml = xml.replace('accession="IMS:1000030" name="continuous"', str(rng.choice(
            ['accession="IMS:1000030" name="continuous"', 'accession="IMS:1000031" name="processed"'])))
    elif how == "swap refs":
        xml = xml.replace('ref="mzArray"', 'ref="TMP"').replace('ref="intensityArray"', 'ref="mzArray"')
        xml = xml.replace('ref="TMP"', 'ref="intensityArray"')
    else:
        xml = re.sub(r'<referenceableParamGroup id="%s">.*?</referenceableParamGroup>'
                     % rng.choice(["mzArray", "intensityArray"]), "", xml, flags=re.S)
        must_fail, expect = True, "has no (m/z|intensity) array"
    return _pair(base, xml, label=f"structure {how}", must_fail=must_fail, expect=expect)


def binary(base: Base, rng: np.random.Generator) -> Case:
    """The .ibd damaged: truncated, another UUID, garbage values (NaN, inf, negative, float32 max)."""
    ibd = bytearray(base.ibd)
    how = rng.choice(["truncate", "uuid", "values", "empty"])
    must_fail = how in ("uuid", "empty")
    if how == "truncate":
        cut = int(rng.integers(0, len(ibd) - 1))
        ibd = ibd[:cut]
        must_fail = True
    elif how == "uuid":
        ibd[:16] = rng.bytes(16)
    elif how == "values":
        garbage = np.array(rng.choice([np.nan, np.inf, -np.inf, -1.0, np.finfo(np.float32).max, 1e300], 4))
        start = int(rng.integers(16, len(ibd) - 32))
        with np.errstate(over="ignore"):
            ibd[start:start + 16] = garbage.astype(rng.choice(["<f4", "<f8"])).tobytes()[:16]
    else:
        ibd = bytearray()
    expect = {"uuid": "belongs to another dataset", "empty": "too short for the 16-byte UUID header",
              "truncate": "outside f.ibd|too short|truncated|belongs to another dataset"}.get(how)
    return _pair(base, ibd=bytes(ibd), label=f"ibd {how}", must_fail=must_fail, expect=expect)


def coordinates(base: Base, rng: np.random.Generator) -> Case:
    """Coordinates far apart, duplicated, negative or spread over z slices."""
    hits = _params(base.xml, ("position x", "position y"))
    xml = base.xml
    how = rng.choice(["far", "duplicate", "negative", "z"])
    m = hits[int(rng.integers(len(hits)))]
    if how == "far":
        value = str(int(rng.choice([10**6, 10**9, 2**40, 2**62])))
    elif how == "duplicate":
        value = "1"
    elif how == "negative":
        value = str(-int(rng.integers(1, 2**40)))
    else:
        xml = xml.replace('name="position y"', 'name="position y"', 1)
        at = m.end() + 3
        xml = xml[:at] + f'<cvParam accession="IMS:1000052" cvRef="IMS" name="position z" value="{rng.integers(1, 4)}"/>' + xml[at:]
        return _pair(base, xml, label="coordinates z")
    xml = xml[:m.start(2)] + value + xml[m.end(2):]
    return _pair(base, xml, label=f"coordinates {how}")


_DOCTYPES = [
    '<!DOCTYPE mzML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
    '<!DOCTYPE mzML [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE mzML [<!ENTITY % p SYSTEM "http://example.invalid/p.dtd"> %p;]>',
    '<!DOCTYPE mzML SYSTEM "http://example.invalid/mzML.dtd">',
    '<!DOCTYPE mzML>',
]


def xml_safety(base: Base, rng: np.random.Generator) -> Case:
    """DTDs, entities, encodings and very long attributes."""
    xml = base.xml
    how = rng.choice(["doctype", "undefined entity", "encoding", "utf-16", "long attribute"])
    head, _, body = xml.partition("?>")
    must_fail = how != "long attribute"
    if how == "doctype":
        ref = rng.choice(["&d;", "&x;", ""])
        xml = head + "?>" + str(rng.choice(_DOCTYPES)) + body.replace('value="pyimzml exporter"', f'value="{ref}"')
    elif how == "undefined entity":
        xml = xml.replace('value="pyimzml exporter"', 'value="&nope;"')
    elif how == "encoding":
        xml = xml.replace('encoding="ISO-8859-1"', 'encoding="%s"' % rng.choice(["klingon", "utf-7", "shift_jis"]))
    elif how == "utf-16":
        return _pair(base, xml.replace('encoding="ISO-8859-1"', 'encoding="UTF-16"').encode("utf-16"),
                     label="xml utf-16", must_fail=False)
    else:
        xml = xml.replace('value="pyimzml exporter"', 'value="%s"' % ("x" * int(rng.integers(2**16, 2**19))))
    expect = {"doctype": r"declares a document type \(<!DOCTYPE>\)", "undefined entity": "undefined entity",
              "encoding": "encoding"}.get(how)
    return _pair(base, xml, label=f"xml {how}", must_fail=must_fail, expect=expect)


def paths(base: Base, rng: np.random.Generator) -> Case:
    """Awkward names and file system objects in place of the files."""
    how = rng.choice(["glob name", "ibd directory", "dangling ibd", "both cases", "txt", "directory", "ibd given"])
    if how == "glob name":
        stem = str(rng.choice(["sample[1]", "a*b", "x?y", "[!]"]))
        return _pair(base, stem=stem, label=f"path {how} {stem}")
    case = _pair(base, label=f"path {how}", must_fail=how != "both cases", expect={
        "ibd directory": "the binary file is a directory", "dangling ibd": "broken symbolic link",
        "txt": r"not an XML file.*expected an \.imzML file", "directory": "is a directory, not an .imzML file",
        "ibd given": "pass f.imzML"}.get(how))
    if how == "ibd directory":
        case.files["f.ibd"] = "dir"
    elif how == "dangling ibd":
        case.files["f.ibd"] = "dangling"
    elif how == "both cases":
        other = bytearray(base.ibd)
        other[:16] = rng.bytes(16)
        case.files["f.IBD"] = bytes(other)
    elif how == "txt":
        case.files["f.txt"] = b"m/z,intensity\n100,1\n"
        case.target = "f.txt"
    elif how == "directory":
        case.target = "."
    else:
        case.target = "f.ibd"
    return case


CLASSES: dict[str, Callable[[Base, np.random.Generator], Case]] = {
    f.__name__: f for f in (numbers, xml_bytes, structure, binary, coordinates, xml_safety, paths)}


# ------------------------------------------------------------------ running one case
class Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise Hang()


def _write(case: Case, folder: Path) -> Path:
    folder.mkdir()
    for name, content in case.files.items():
        target = folder / name
        if content == "dir":
            target.mkdir()
        elif content == "dangling":
            target.symlink_to(folder / "gone.bin")
        else:
            target.write_bytes(content)
    return folder / case.target


def _exercise(path: Path) -> None:
    """Open and use the dataset; raise AssertionError on garbage."""
    data = open_msi(path)
    h, w = data.shape
    assert h * w <= max(MIN_RASTER_LIMIT, MAX_EMPTY_RATIO * data.n_pixels)
    lo, hi = data.mz_range
    centres = [c for c in (lo, (lo + hi) / 2, hi, 150.0, 310.0) if np.isfinite(c) and c > 0]
    for images in (data.ion_images(centres, ppm=50), data.tic_image()[None]):
        assert images.dtype == np.float32 and images.shape[1:] == (h, w)
        assert np.isfinite(images).all() and images.min(initial=0) >= 0
        assert not images[:, ~data.mask].any()
    _, mean = data.mean_spectrum()
    assert np.isfinite(mean).all() and mean.min(initial=0) >= 0
    for chunk in data.spectra(chunk=4):
        for values in (chunk.intensity if isinstance(chunk.intensity, list) else [chunk.intensity]):
            assert np.all(np.asarray(values) >= 0)


def _run(case: Case, folder: Path) -> str | None:
    """None when the case behaved; else what went wrong."""
    path = _write(case, folder)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(CASE_SECONDS)
    try:
        if path.is_file() and (difference := parse_difference(path)):
            return f"{case.label}: {difference}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _exercise(path)
    except Hang:
        return f"{case.label}: no result after {CASE_SECONDS} s"
    except IonMorphError as exc:
        message = str(exc)
        if "\n" in message or not message:
            return f"{case.label}: project error is not one line: {message!r}"
        if case.expect and not re.search(case.expect, message):
            return f"{case.label}: error does not say /{case.expect}/: {message}"[:300]
        return None
    except Exception as exc:  # noqa: BLE001 - the point of the test
        return f"{case.label}: {type(exc).__name__}: {exc}"[:300]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return f"{case.label}: opened and used without an error" if case.must_fail else None


@pytest.mark.parametrize("name", list(CLASSES))
def test_fuzz_class(bases, tmp_path, name):
    rng = np.random.default_rng([SEED, list(CLASSES).index(name)])
    problems = []
    for k in range(CASES_PER_CLASS):
        base = bases["processed" if k % 2 == 0 else "continuous"]
        case = CLASSES[name](base, rng)
        problem = _run(case, tmp_path / f"case{k}")
        if problem:
            problems.append(f"case {k} ({'processed' if k % 2 == 0 else 'continuous'}): {problem}")
        shutil.rmtree(tmp_path / f"case{k}")
    assert not problems, f"{len(problems)} of {CASES_PER_CLASS} cases misbehaved:\n" + "\n".join(problems[:15])
