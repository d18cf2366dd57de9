"""The files of an imzML dataset: the .imzML path a user gives and the .ibd that belongs to it.

Every problem becomes one :class:`~ionmorph.errors.MSIFormatError` naming the file: a directory,
a broken symbolic link, a missing or ambiguous .ibd (``X.ibd`` and ``X.IBD`` side by side), an
.ibd that is not a file, too short for its 16-byte header, or whose UUID is not the one the XML
declares (``universally unique identifier``, IMS:1000080).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import MSIFormatError, warn_external

#: Size of the .ibd header: the dataset's UUID as 16 raw bytes.
IBD_HEADER_BYTES = 16

_HEX = re.compile(r"[0-9a-f]{32}")


def check_imzml_path(path: Path) -> None:
    """Raise MSIFormatError unless ``path`` is an existing regular file."""
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() == ".imzml")[:3]
        hint = f"; it holds {', '.join(inside)}" if inside else ""
        raise MSIFormatError(path, f"is a directory, not an .imzML file{hint}")
    if path.is_symlink() and not path.exists():
        raise MSIFormatError(path, f"is a broken symbolic link (to {os.readlink(path)})")
    if not path.exists():
        raise MSIFormatError(path, "file not found")
    if not path.is_file():
        raise MSIFormatError(path, "is not a regular file")


def not_imzml_hint(path: Path) -> str:
    """A hint for a file that is not XML: the .imzML to pass instead of an .ibd, or the expected suffix."""
    if path.suffix.lower() == ".ibd":
        return f" (this looks like the binary half of a dataset; pass {path.stem}.imzML)"
    if path.suffix.lower() != ".imzml":
        return f" (expected an .imzML file, got a {path.suffix or 'suffix-less'} file)"
    return ""


def ibd_candidates(path: Path) -> list[Path]:
    """Files beside ``path`` named like it with the extension .ibd in any letter case.

    Raises MSIFormatError when there is none, or when the only one is a broken link or not a file.
    Names are compared literally (no glob: ``sample[1].imzML`` works).
    """
    n = len(path.stem)
    with os.scandir(path.parent) as entries:
        found = sorted(path.parent / e.name for e in entries if e.name[:n] == path.stem and e.name[n:].lower() == ".ibd")
    if not found:
        raise MSIFormatError(path, f"binary file {path.stem}.ibd not found beside it")
    usable = [p for p in found if p.is_file()]
    if not usable:
        ibd = found[0]
        if ibd.is_symlink() and not ibd.exists():
            raise MSIFormatError(ibd, f"the binary file is a broken symbolic link (to {os.readlink(ibd)})")
        raise MSIFormatError(ibd, "the binary file is a directory or another non-file, not a .ibd file")
    return usable


def _normalise_uuid(text: str) -> str | None:
    """32 lowercase hex digits from '{A1B2...}', 'a1b2-...' or plain hex; None when not a UUID."""
    digits = text.strip().strip("{}").replace("-", "").lower()
    return digits if _HEX.fullmatch(digits) else None


def ibd_uuid(ibd: Path) -> str:
    """The UUID in the .ibd header as 32 lowercase hex digits."""
    with open(ibd, "rb") as fh:
        head = fh.read(IBD_HEADER_BYTES)
    if len(head) < IBD_HEADER_BYTES:
        raise MSIFormatError(ibd, f"only {len(head)} bytes: too short for the {IBD_HEADER_BYTES}-byte UUID header "
                                  "of an imzML binary file")
    return head.hex()


def choose_ibd(path: Path, candidates: list[Path], declared: str | None) -> Path:
    """The candidate .ibd whose header UUID is the one the XML declares.

    A mismatch is an error; a missing or unreadable UUID in the XML gives a warning (one candidate)
    or an error (several candidates, since nothing tells which belongs to ``path``).
    """
    want = _normalise_uuid(declared) if declared is not None else None
    if want is None:
        if len(candidates) > 1:
            raise MSIFormatError(path, f"both {' and '.join(c.name for c in candidates)} lie beside it and its "
                                       "XML has no UUID to tell which belongs to it; remove or rename the other")
        why = "declares no UUID" if declared is None else f"declares {declared[:60]!r}, which is not a UUID"
        warn_external(f"{path}: the XML {why}; cannot check that {candidates[0].name} belongs to it")
        return candidates[0]
    uuids = {c: ibd_uuid(c) for c in candidates}
    match = [c for c, u in uuids.items() if u == want]
    if len(match) == 1:
        return match[0]
    if len(candidates) == 1:
        raise MSIFormatError(path, f"{candidates[0].name} belongs to another dataset: its header UUID is "
                                   f"{uuids[candidates[0]]}, the XML declares {want}")
    raise MSIFormatError(path, f"{len(match) or 'none'} of {', '.join(c.name for c in candidates)} carry the "
                               f"UUID {want} that its XML declares; remove or rename the wrong one")
