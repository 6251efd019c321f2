"""The rendering worker: a child process that owns one native renderer.

Started by :class:`sdfrecon.viewer.render.RenderWorker` as
``python -m sdfrecon.viewer.render_worker BACKEND``, in its own process group
(the parent kills the group: the worker and its private Xvfb). It talks over
its standard input and output in length-prefixed pickles
(:mod:`sdfrecon.viewer.worker_io`); what native code prints goes to standard error, which the
parent keeps in a file to explain failures.

Messages from the parent: ``{"op": "render", "scene": packed, "cameras": [...],
"width", "height", "supersample", "background"}`` or ``{"op": "quit"}``.
Answers: ``{"ready": backend}`` once on start, then per request one
``{"frame": k, "image": (H, W, 3) uint8}`` per camera and ``{"done": True}``,
or ``{"error": "one line"}``.

``SDFRECON_RENDER_FAULT`` (``hang`` or ``crash``, optionally ``:BACKEND``)
makes the worker hang or abort before its first frame, as a stuck or broken
driver would: the time limits and the fallback are tested with it.
"""

from __future__ import annotations

import os
import sys
import time

from sdfrecon.viewer.worker_io import receive, send

FAULT_ENV = "SDFRECON_RENDER_FAULT"


def _fault(backend: str) -> None:
    """Act out ``$SDFRECON_RENDER_FAULT`` (testing aid; see the module docstring)."""
    spec = os.environ.get(FAULT_ENV, "")
    kind, _, only = spec.partition(":")
    if not kind or (only and only != backend):
        return
    if kind == "hang":
        while True:  # like a driver spinning in native code
            time.sleep(3600)
    if kind == "crash":
        os.abort()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 400 else text[:400] + "..."


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    backend_name = argv[0]
    # The protocol keeps the real stdout; fd 1 becomes stderr so that banners printed by
    # native code cannot corrupt the message stream.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer

    from sdfrecon.viewer.backends import make_backend, shrink
    from sdfrecon.viewer.camera import Camera
    from sdfrecon.viewer.packing import unpack_scene

    try:
        backend = make_backend(backend_name)
    except Exception as exc:  # noqa: BLE001 - every failure goes back as one line
        send(out, {"error": _one_line(exc)})
        return 1
    send(out, {"ready": backend_name, "display": os.environ.get("DISPLAY", "")})
    try:
        while True:
            message = receive(inp)
            if message is None or message.get("op") == "quit":
                return 0
            try:
                scene = unpack_scene(message["scene"])
                cameras = [Camera(**c) for c in message["cameras"]]
                ss = int(message["supersample"])
                _fault(backend_name)
                frames = backend.frames(scene, cameras, message["width"] * ss, message["height"] * ss, ss,
                                        tuple(message["background"]))
                for k, image in enumerate(frames):
                    send(out, {"frame": k, "image": shrink(image, ss)})
                send(out, {"done": True})
            except Exception as exc:  # noqa: BLE001
                send(out, {"error": _one_line(exc)})
    finally:
        backend.close()


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main())
