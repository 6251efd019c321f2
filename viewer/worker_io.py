"""Messages between the rendering worker and its parent: length-prefixed pickles.

Kept apart from :mod:`sdfrecon.viewer.render_worker` so that importing the
package never imports the worker's entry module (``python -m`` warns when it
is already loaded).
"""

from __future__ import annotations

import pickle
import struct
from typing import BinaryIO

HEADER = struct.Struct(">Q")
"""Message header: payload length in bytes."""


def send(stream: BinaryIO, message: dict) -> None:
    """Write one message (header + pickle) and flush."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def receive(stream: BinaryIO) -> dict | None:
    """Read one message; None at end of stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return pickle.loads(payload)
