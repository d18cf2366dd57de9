"""Streaming parse of an imzML file's XML: the few facts :class:`ionmorph.io.msi.MSIData` needs.

One pass of expat over the file, reading it in chunks, keeps per spectrum only its coordinates
and the offsets and lengths of its m/z and intensity arrays (as exact 64-bit integers); no element
tree is built. The header (before ``<spectrumList>``) is parsed with full context: the file
content (storage mode, spectrum type, UUID) and the referenceable parameter groups that give each
array its kind, number format and compression. Inside the spectrum list only the start tags that
matter are looked at.

Fast path (issue 10, section 2): most spectrum lists repeat one element layout per spectrum. Once
expat has parsed the header exactly up to the end of the ``<spectrumList>`` start tag, each new
layout's first spectrum is still parsed by expat, and its layout becomes a regular expression
(:mod:`ionmorph.io.imzml_scan`) whose meaning (which captured value is x, y, z, an offset or a length)
is found by running the same expat handler over that spectrum's tags. The following spectra of
that layout are matched byte by byte and skipped; expat is fed again from the first spectrum that
matches no layout (the end of the list included), so the rest of the document is checked as
before. Skipped bytes are well-formed by construction (the scan's strict subset of XML), and the
fast path is only taken for ASCII-compatible encodings. On any error after the header the file is
parsed again without it, so every error is the one (and names the line) the plain parse gives.

Safety: a document type declaration (``<!DOCTYPE``) is refused as soon as it starts, so no
entity is ever declared, expanded or fetched (no billion laughs, no XXE); parameter-entity
parsing is off. Chunks grow geometrically while a single token (a very large attribute) is still
incomplete, so expat versions without reparse deferral (< 2.6) stay linear in the token size.
"""
from __future__ import annotations

import os
import re
import xml.parsers.expat as expat
from array import array
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, NamedTuple

import numpy as np

from ..errors import MSIFormatError
from .imzml_scan import INTEGER_VALUE, ChunkReader, Layout, Tag, layout_pattern, read_element, start_tag_pattern

_NS = "http://psi.hupo.org/ms/mzml "
_ROOTS = (_NS + "mzML", _NS + "indexedmzML")
_CV, _REF, _ARRAY, _SPECTRUM = (_NS + t for t in ("cvParam", "referenceableParamGroupRef",
                                                   "binaryDataArray", "spectrum"))
_GROUP, _FILE_CONTENT = _NS + "referenceableParamGroup", _NS + "fileContent"
_SPECTRUM_LIST, _CHROMATOGRAM_LIST = _NS + "spectrumList", _NS + "chromatogramList"

#: Bytes fed to expat per call; grows while one token stays incomplete (see the module docstring).
READ_BYTES = 1 << 20

#: Integers per spectrum in the offset table: x, y, z, m/z offset, m/z length, intensity offset, length.
ROW_WIDTH = 7
#: Spectra buffered (as strings) before they are converted to integers in one go.
_BATCH = 2048

#: Bytes scanned per read on the fast path; a spectrum that does not match with fewer bytes left
#: is retried once more are read.
SCAN_BYTES = 4 << 20
#: Spectra of a new layout handed to expat (each may start a layout) before the fast path gives up.
MAX_LAYOUTS = 8
#: Declared encodings in which the scanned ASCII bytes mean what they say (None: no declaration).
_ASCII_ENCODINGS = {None, "utf-8", "iso-8859-1", "us-ascii", "latin-1", "latin1", "ascii"}
_LIST_START = start_tag_pattern("spectrumList")
#: Longest ``<spectrumList>`` start tag the fast path waits for.
_LIST_TAG_BYTES = 1 << 16
#: Attributes whose values give a spectrum its meaning, so a layout keeps them literally.
_LITERAL = {("cvParam", "accession"), ("cvParam", "name"), ("referenceableParamGroupRef", "ref")}

_OFFSET, _LENGTH = "IMS:1000102", "IMS:1000103"
#: Spectrum-level cvParams read in the spectrum list: slot in the per-spectrum record.
_SPECTRUM_SLOTS = {"IMS:1000050": 0, "IMS:1000051": 1, "IMS:1000052": 2}
_AXES = ("position x", "position y", "position z")

