"""Pictures of a :class:`~sdfrecon.viewer.scene.Scene` without a screen, that always come out.

Native rendering runs in a child process (:mod:`sdfrecon.viewer.render_worker`,
one per backend, kept for the life of this process), never in this one:

* every frame has a wall-clock limit (``frame_timeout``); a frame past it gets
  the worker killed and a one-line :class:`RenderTimeout`, never a hang;
* Ctrl-C / SIGTERM reach this process, which waits in short slices, so they
  stop a render at once (the worker and its Xvfb are killed with it);
* a crashing driver takes the worker down, not the caller.

``backend="auto"`` takes the backend :mod:`sdfrecon.viewer.backend_choice`
measured fastest on this machine (probed once, then remembered in the user
cache folder) and falls back to the next when it fails. The backends
themselves live in :mod:`sdfrecon.viewer.backends`.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Sequence

import numpy as np

from sdfrecon.base.errors import ReconError
from sdfrecon.viewer.backends import BACKENDS
from sdfrecon.viewer.camera import Camera
from sdfrecon.viewer.worker_io import HEADER
from sdfrecon.viewer.scene import Scene

log = logging.getLogger(__name__)

BACKGROUND = (1.0, 1.0, 1.0)
"""Default background colour (white)."""
BACKEND_CHOICES = ("auto", *BACKENDS)
DEFAULT_FRAME_TIMEOUT = 60.0
"""Seconds one frame may take before its worker is killed (the fast path takes well under 1 s)."""
START_TIMEOUT = 60.0
"""Seconds a worker may take to start (Python, Open3D, Xvfb, the renderer)."""
FRESH_WORKER_PRIMITIVES = 5000
"""Filament (``offscreen``) gets a fresh worker after drawing a scene this large: with Open3D 0.20 on
Mesa's lavapipe, frames after a second large upload in one process took 30-90 s each."""
POLL = 0.2
"""Seconds between checks while waiting on a worker (how fast Ctrl-C / SIGTERM act)."""


class RenderError(ReconError):
    """Rendering failed or is impossible here; the message (one line) says why and what to do."""


class RenderTimeout(RenderError):
    """A frame took longer than its time limit (the worker was killed)."""


class WorkerFailed(Exception):
    """A worker could not start, died, reported an error, or ran out of time (one-line message)."""

    def __init__(self, message: str, *, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


def render_scene(scene: Scene, camera: Camera, width: int = 800, height: int = 600, *, supersample: int = 1,
                 background=BACKGROUND, backend: str = "auto", frame_timeout: float | None = None) -> np.ndarray:
    """Render ``scene`` from ``camera`` to an RGB image.

    Parameters
    ----------
    scene : Scene
    camera : Camera
    width, height : int
        Output size, pixels.
    supersample : int
        Render this many times larger and downsample (anti-aliasing); 1 = off.
    background : (3,) floats in [0, 1]
    backend : str
        ``auto`` (measured fastest here, falling back to the others), ``legacy`` or ``offscreen``.
    frame_timeout : float, optional
        Seconds a frame may take (default :data:`DEFAULT_FRAME_TIMEOUT`).

    Returns
    -------
    (height, width, 3) uint8 ndarray

    Raises
    ------
    RenderError
        No backend rendered the picture (RenderTimeout: out of time).
    """
    return render_views(scene, [camera], width, height, supersample=supersample, background=background,
                        backend=backend, frame_timeout=frame_timeout)[0]


def render_views(scene: Scene, cameras: Sequence[Camera], width: int = 800, height: int = 600, *,
                 supersample: int = 1, background=BACKGROUND, backend: str = "auto",
                 frame_timeout: float | None = None) -> list[np.ndarray]:
    """Render ``scene`` once per camera (geometry is uploaded once). See :func:`render_scene`.

    Returns
    -------
    list of (height, width, 3) uint8 ndarray
    """
    from sdfrecon.viewer.packing import pack_scene

    if width < 8 or height < 8:
        raise ValueError(f"image size must be at least 8x8 pixels, got {width}x{height}")
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    if backend not in BACKEND_CHOICES:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_CHOICES)}, got {backend!r}")
    limit = DEFAULT_FRAME_TIMEOUT if frame_timeout is None else float(frame_timeout)
    if not limit > 0:
        raise ValueError(f"frame_timeout must be > 0, got {frame_timeout}")
    if not cameras:
        return []
    request = {"op": "render", "scene": pack_scene(scene), "cameras": [dataclasses.asdict(c) for c in cameras],
               "width": int(width), "height": int(height), "supersample": int(supersample),
               "background": tuple(float(c) for c in background)}
    return render_request(request, backend, limit)


