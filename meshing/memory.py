"""How many grid nodes one network call may take, and how much memory a run peaked at.

Meshing calls the field on chunks of nodes under ``torch.no_grad``. A chunk's
memory is (nodes) x (bytes per node), the widest activations of the network. On
CUDA the bytes per node are measured with one probe call and the chunk sized to
half of the free device memory, so a large GPU takes few, big calls and a small
one does not run out. On the CPU a call's cost is close to linear in its size, so
big chunks buy little: the CPU uses 2^18 nodes, lowered only when the machine's
available memory is short.
"""

from __future__ import annotations

import resource

import torch

from sdfrecon.meshing.grid import FieldFn

CPU_CHUNK = 262_144
"""Nodes per call on the CPU."""
PROBE_NODES = 65_536
"""Nodes of the CUDA probe call that measures bytes per node."""
MAX_CHUNK = 1 << 23
"""Upper bound on nodes per call (8M: past this, calls are long and progress coarse)."""
MEMORY_SHARE = 0.5
"""Fraction of free memory one chunk may use."""


def available_host_bytes() -> int | None:
    """Bytes of physical memory available now (Linux ``/proc/meminfo``), or None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@torch.no_grad()
def bytes_per_node(field: FieldFn, device: torch.device) -> float:
    """Peak CUDA memory per node of one ``field`` call, measured on :data:`PROBE_NODES` nodes."""
    probe = torch.zeros(PROBE_NODES, 3, device=device)
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    field(probe)
    torch.cuda.synchronize(device)
    return max(torch.cuda.max_memory_allocated(device) - before, 1) / PROBE_NODES


def chunk_size(field: FieldFn, device: torch.device | str, requested: int = 0) -> int:
    """Nodes per field call: ``requested`` when > 0, else chosen from the memory there is.

    Parameters
    ----------
    field : callable
        ``(N, 3) -> (N,)`` on ``device``.
    device : torch.device or str
    requested : int
        ``mesh.chunk_points``; 0 means automatic.

    Returns
    -------
    int
        At least 4096 nodes.
    """
    if requested > 0:
        return requested
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        chunk = int(MEMORY_SHARE * free / bytes_per_node(field, device))
        return max(4096, min(chunk, MAX_CHUNK))
    available = available_host_bytes()
    if available is None:
        return CPU_CHUNK
    # ~4 KB per node covers a 512-wide float32 MLP's two live activations with room to spare.
    return max(4096, min(CPU_CHUNK, int(MEMORY_SHARE * available / 4096)))


def peak_memory_mb(device: torch.device | str) -> dict[str, float]:
    """Peak memory so far, MB: ``host`` (process max RSS) and, on CUDA, ``cuda`` (max allocated)."""
    peaks = {"host": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}
    device = torch.device(device)
    if device.type == "cuda":
        peaks["cuda"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return peaks