#: Meaning of a cvParam, found by its accession, else by its name (where the two disagree, as in
#: m2aia's test file: MS:1000127, centroid, named "profile spectrum", the accession wins, as in pyimzML).
_MEANINGS = {
    "mz": ("MS:1000514", "m/z array"),
    "intensity": ("MS:1000515", "intensity array"),
    "f": ("MS:1000521", "32-bit float"),
    "d": ("MS:1000523", "64-bit float"),
    "i": ("IMS:1000141", "32-bit integer", "MS:1000519"),
    "l": ("IMS:1000142", "64-bit integer", "MS:1000522"),
    "no compression": ("MS:1000576", "no compression"),
    "compressed": ("MS:1000574", "zlib compression", "MS:1002312", "MS:1002313", "MS:1002314",
                   "MS:1002746", "MS:1002747", "MS:1002748"),
    "continuous": ("IMS:1000030", "continuous"),
    "processed": ("IMS:1000031", "processed"),
    "centroid": ("MS:1000127", "centroid spectrum"),
    "profile": ("MS:1000128", "profile spectrum"),
    "uuid": ("IMS:1000080", "universally unique identifier"),
}
_BY_KEY = {k: m for m, keys in _MEANINGS.items() for k in keys}


class ImzMLHeader(NamedTuple):
    """What the XML says about the whole file and each spectrum.

    Attributes
    ----------
    xyz : int64 array (n, 3)
        imzML coordinates of each spectrum (z is 1 when the file gives none).
    mz_offsets, mz_lengths, int_offsets, int_lengths : int64 arrays (n,)
        External offsets (bytes) and array lengths (elements) of each spectrum's arrays.
    mz_format, int_format : str or None
        Number format codes: "f" 32-bit float, "d" 64-bit float, "i" 32-bit and "l" 64-bit integer.
    mode : str or None
        Storage mode declared in the file content: "continuous", "processed" or None.
    spectrum_type : str or None
        "profile", "centroid" or None.
    uuid : str or None
        The declared universally unique identifier, as the file writes it.
    conflicts : tuple of str
        cvParams of the header and first spectrum whose accession and name mean different things
        (``'MS:1000127' ("centroid") named "profile spectrum"``); the accession is what counts.
    """

    xyz: np.ndarray
    mz_offsets: np.ndarray
    mz_lengths: np.ndarray
    int_offsets: np.ndarray
    int_lengths: np.ndarray
    mz_format: str | None
    int_format: str | None
    mode: str | None
    spectrum_type: str | None
    uuid: str | None
    conflicts: tuple[str, ...] = ()


def _meanings(params: dict) -> set[str]:
    """Meanings of a {accession: attrs} collection of cvParams (by accession or by name)."""
    found = set()
    for acc, attrs in params.items():
        name = attrs.get("name") or ""
        meaning = _BY_KEY.get(acc, _BY_KEY.get(name))
        if meaning:
            found.add(meaning)
        if "compression" in name and _BY_KEY.get(name) != "no compression":
            found.add("compressed")
    return found


def meaning_conflicts(params: dict) -> list[str]:
    """The cvParams of a {accession: attrs} collection whose accession and name have different
    known meanings, each described in words (:attr:`ImzMLHeader.conflicts`)."""
    out = []
    for acc, attrs in params.items():
        name = attrs.get("name") or ""
        by_acc, by_name = _BY_KEY.get(acc), _BY_KEY.get(name)
        if by_acc and by_name and by_acc != by_name:
            out.append(f'{acc} ("{by_acc}") named "{name}"')
    return out


class _HeaderDone(Exception):
    """Raised by the end handler when the first spectrum ends (header-only parse, :func:`header_params`)."""