def render_request(request: dict, backend: str, frame_timeout: float) -> list[np.ndarray]:
    """Send a packed render request to a worker of ``backend`` (``auto``: the chosen order, with fallback)."""
    from sdfrecon.viewer import backend_choice
    from sdfrecon.viewer.packing import primitives

    order = backend_choice.backend_order() if backend == "auto" else [backend]
    failures = []
    for k, name in enumerate(order):
        try:
            worker = worker_for(name)
            images = worker.render(request, frame_timeout)
            if name == "offscreen" and primitives(request["scene"]) >= FRESH_WORKER_PRIMITIVES:
                close_worker(name)
            return images
        except WorkerFailed as exc:
            close_worker(name)
            size = f"{request['width']}x{request['height']}, supersample {request['supersample']}"
            failures.append((name, f"{exc} ({size})" if exc.timed_out else str(exc), exc.timed_out))
            if backend == "auto":
                backend_choice.forget()
            if k + 1 < len(order):  # the final error lists every reason; this shows with --verbose
                log.info("the %s renderer failed (%s); trying the %s renderer", name, exc, order[k + 1])
    text = "; ".join(f"{name} renderer: {why}" for name, why, _ in failures)
    hint = ""
    if all(t for _, _, t in failures):
        hint = " (smaller --width/--height or --supersample 1, or a longer --frame-timeout)"
    error = RenderTimeout if any(t for _, _, t in failures) else RenderError
    raise error(f"cannot render: {text}{hint}")


# ------------------------------------------------------------------ workers

_WORKERS: dict[str, "RenderWorker"] = {}


def worker_for(backend: str) -> "RenderWorker":
    """The running worker of ``backend``, started if needed (raises WorkerFailed)."""
    worker = _WORKERS.get(backend)
    if worker is not None and not worker.ready:
        try:
            worker.wait_ready()
        except WorkerFailed:
            _WORKERS.pop(backend, None)
            raise
    if worker is None or not worker.alive():
        _WORKERS[backend] = worker = RenderWorker(backend)
    return worker


def prestart(backend: str = "auto") -> None:
    """Start the worker that ``backend`` will use now, without waiting for it.

    Its start (Python, Open3D, Xvfb: seconds) then overlaps with whatever the
    caller does before the first picture (reading meshes, computing errors).
    With ``auto`` only a remembered choice is started (a probe waits for the
    first picture). Failures are left for the first picture to report.
    """
    from sdfrecon.viewer import backend_choice
    from sdfrecon.viewer.backends import backend_problem

    if backend == "auto":
        entry = backend_choice.remembered()
        backend = entry["backend"] if entry else ""
    if backend in BACKENDS and backend not in _WORKERS and backend_problem(backend) is None:
        try:
            _WORKERS[backend] = RenderWorker(backend, wait=False)
        except OSError as exc:
            log.info("could not prestart the %s renderer: %s", backend, exc)


def close_worker(backend: str) -> None:
    worker = _WORKERS.pop(backend, None)
    if worker is not None:
        worker.close()


@atexit.register
def close_workers() -> None:
    """Stop every worker (at exit, and by callers that want a clean slate)."""
    for name in list(_WORKERS):
        close_worker(name)


