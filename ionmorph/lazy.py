"""Lazy package exports: names resolve to their modules on first use (keeps imports light)."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for a package exporting ``{name: module}``."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__


def exports_of(package: str, init_file: str) -> dict[str, str]:
    """The ``{name: module}`` table of a subpackage, read from the ``if TYPE_CHECKING:`` block of its
    ``__init__`` (``from .msi import open_msi, MSIData`` -> ``{"open_msi": "<package>.msi", ...}``).

    One list serves both readers: type checkers see the imports, :func:`lazy_exports` gets the table,
    so the two cannot drift apart (the idea of lazy_loader's ``attach_stub`` in scikit-image).
    """
    import ast

    tree = ast.parse(open(init_file, encoding="utf-8").read(), init_file)
    table: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for sub in node.body:
                if isinstance(sub, ast.ImportFrom) and sub.level == 1 and sub.module:
                    table.update({a.asname or a.name: f"{package}.{sub.module}" for a in sub.names})
    return table


def moved_module(old: str, new: str, removal: str = "0.3") -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` of a module that moved: every name resolves in ``new``, with a
    :class:`DeprecationWarning` that names the new path (shown at the user's line)."""

    def __getattr__(name: str) -> Any:
        from .errors import warn_external

        if name.startswith("__"):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warn_external(f"{old} moved to {new}; import from {new} (the old path goes in ionmorph {removal})",
                      DeprecationWarning)
        return getattr(importlib.import_module(new), name)

    def __dir__() -> list[str]:
        return dir(importlib.import_module(new))

    return __getattr__, __dir__
