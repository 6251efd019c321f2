"""A real headless browser for the viewer tests: Debian's Chromium, driven over the
DevTools protocol (a websocket; no driver binary to install).

Tests that need it skip, with the reason printed (``-ra``), when no Chromium is
installed; ``scripts/setup.sh`` installs Debian's ``chromium``, so CI runs them.
Pages are polled in real time (:meth:`Browser.wait_for`) rather than given a fixed
virtual-time budget: a busy 2-core machine may need seconds to deliver a scene.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from typing import Callable

import numpy as np
import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-unsafe-swiftshader", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", "--allow-file-access-from-files")
"""No GPU (WebGL runs on SwiftShader, in software), no network beyond the page, DevTools on loopback."""


def chromium() -> str:
    """Path of a Chromium/Chrome binary, or skip the test saying why."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on PATH (Debian: apt-get install chromium; scripts/setup.sh installs it as root)")


class Browser:
    """One headless Chromium with one page of ``size`` CSS pixels; use as a context manager."""

    def __init__(self, size=(1000, 700), start_timeout: float = 60.0):
        self._tmp = tempfile.mkdtemp(prefix="sdfrecon-chromium-")
        self.proc = subprocess.Popen([chromium(), *FLAGS, f"--user-data-dir={self._tmp}",
                                      f"--window-size={size[0]},{size[1]}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)  # its GPU and renderer processes go with it
        endpoint = None
        deadline = time.monotonic() + start_timeout
        while endpoint is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on ws://([^/]+)/", line)
            if m:
                endpoint = m.group(1)
        if endpoint is None:
            self.close()
            raise AssertionError("chromium did not start its DevTools endpoint")
        os.set_blocking(self.proc.stderr.fileno(), False)  # chromium keeps logging; never block on it
        self._endpoint, self._size, self._ws = endpoint, size, None
        self._ids = itertools.count(1)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def call(self, method: str, timeout: float = 60.0, **params) -> dict:
        """Send one DevTools command and return its result (events in between are dropped)."""
        key = next(self._ids)
        self._ws.send(json.dumps({"id": key, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("id") == key:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})

    def goto(self, url: str) -> None:
        """Open ``url`` in a new page (a new target: navigating an existing one may swap its process)."""
        from urllib.parse import quote

        from websockets.sync.client import connect

        if self._ws is not None:
            self._ws.close()
        request = urllib.request.Request(f"http://{self._endpoint}/json/new?{quote(url, safe=':/?=&')}",
                                         method="PUT")
        with urllib.request.urlopen(request, timeout=30) as r:
            target = json.load(r)
        self._ws = connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.call("Page.bringToFront")  # a background tab produces no frames to screenshot
        self.call("Emulation.setDeviceMetricsOverride", width=self._size[0], height=self._size[1],
                  deviceScaleFactor=1, mobile=False)

    def screenshot(self) -> np.ndarray:
        """The page as an (H, W, 3) uint8 picture."""
        from PIL import Image

        # The first capture waits for the page's first composited frame: on SwiftShader and a busy
        # machine that was seen to take a minute; later ones return at once.
        data = base64.b64decode(self.call("Page.captureScreenshot", timeout=120, format="png")["data"])
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, check: Callable[[np.ndarray], bool], timeout: float = 60.0, every: float = 1.0) -> np.ndarray:
        """Screenshot every ``every`` seconds until ``check(picture)`` holds; the last picture either way."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                image = self.screenshot()
            except (AssertionError, TimeoutError):  # "Not attached to an active page" while the page commits
                if time.monotonic() > deadline:
                    raise
                image = None
            if image is not None and (check(image) or time.monotonic() > deadline):
                return image
            time.sleep(every)


def hue_pixels(image: np.ndarray, hue: str) -> np.ndarray:
    """(H, W) bool: clearly red, green or blue pixels (the heat-map top, the GT colour, the inside of an SDF slice)."""
    r, g, b = (image[..., k].astype(int) for k in range(3))
    if hue == "red":
        return (r > 110) & (r > g + 60) & (r > b + 50)
    if hue == "green":
        return (g > r + 15) & (g > b + 15)
    if hue == "blue":
        return (b > r + 40) & (b > g + 10)
    raise ValueError(hue)
