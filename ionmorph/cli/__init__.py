"""The command line: the ``ionmorph`` command, one module per group of sub-commands."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports_of, lazy_exports

if TYPE_CHECKING:  # the exports: type checkers read these imports, exports_of reads them into _EXPORTS
    from .app import COMMAND_MODULES, DESCRIPTION, build_parser, main, run

_EXPORTS = exports_of(__name__, __file__)
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
