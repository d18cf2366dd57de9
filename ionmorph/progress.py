"""Progress bars: tqdm, drawing the final 100 % line once.

tqdm draws a bar when it advances and again when it closes; on a terminal the second drawing
overwrites the first, but in a log file or a pipe the finished line appears twice. The bar of
:func:`progress_bar` leaves the last step's drawing to ``close``.
"""
from __future__ import annotations

from typing import Any


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A ``tqdm.auto.tqdm(*args, **kwargs)`` whose finished line is drawn once (by ``close``)."""
    from tqdm.auto import tqdm

    class _Bar(tqdm):  # type: ignore[misc, valid-type]
        def update(self, n: float | None = 1) -> bool | None:
            if not self.disable and self.total is not None and self.n + (n or 0) >= self.total:
                self.n += n or 0                 # close() draws the finished line
                return None
            return super().update(n)

    return _Bar(*args, **kwargs)
