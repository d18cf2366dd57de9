"""A ground-truth MSI simulator: tissue sections, ion chemistry, instruments, imzML output.

Main entry points::

    from ionmorph.synth import FAMILIES, INSTRUMENTS, make_panel, simulate_section, build_corpus

One module per job: :mod:`.anatomy` (outline, regions, damage), :mod:`.instruments` (presets),
:mod:`.ions` (ion panel), :mod:`.patterns` (spatial patterns), :mod:`.looks` (the class an ion
image looks like), :mod:`.section` (:func:`simulate_section`), :mod:`.spectra` (imzML writing),
:mod:`.corpus` (:func:`build_corpus`), :mod:`.cli` (``ionmorph simulate`` / ``ionmorph corpus``).
"""
from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from .anatomy import FAMILIES, FAMILY_REGIONS
from .corpus import build_corpus
from .instruments import INSTRUMENT_PRESETS, INSTRUMENTS, Instrument
from .ions import Ion, IonPanel, make_panel
from .section import SimulatedSection, simulate_section

__all__ = ["FAMILIES", "FAMILY_REGIONS", "INSTRUMENTS", "INSTRUMENT_PRESETS", "Instrument", "Ion", "IonPanel",
           "SimulatedSection", "build_corpus", "make_panel", "simulate_section", "simulator_version"]


@cache
def simulator_version() -> str:
    """Fingerprint of the simulator's code (sha256 of this package's sources, 16 hex digits).

    Data cached from simulated sections (benchmark suites) is regenerated when it changes.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
