"""Public alias of :mod:`ionmorph.picking.baselines` (``ionmorph.baselines`` is public API).

The same module object, not a copy: ``ionmorph.baselines is ionmorph.picking.baselines``.
"""
import importlib
import sys

sys.modules[__name__] = importlib.import_module("ionmorph.picking.baselines")
