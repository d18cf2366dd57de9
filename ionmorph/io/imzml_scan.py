"""Byte-level scanning of repeated XML elements: a strict tokenizer and per-layout regular expressions.

An imzML spectrum list repeats one element layout per spectrum: the same tags with the same
attribute names in the same order, only some values changing. :func:`read_element` tokenizes one
element in a strict subset of XML; :func:`layout_pattern` turns its tags into one compiled regular
expression that matches any element of the same layout, capturing the chosen attribute values,
and :class:`Layout` runs it over a buffer, one ``match`` per element. :mod:`ionmorph.io.imzml_xml`
decides what the values mean and when the scan may be used instead of expat.

The subset is well-formed XML by construction, so skipping bytes it matched leaves an XML parser's
state as if it had parsed them: ASCII only; tag and attribute names without a namespace prefix
(``[A-Za-z_][A-Za-z0-9_.-]*``), no attribute named ``xml...`` (no namespace declarations), no
duplicate attribute; values in double quotes of printable ASCII without ``"``, ``&``, ``<``, ``>``
(so no entity or character references, nothing to normalise); only whitespace between tags (no
text, comments, CDATA or processing instructions); tags balanced within the element. Anything else
does not match, and the caller hands those bytes to expat.
"""
from __future__ import annotations

import re
from typing import BinaryIO, NamedTuple

_WS = rb"[ \t\r\n]"
_NAME = rb"[A-Za-z_][A-Za-z0-9_.-]*"
_VALUE = rb"[ !#-%'-;=?-~]*"
#: Any attribute value of the subset, and a value captured as an integer that fits int64 exactly.
ANY_VALUE, INTEGER_VALUE = _VALUE, rb"(-?[0-9]{1,18})"
_TAG = re.compile(_WS + rb"*<(/?)(" + _NAME + rb")((?:" + _WS + rb"+" + _NAME + rb'="' + _VALUE + rb'")*)'
                  + _WS + rb"*(/?)>")
_ATTR = re.compile(_WS + rb"+(" + _NAME + rb')="(' + _VALUE + rb')"')

#: Most tags one element may have (a spectrum has about 40).
MAX_TAGS = 4096


class Tag(NamedTuple):
    """One tag of the subset: ``kind`` is "start", "empty" (``<a/>``) or "end"."""

    kind: str
    name: str
    attrs: tuple[tuple[str, str], ...]


class Element(NamedTuple):
    """The tags of one element and the offset just after it in the buffer."""

    tags: list[Tag]
    end: int


def read_element(buf: bytes, pos: int) -> Element | None:
    """Tokenize the element starting at ``buf[pos]`` (after optional whitespace) in the strict subset.

    Returns None when the bytes leave the subset, the tags do not balance, or the buffer ends
    before the element does.
    """
    tags: list[Tag] = []
    stack: list[str] = []
    while len(tags) < MAX_TAGS:
        m = _TAG.match(buf, pos)
        if m is None:
            return None
        closing, name, attr_text, empty = m.group(1), m.group(2).decode("ascii"), m.group(3), m.group(4)
        pos = m.end()
        if closing:
            if attr_text or empty or not stack or stack.pop() != name:
                return None
            tags.append(Tag("end", name, ()))
        else:
            attrs = tuple((a.decode("ascii"), v.decode("ascii")) for a, v in _ATTR.findall(attr_text))
            names = [a for a, _ in attrs]
            if len(set(names)) != len(names) or any(a[:3].lower() == "xml" for a in names):
                return None
            tags.append(Tag("empty" if empty else "start", name, attrs))
            if not empty:
                stack.append(name)
        if not stack:
            return Element(tags, pos)
    return None


def start_tag_pattern(name: str) -> re.Pattern:
    """A start tag ``<name ...>`` of the subset (any attributes), matched at its ``<``."""
    return re.compile(rb"<" + re.escape(name.encode("ascii")) + rb"(?:" + _WS + rb"+" + _NAME + rb'="' + _VALUE
                      + rb'")*' + _WS + rb"*>")


def layout_pattern(tags: list[Tag], values: list[list[bytes | None]]) -> re.Pattern:
    """A regular expression matching elements with the layout of ``tags``.

    Parameters
    ----------
    tags : list of Tag
        The tags of one element, as :func:`read_element` gives them.
    values : list of list
        Per tag, per attribute: the pattern of its value (a literal is ``re.escape``'d by the
        caller, :data:`ANY_VALUE` or :data:`INTEGER_VALUE`); None stands for :data:`ANY_VALUE`.
        Capture groups are numbered in document order.
    """
    parts = []
    for tag, pats in zip(tags, values):
        name = re.escape(tag.name.encode("ascii"))
        if tag.kind == "end":
            parts.append(_WS + b"*</" + name + _WS + b"*>")
            continue
        attrs = b"".join(_WS + b"+" + re.escape(a.encode("ascii")) + b'="' + (ANY_VALUE if p is None else p) + b'"'
                         for (a, _), p in zip(tag.attrs, pats))
        parts.append(_WS + b"*<" + name + attrs + _WS + b"*" + (b"/>" if tag.kind == "empty" else b">"))
    return re.compile(b"".join(parts))


class Layout(NamedTuple):
    """A compiled layout and the capture groups to read from each match, in the caller's order."""

    pattern: re.Pattern
    groups: tuple[int, ...]

    def run(self, buf: bytes, pos: int) -> tuple[int, int, list[bytes]]:
        """Match elements one after another from ``pos`` until one does not match.

        Returns the offset after the last match, the offset where the last match started (-1
        when none matched) and the captured values, ``len(groups)`` per element.
        """
        match, groups = self.pattern.match, self.groups
        values: list[bytes] = []
        extend = values.extend
        last = -1
        while (m := match(buf, pos)) is not None:
            last = pos
            extend(m.group(*groups))
            pos = m.end()
        return pos, last, values


class ChunkReader:
    """A window over a file read in chunks: ``buf`` holds the bytes not yet dropped, ``eof`` is set at the end."""

    def __init__(self, fh: BinaryIO, buf: bytes, chunk: int) -> None:
        self.fh, self.buf, self.chunk, self.eof = fh, buf, chunk, False

    def more(self, keep_from: int) -> None:
        """Drop ``buf[:keep_from]`` and append the next chunk (sets ``eof`` when there is none)."""
        data = self.fh.read(self.chunk)
        self.eof = not data
        self.buf = self.buf[keep_from:] + data
