"""Shared fixtures: analytic shapes, a tiny training config, the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

# Two cores on CI: keep torch from oversubscribing when pytest forks nothing. An explicit
# OMP_NUM_THREADS wins (on a busy 2-core machine two spinning threads run ~10x slower than one).
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or max(1, min(2, os.cpu_count() or 1)))

TEST_DEVICE = os.environ.get("SDFRECON_TEST_DEVICE", "cpu")
"""Device of the suite's training runs: ``cpu`` unless ``SDFRECON_TEST_DEVICE`` says otherwise
(``cuda`` or ``cuda:N``; bench/gpu_check.sh sets it on a GPU machine). Unit tests that need no
device ignore it."""

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config) -> None:
    if TEST_DEVICE.startswith("cuda") and not torch.cuda.is_available():
        raise pytest.UsageError(f"SDFRECON_TEST_DEVICE={TEST_DEVICE} but CUDA is not available here "
                                f"(torch {torch.__version__})")
    if TEST_DEVICE.split(":")[0] not in ("cpu", "cuda"):
        raise pytest.UsageError(f"SDFRECON_TEST_DEVICE={TEST_DEVICE!r}: use cpu, cuda or cuda:N")


def pytest_report_header(config) -> str:
    return f"sdfrecon training tests on: {TEST_DEVICE} (SDFRECON_TEST_DEVICE)"


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test (with the reason) if absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data {path} not present (it lives beside the repo for developers/CI)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def quick_overrides(iterations: int = 150, resolution: int = 64) -> list[dict]:
    """Config overrides for a few-second training run on a simple shape, on :data:`TEST_DEVICE`:
    exactly ``iterations`` steps, also on clouds sparse enough for ``train.sparse_factor``."""
    return [{
        "device": TEST_DEVICE,
        "train": {"iterations": iterations, "checkpoint_every": 0, "sparse_factor": 1.0},
        "mesh": {"resolution": resolution},
        "sampler": {"surface_points": 2048, "uniform_points": 1024, "near_points": 1024},
    }]


@pytest.fixture
def swap_component(monkeypatch):
    """``swap_component(registry, name, builder)``: register ``builder`` under ``name`` for
    this test only (replacing a real component of that name); the registry's entries,
    in their order, are restored afterwards."""
    from sdfrecon.base.registry import Registry

    def swap(registry: Registry, name: str, builder, config_cls=None) -> None:
        registry.names()  # discover the real components first
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))  # restored on teardown
        if name in registry:
            registry.remove(name)
        registry.add(name, builder, config_cls)

    return swap


@pytest.fixture(scope="session", autouse=True)
def render_cache_dir(tmp_path_factory):
    """Keep the remembered render backend (viewer.backend_choice) out of the user's cache:
    one probe per test session, in a temporary folder."""
    old = os.environ.get("SDFRECON_CACHE_DIR")
    os.environ["SDFRECON_CACHE_DIR"] = str(tmp_path_factory.mktemp("sdfrecon_cache"))
    yield
    if old is None:
        os.environ.pop("SDFRECON_CACHE_DIR", None)
    else:
        os.environ["SDFRECON_CACHE_DIR"] = old