class RenderWorker:
    """One worker process: start it, send requests, wait for frames with time limits, kill it.

    Parameters
    ----------
    backend : str
    start_timeout : float
        Seconds to wait for the worker's ``ready``.
    wait : bool
        Wait for ``ready`` now; else :meth:`wait_ready` does it later.

    Raises
    ------
    WorkerFailed
        The worker did not start (the message says why).
    """

    def __init__(self, backend: str, start_timeout: float = START_TIMEOUT, *, wait: bool = True):
        self.backend = backend
        self.start_timeout = start_timeout
        self.ready = False
        self.display = ""
        self._log = tempfile.TemporaryFile()
        self._buffer = bytearray()
        self._started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "sdfrecon.viewer.render_worker", backend],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     start_new_session=True)  # own group: killing it takes Xvfb along
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait for the worker's ``ready`` (the start limit counts from the start)."""
        if self.ready:
            return
        left = max(self.start_timeout - (time.monotonic() - self._started), POLL)
        try:
            message = self._receive(left, f"starting the {self.backend} renderer")
        except BaseException:
            self.kill()
            raise
        if "error" in message:
            self.kill()
            raise WorkerFailed(message["error"])
        self.ready = True
        self.display = message.get("display", "")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def render(self, request: dict, frame_timeout: float) -> list[np.ndarray]:
        """Send ``request``; each frame must arrive within ``frame_timeout`` seconds of the previous one."""
        n = len(request["cameras"])
        try:
            self._send(request, frame_timeout)
            images = []
            while True:
                what = f"frame {len(images) + 1} of {n}" if len(images) < n else "finishing"
                message = self._receive(frame_timeout, what)
                if "error" in message:
                    raise WorkerFailed(message["error"])
                if message.get("done"):
                    break
                images.append(message["image"])
        except BaseException:
            self.kill()  # a half-answered worker is of no further use; on Ctrl-C it must die now
            raise
        if len(images) != n:
            raise WorkerFailed(f"the worker returned {len(images)} of {n} frames")
        return images

    def close(self) -> None:
        """Ask the worker to quit, kill it if it does not within a second."""
        if self.alive() and self.ready:
            try:
                self._send({"op": "quit"}, 1.0)
                self.proc.wait(timeout=1.0)
            except (WorkerFailed, subprocess.TimeoutExpired, OSError):
                pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL the worker's process group (the worker and its Xvfb); reap it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        else:
            try:  # the worker is gone; its Xvfb may not be
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.proc.wait()
        self._log.close()

    # -------------------------------------------------------------- protocol

    def _send(self, message: dict, timeout: float) -> None:
        import pickle

        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        data = memoryview(HEADER.pack(len(payload)) + payload)
        fd = self.proc.stdin.fileno()
        os.set_blocking(fd, False)
        deadline = time.monotonic() + timeout
        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailed(f"the {self.backend} renderer stopped reading its input "
                                   f"for more than {timeout:g} s", timed_out=True)
            _, ready, _ = select.select([], [fd], [], min(POLL, left))
            if ready:
                try:
                    data = data[os.write(fd, data):]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    raise WorkerFailed(self._death()) from None

    def _receive(self, timeout: float, what: str) -> dict:
        import pickle

        deadline = time.monotonic() + timeout
        header = self._read(HEADER.size, deadline, timeout, what)
        (size,) = HEADER.unpack(header)
        return pickle.loads(self._read(size, deadline, timeout, what))

    def _read(self, n: int, deadline: float, timeout: float, what: str) -> bytes:
        fd = self.proc.stdout.fileno()
        while len(self._buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailed(f"{what} took more than {timeout:g} s and was stopped", timed_out=True)
            ready, _, _ = select.select([fd], [], [], min(POLL, left))
            if ready:
                chunk = os.read(fd, max(n - len(self._buffer), 1 << 16))
                if not chunk:
                    raise WorkerFailed(self._death())
                self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _death(self) -> str:
        """One line on how the worker died, with the last line it printed."""
        try:
            code = self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            how = f"crashed (signal {signal.Signals(-code).name})"
        else:
            how = f"exited with status {code}"
        self._log.seek(0)
        lines = [ln.strip() for ln in self._log.read().decode(errors="replace").splitlines() if ln.strip()]
        last = f"; last output: {lines[-1][:300]}" if lines else ""
        return f"the worker process {how}{last}"
