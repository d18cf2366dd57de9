"""Headless Chromium for the HTML report tests and benchmark, driven over the DevTools protocol.

Debian's ``chromium`` (``.ci/run`` installs it) runs once per :class:`Browser` with a fresh
profile; pages are opened and JavaScript evaluated over a websocket (``websocket-client``, in the
dev extra), so one browser serves many checks. Under ``CI=true`` a missing browser fails the
browser tests instead of skipping them.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str | None:
    """Path of the headless browser, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def require_chromium() -> None:
    """Skip (fail under CI=true) when no headless browser or websocket client is installed."""
    import pytest

    try:
        import websocket  # noqa: F401
    except ImportError:
        websocket = None
    if chromium() is None or websocket is None:
        msg = "needs Debian's chromium and websocket-client (.ci/run and the dev extra install them)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


class Browser:
    """One headless Chromium with one page; ``open`` a file, ``eval`` JavaScript, take a ``screenshot``."""

    def __init__(self, width: int = 1400, height: int = 900, timeout: float = 120):
        import websocket

        self.profile = tempfile.mkdtemp(prefix="ionmorph-chromium-")
        self.proc = subprocess.Popen([chromium(), *FLAGS, f"--user-data-dir={self.profile}",
                                      "--remote-debugging-port=0", f"--window-size={width},{height}",
                                      "--hide-scrollbars", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=timeout))
        url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self.ids = itertools.count(1)
        self.send("Page.enable")

    def send(self, method: str, **params: Any) -> dict:
        """One DevTools command; its result."""
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def open(self, page: Path, fragment: str = "") -> float:
        """Load ``page`` at ``#fragment``; returns the seconds until its load event."""
        t = time.perf_counter()
        self.send("Page.navigate", url=Path(page).resolve().as_uri() + (f"#{fragment}" if fragment else ""))
        return self._loaded(t)

    def reload(self) -> float:
        """Reload the page from disk; returns the seconds until its load event."""
        t = time.perf_counter()
        self.send("Page.reload", ignoreCache=True)
        return self._loaded(t)

    def _loaded(self, t: float) -> float:
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Page.loadEventFired":
                return time.perf_counter() - t

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        out = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def shown(self) -> list[int]:
        """Row indices of the cards in the grid, in display order (read from the DOM)."""
        return self.eval("[...document.querySelectorAll('#grid .card')].map(c => +c.dataset.i)")

    def set_hash(self, fragment: str) -> list[int]:
        """Go to ``#fragment`` (as a bookmark would) and return the cards shown."""
        self.eval("new Promise(r => { addEventListener('hashchange', () => setTimeout(r, 0), {once: true}); "
                  f"location.hash = {json.dumps(fragment)}; }})")
        return self.shown()

    def set_control(self, element_id: str, value: str) -> list[int]:
        """Set a control's value as a user would (an input event) and return the cards shown."""
        self.eval(f"(() => {{ const e = document.getElementById({json.dumps(element_id)}); e.value = "
                  f"{json.dumps(value)}; e.dispatchEvent(new Event('input', {{bubbles: true}})); }})()")
        return self.shown()

    def screenshot(self, png: Path) -> Path:
        """A PNG screenshot of the window."""
        Path(png).write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        return Path(png)

    def close(self) -> None:
        """End the browser (this process only) and remove its profile."""
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
