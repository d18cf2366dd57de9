"""Deprecated: :mod:`ionmorph.io.msi` (moved in the split into wings; this path goes in ionmorph 0.3).

Every name resolves in the new module and warns (:class:`DeprecationWarning`) on use.
"""
from .lazy import moved_module

__getattr__, __dir__ = moved_module("ionmorph.msi", "ionmorph.io.msi")