class _Parser:
    """Expat handlers and their state; see :func:`parse_imzml` and :func:`header_params`."""

    def __init__(self, path: Path, on_root: Callable[[], None] | None, header_only: bool = False) -> None:
        self.path, self.on_root, self.header_only = path, on_root, header_only
        self.header_cv: list[tuple[str, dict]] = []  # header-only: (parent's local name, attributes)
        self.p = expat.ParserCreate(namespace_separator=" ")
        self.p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.p.StartDoctypeDeclHandler = self._doctype
        self.p.EntityDeclHandler = self._entity
        self.p.XmlDeclHandler = self._declaration
        self.p.StartElementHandler = self._root
        self.encoding: str | None = None
        self.fed = 0  # bytes fed to expat
        self.list_at = -1  # expat's byte index of the <spectrumList> start tag
        self.skipped = 0  # spectra read by the fast path alone
        self.root_seen = False
        self.stack: list[str] = []
        self.file_params: dict = {}
        self.groups: dict[str, dict] = {}
        self.group: dict | None = None
        self.in_list = False
        self.kinds: dict = {}
        self.formats: dict[str, tuple[str | None, int]] = {}
        self.table = array("q")  # ROW_WIDTH integers per spectrum
        self.n = 0
        self.rows: list[list] = []  # spectra read but not yet converted: [x, y, z, [arrays]]
        self.first_params: dict = {}

    # ---------------------------------------------------------------- security
    def _doctype(self, name, sysid, pubid, has_internal_subset) -> None:
        raise MSIFormatError(self.path, "the XML declares a document type (<!DOCTYPE>), which imzML never "
                                        "has; refused so that no entity is expanded and no other file or "
                                        "URL is read")

    def _entity(self, *args) -> None:
        raise MSIFormatError(self.path, "the XML declares entities; refused (no entity is expanded or read)")

    def _declaration(self, version, encoding, standalone) -> None:
        self.encoding = encoding.lower() if encoding else None

    # ---------------------------------------------------------------- header
    def _root(self, name: str, attrs: dict) -> None:
        if name not in _ROOTS:
            ns, _, local = name.rpartition(" ")
            shown = f"{{{ns}}}{local}" if ns else local
            raise MSIFormatError(self.path, f"not imzML: the root element is <{shown}>, expected <mzML> "
                                            "in the namespace http://psi.hupo.org/ms/mzml")
        self.root_seen = True
        self.stack.append(name)
        if self.on_root is not None:
            self.on_root()
        self.p.StartElementHandler = self._header_start
        self.p.EndElementHandler = self._header_end

    def _header_start(self, name: str, attrs: dict) -> None:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(name)
        if name == _CV:
            if self.header_only:
                self.header_cv.append((parent.rpartition(" ")[2] if parent else "", attrs))
            if parent == _FILE_CONTENT:
                self.file_params[attrs.get("accession")] = attrs
            elif parent == _GROUP and self.group is not None:
                self.group[attrs.get("accession")] = attrs
        elif name == _GROUP:
            self.group = self.groups.setdefault(attrs.get("id"), {})
        elif name == _SPECTRUM and not self.header_only:
            raise MSIFormatError(self.path, f"a <spectrum id={attrs.get('id', '?')!r}> stands outside "
                                            "<spectrumList>, before it; the spectra must all be inside the "
                                            "list (the file was edited or written wrongly)")
        elif name == _SPECTRUM_LIST and not self.header_only:
            self.in_list = True
            self.list_at = self.p.CurrentByteIndex
            self.p.StartElementHandler = self._list_handler()
            self.p.EndElementHandler = None

    def _header_end(self, name: str) -> None:
        self.stack.pop()
        if name == _GROUP:
            self.group = None
        elif name == _SPECTRUM and self.header_only:
            raise _HeaderDone

    # ---------------------------------------------------------------- spectrum list (hot path)
    def _list_handler(self) -> Callable[[str, dict], None]:
        """Start-tag handler inside <spectrumList>: a closure, the fastest kind of handler.

        Only start tags are seen (no end handler: that halves the calls). A cvParam belongs to the
        latest <binaryDataArray> of the spectrum once one has started (mzML puts the array list
        last in a spectrum), else to the spectrum itself; <chromatogramList> ends the list.
        """
        rows, first, slots, flush = self.rows, self.first_params, _SPECTRUM_SLOTS, self._flush
        spec: list | None = None
        arr: dict | None = None
        collect = False  # keep the first spectrum's own cvParams (its spectrum type)

        def start(name: str, attrs: dict, cv=_CV, array_tag=_ARRAY, ref=_REF, spectrum=_SPECTRUM) -> None:
            nonlocal spec, arr, collect
            if name == cv:
                if arr is not None:
                    arr[attrs.get("accession")] = attrs
                elif spec is not None:
                    acc = attrs.get("accession")
                    slot = slots.get(acc)
                    if slot is not None:
                        spec[slot] = attrs.get("value")
                    elif collect:
                        first[acc] = attrs
            elif name == array_tag:
                if spec is not None:
                    arr = {}
                    spec[3].append(arr)
            elif name == ref:
                if arr is not None:
                    arr["ref"] = attrs.get("ref")
            elif name == spectrum:
                collect = not rows and self.n == 0
                if len(rows) >= _BATCH:
                    flush()
                spec, arr = [None, None, "1", []], None
                rows.append(spec)
            elif name == _CHROMATOGRAM_LIST:
                spec = arr = None
                self.p.StartElementHandler = None

        return start

    def _kind(self, arr: dict) -> tuple[str | None, str | None, bool]:
        """(kind, number format, compressed) of one binaryDataArray, from its group and inline params."""
        key = (arr.get("ref"), tuple(arr))
        if key not in self.kinds:
            inline = {a: v for a, v in arr.items() if a not in ("ref", _OFFSET, _LENGTH)}
            found = _meanings({**self.groups.get(arr.get("ref"), {}), **inline})
            kind = ("mz" if "mz" in found else "intensity") if found & {"mz", "intensity"} else None
            fmts = [f for f in "fdil" if f in found]
            self.kinds[key] = (kind, fmts[0] if len(fmts) == 1 else None, "compressed" in found)
        return self.kinds[key]

    def _pair(self, i: int, arrays: list[dict]) -> tuple[dict, dict]:
        """The (m/z, intensity) arrays of spectrum ``i``; checks kinds, formats and compression."""
        found: dict[str, dict] = {}
        for arr in arrays:
            kind, fmt, compressed = self._kind(arr)
            if not kind:
                continue
            if compressed:
                raise MSIFormatError(self.path, "compressed binary arrays are not supported; "
                                                "convert the file to uncompressed imzML")
            if kind in found:
                raise MSIFormatError(self.path, f"spectrum {i} has two {kind} arrays")
            found[kind] = arr
            if self.formats.setdefault(kind, (fmt, i))[0] != fmt:
                raise MSIFormatError(self.path, f"spectrum {i} stores its {kind} array in another number "
                                                f"format than spectrum {self.formats[kind][1]}")
        for kind in ("mz", "intensity"):
            if kind not in found:
                raise MSIFormatError(self.path, f"not a readable imzML file: spectrum {i} has no "
                                                f"{'m/z' if kind == 'mz' else kind} array")
        return found["mz"], found["intensity"]

    def _flush(self) -> None:
        """Convert the buffered spectra to integers (exact: array('q') refuses values beyond int64)."""
        flat: list = []
        pairs: dict = {}
        for k, (x, y, z, arrays) in enumerate(self.rows):
            sig = tuple((a.get("ref"), *a) for a in arrays)
            if sig not in pairs:
                pairs[sig] = [arrays.index(a) for a in self._pair(self.n + k, arrays)]
            m, a = pairs[sig]
            m, a = arrays[m], arrays[a]
            flat += (x, y, z, _value(m, _OFFSET), _value(m, _LENGTH), _value(a, _OFFSET), _value(a, _LENGTH))
        try:
            self.table.extend(array("q", map(int, flat)))
        except (TypeError, ValueError, OverflowError):
            for k in range(len(self.rows)):
                self._check_integers(self.n + k, flat[7 * k:7 * k + 7])
            raise  # unreachable: one of the rows above is bad
        self.n += len(self.rows)
        self.rows.clear()

    def _check_integers(self, i: int, values: list) -> None:
        names = (*_AXES, "m/z array's external offset", "m/z array's external array length",
                 "intensity array's external offset", "intensity array's external array length")
        for name, v in zip(names, values):
            if v is None:
                raise MSIFormatError(self.path, f"not a readable imzML file: spectrum {i} has no {name}")
            try:
                number = int(v)
            except ValueError:
                raise MSIFormatError(self.path, f"spectrum {i}: its {name} {v[:40]!r} is not an integer") from None
            if not -2**63 <= number < 2**63:
                raise MSIFormatError(self.path, f"spectrum {i}: its {name} {number} is beyond the 64-bit "
                                                "integer range")

    # ---------------------------------------------------------------- driver
    def run(self, fast: bool = True) -> ImzMLHeader:
        with open(self.path, "rb") as fh:
            with self._errors():
                pending, at_list = self._feed_header(fh) if fast else (b"", False)
            try:
                with self._errors():
                    self._feed(fh, self._scan_list(fh, pending) if at_list else pending)
                if not self.in_list:
                    raise MSIFormatError(self.path, "not a readable imzML file: it has no <spectrumList>")
                self._flush()
            except MSIFormatError:
                if not at_list:
                    raise
                return _Parser(self.path, None).run(fast=False)  # the error exactly as the plain parse gives it
        return self._result()

    def run_header(self) -> list[tuple[str, dict]]:
        with open(self.path, "rb") as fh, self._errors():
            try:
                self._feed(fh)
            except _HeaderDone:
                pass
        return self.header_cv

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Expat's and decoding errors as MSIFormatError."""
        try:
            yield
        except expat.ExpatError as exc:
            if not self.root_seen:
                raise MSIFormatError(self.path, f"not an XML file, so not imzML ({exc})") from None
            raise MSIFormatError(self.path, f"malformed XML: {exc}") from None
        except MSIFormatError:  # raised by a handler (a ValueError too): already names the problem
            raise
        except LookupError as exc:
            if type(exc) is not LookupError:  # an IndexError or KeyError is a bug, not an encoding
                raise
            raise MSIFormatError(self.path, f"the XML declares a text encoding Python does not know ({exc})") from None
        except ValueError as exc:  # expat: "multi-byte encodings are not supported"
            raise MSIFormatError(self.path, f"the XML's text encoding cannot be read ({exc}); "
                                            "save it as UTF-8") from None

    def _parse(self, data: bytes) -> None:
        self.p.Parse(data, False)
        self.fed += len(data)

    def _next_read(self) -> int:
        """Bytes to read next: READ_BYTES, or twice the token still incomplete (see the module docstring)."""
        return max(READ_BYTES, 2 * (self.fed - self.p.CurrentByteIndex))

    def _feed(self, fh: BinaryIO, first: bytes = b"") -> None:
        """Feed ``first``, then the rest of the file, to expat in growing chunks."""
        self._parse(first)
        while chunk := fh.read(self._next_read()):
            self._parse(chunk)
        self.p.Parse(b"", True)

    def _defer(self, enabled: bool) -> None:
        """Expat >= 2.6 may wait for more bytes before parsing a complete token; the fast path needs it parsed now."""
        if hasattr(self.p, "SetReparseDeferralEnabled"):
            self.p.SetReparseDeferralEnabled(enabled)

    # ---------------------------------------------------------------- fast path
    def _feed_header(self, fh: BinaryIO) -> tuple[bytes, bool]:
        """Feed expat exactly up to the end of the ``<spectrumList>`` start tag.

        Returns the bytes read but not fed, and whether expat now stands right after that tag in an
        ASCII-compatible encoding (else the caller feeds the rest as usual).
        """
        key = b"<spectrumList"
        held = b""
        while chunk := fh.read(self._next_read()):
            data = held + chunk
            at = data.find(key)
            if at < 0:
                cut = max(0, len(data) - len(key) + 1)  # keep a tail that may start the key
                self._parse(data[:cut])
                held = data[cut:]
                continue
            while ((tag := _LIST_START.match(data, at)) is None and len(data) - at < _LIST_TAG_BYTES
                   and (more := fh.read(READ_BYTES))):
                data += more
            self._parse(data[:at])
            if tag is None or self.in_list or self.encoding not in _ASCII_ENCODINGS:
                return data[at:], False
            self._defer(False)
            self._parse(data[at:tag.end()])
            self._defer(True)
            return data[tag.end():], self.in_list and self.list_at == at + self.fed - tag.end()
        return held, False

    def _scan_list(self, fh: BinaryIO, buf: bytes) -> bytes:
        """Skip the spectra that match a known layout; returns the bytes expat is fed next.

        Starts right after the ``<spectrumList>`` start tag. A spectrum that matches no layout is
        fed to expat and may add its layout (at most :data:`MAX_LAYOUTS` such spectra); the first
        element that is no spectrum of the strict subset ends the scan. Expat then re-reads the
        last skipped spectrum, so that its handler stands where the plain parse would.
        """
        reader = ChunkReader(fh, buf, SCAN_BYTES)
        layouts: list[tuple[Layout, int | None]] = []
        tries = 0
        pos, last = 0, -1  # last: where the last spectrum skipped starts, if it was the latest one
        self._defer(False)
        while True:
            buf = reader.buf
            hit = None
            for k, (layout, z) in enumerate(layouts):
                end, start, values = layout.run(buf, pos)
                if start >= 0:
                    pos, last, hit = end, start, k
                    self._commit(values, len(layout.groups), z)
                    break
            if hit is not None:
                layouts.insert(0, layouts.pop(hit))
                continue
            if not reader.eof and len(buf) - pos < SCAN_BYTES:  # the spectrum may go on in the next chunk
                keep = pos if last < 0 else last
                reader.more(keep)
                pos, last = pos - keep, last - keep if last >= 0 else -1
                continue
            element = read_element(buf, pos) if tries < MAX_LAYOUTS else None
            if element is None or element.tags[0][:2] != ("start", "spectrum"):
                break
            tries += 1
            n = self.n
            self._parse(buf[pos:element.end])
            self._flush()
            raw, pos, last = buf[pos:element.end], element.end, -1
            if self.n != n + 1:
                break
            layout = self._layout(element.tags, raw)
            if layout is not None:
                layouts.insert(0, layout)
        if last >= 0:
            del self.table[-ROW_WIDTH:]
            self.n -= 1
            self.skipped -= 1
            pos = last
        self._defer(True)
        return reader.buf[pos:]

    def _commit(self, values: list[bytes], k: int, z: int | None) -> None:
        """Append skipped spectra to the table: ``k`` integers each (x, y[, z], offsets and lengths)."""
        block = np.frombuffer(array("q", map(int, values)), np.int64).reshape(-1, k)
        if z is not None:
            block = np.insert(block, 2, z, axis=1)
        self.table.frombytes(block.tobytes())
        self.n += len(block)
        self.skipped += len(block)

    def _layout(self, tags: list[Tag], raw: bytes) -> tuple[Layout, int | None] | None:
        """The layout of the spectrum ``raw`` (just parsed by expat), or None where it cannot be used.

        Every cvParam value becomes a marker and the tags go through a fresh list handler: the
        markers that land in x, y, z, the offsets and the lengths are the values to capture. The
        pattern is then checked against expat's own result for this spectrum (the table's last row).
        """
        marks: dict[str, tuple[int, int]] = {}
        scratch = _Parser(self.path, None)
        scratch.groups = self.groups
        handler = scratch._list_handler()
        for i, tag in enumerate(tags):
            if tag.kind != "end":
                if i and tag.name in ("spectrum", "spectrumList", "chromatogramList"):
                    return None
                attrs = {}
                for j, (a, v) in enumerate(tag.attrs):
                    if tag.name == "cvParam" and a == "value":
                        v = f"\0{len(marks)}"
                        marks[v] = (i, j)
                    attrs[a] = v
                handler(_NS + tag.name, attrs)
        (x, y, z, arrays), = scratch.rows
        try:
            mz, intensity = scratch._pair(self.n - 1, arrays)
        except MSIFormatError:
            return None
        fields = [x, y, z, _value(mz, _OFFSET), _value(mz, _LENGTH), _value(intensity, _OFFSET),
                  _value(intensity, _LENGTH)]
        expect = self.table[-ROW_WIDTH:].tolist()
        const_z = None
        if z not in marks:  # the handler's default, z = 1
            if z != "1" or expect[2] != 1:
                return None
            const_z = 1
            del fields[2], expect[2]
        if not all(f in marks for f in fields):
            return None
        group = {at: g + 1 for g, at in enumerate(sorted({marks[f] for f in fields}))}
        pats = [[INTEGER_VALUE if (i, j) in group else re.escape(v.encode("ascii")) if (tag.name, a) in _LITERAL
                 else None for j, (a, v) in enumerate(tag.attrs)] for i, tag in enumerate(tags)]
        layout = Layout(layout_pattern(tags, pats), tuple(group[marks[f]] for f in fields))
        end, start, values = layout.run(raw, 0)
        if (end, start) != (len(raw), 0) or list(map(int, values)) != expect:
            return None
        return layout, const_z

    def _result(self) -> ImzMLHeader:
        table = (np.frombuffer(self.table, np.int64).reshape(-1, ROW_WIDTH) if self.n
                 else np.zeros((0, ROW_WIDTH), np.int64))
        file_found = _meanings(self.file_params)
        mode = next((m for m in ("continuous", "processed") if m in file_found), None)
        typed = set().union(file_found, _meanings(self.first_params),
                            *(_meanings(g) for g in self.groups.values()))
        spectrum_type = next((t for t in ("profile", "centroid") if t in typed), None)
        uuid = next((a.get("value") for a in self.file_params.values() if "uuid" in _meanings({"": a})), None)
        conflicts = sorted(set().union(*(meaning_conflicts(p) for p in (self.file_params, self.first_params,
                                                                         *self.groups.values()))))
        return ImzMLHeader(table[:, :3], *table[:, 3:].T,
                           self.formats.get("mz", (None, 0))[0], self.formats.get("intensity", (None, 0))[0],
                           mode, spectrum_type, uuid, tuple(conflicts))


