"""Acquisition metadata from an imzML header: pixel size, polarity, instrument.

Only the header is parsed (everything before the first spectrum ends), with the reader's safe
streaming parser (:func:`ionmorph.io.imzml_xml.header_params`), so this stays fast on files with
millions of spectra. Values a file does not declare are None.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from .imzml_xml import header_params

#: Accessions read: pixel size x / y (IMS), positive / negative scan (MS).
_PIXEL_X, _PIXEL_Y = "IMS:1000046", "IMS:1000047"
_POLARITY = {"MS:1000130": "positive", "MS:1000129": "negative"}
#: The generic "instrument model" term: its value names the instrument (a model without its own term).
_INSTRUMENT_MODEL = "MS:1000031"
#: cvParams inside an instrumentConfiguration that do not name the instrument.
_NOT_INSTRUMENT = {"instrument serial number", "customization"}


@dataclass(frozen=True)
class AcquisitionInfo:
    """What an imzML header says about the acquisition (None where it says nothing).

    Attributes
    ----------
    pixel_size_um : (float, float) or None
        Pixel size (x, y) in micrometres.
    polarity : str or None
        ``"positive"`` or ``"negative"``.
    instrument : str or None
        The instrument model named in the first instrument configuration.
    """

    pixel_size_um: tuple[float, float] | None
    polarity: str | None
    instrument: str | None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        d = asdict(self)
        d["pixel_size_um"] = None if self.pixel_size_um is None else list(self.pixel_size_um)
        return d


def read_acquisition_info(path: str | os.PathLike) -> AcquisitionInfo:
    """Pixel size, polarity and instrument declared in the header of the imzML file ``path``.

    Raises
    ------
    MSIFormatError
        The header cannot be read (see :func:`ionmorph.io.imzml_xml.header_params`).
    """
    size: dict[str, float] = {}
    polarity = instrument = None
    for parent, attrs in header_params(path):
        acc, name = attrs.get("accession", ""), attrs.get("name")
        if acc in (_PIXEL_X, _PIXEL_Y):
            try:
                size[acc] = float(attrs.get("value", ""))
            except ValueError:
                pass
        elif acc in _POLARITY and polarity is None:
            polarity = _POLARITY[acc]
        elif instrument is None and parent == "instrumentConfiguration" and name and name not in _NOT_INSTRUMENT:
            instrument = (attrs.get("value") or None) if acc == _INSTRUMENT_MODEL else name
    pixel = (size[_PIXEL_X], size.get(_PIXEL_Y, size[_PIXEL_X])) if _PIXEL_X in size else None
    return AcquisitionInfo(pixel, polarity, instrument)