def _value(arr: dict, acc: str):
    attrs = arr.get(acc)
    return None if attrs is None else attrs.get("value")


def parse_imzml(path: str | os.PathLike, on_root: Callable[[], None] | None = None, *,
                fast: bool = True) -> ImzMLHeader:
    """Parse an imzML file's XML in one streaming pass.

    Parameters
    ----------
    path : path-like
        The ``.imzML`` file.
    on_root : callable, optional
        Called once the root element is known to be mzML, before the rest is read (lets the
        caller fail fast, e.g. on a missing .ibd, without parsing a large file).
    fast : bool
        Skip the spectra that repeat a known layout (see the module docstring). False hands every
        byte to expat; the result, or the error, is the same either way, only slower.

    Returns
    -------
    ImzMLHeader

    Raises
    ------
    MSIFormatError
        Not XML, not imzML, malformed XML, a DTD or entity declaration, an unknown text encoding,
        compressed arrays, spectra without coordinates, offsets or lengths, values that are not
        integers or lie beyond the 64-bit range, arrays stored in differing number formats.
    """
    return _Parser(Path(path), on_root).run(fast)


def header_params(path: str | os.PathLike) -> list[tuple[str, dict]]:
    """Every cvParam of an imzML file up to the end of its first spectrum, in document order.

    The same safe streaming parse as :func:`parse_imzml` (no DTD, no entities), stopped once the
    first spectrum ends, so it stays fast on files with millions of spectra.

    Parameters
    ----------
    path : path-like
        The ``.imzML`` file.

    Returns
    -------
    list of (str, dict)
        ``(local name of the parent element, cvParam attributes)``, e.g.
        ``("scanSettings", {"accession": "IMS:1000046", "value": "50", ...})``.

    Raises
    ------
    MSIFormatError
        Not XML, not imzML, malformed XML before the first spectrum ends, a DTD or entity
        declaration, an unknown text encoding.
    """
    return _Parser(Path(path), None, header_only=True).run_header()
