"""Installs of the package as users make them: a wheel, and an editable install, each in a
fresh virtual environment next to Hugging Face ``datasets`` (whose top-level name our
``datasets/`` folder must not take), used from outside the repository.

Slow (about two minutes: it installs the dependencies into a new environment from pip's
cache), and it needs what ``scripts/setup.sh`` needs: pip and the package index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory) -> Path:
    """A new virtual environment with this machine's torch version and Hugging Face datasets."""
    root = tmp_path_factory.mktemp("pkg")
    venv.create(root / "venv", with_pip=True)
    python = root / "venv" / "bin" / "python"
    torch_spec = f"torch=={torch.__version__.split('+')[0]}"
    _run([str(python), "-m", "pip", "install", "-q", torch_spec, "datasets"], cwd=root)
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)], cwd=out)
    (found,) = out.glob("sdfrecon-*.whl")
    return found


def _tiny_scan(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    normals = rng.normal(size=(600, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    path = folder / "sphere.xyz"
    np.savetxt(path, np.hstack([normals * 0.5, normals]))
    return path


def _use_from_outside(python: Path, workdir: Path, expect_in: Path) -> None:
    """Both ``datasets`` packages import side by side; the CLI runs and reconstructs."""
    workdir.mkdir()
    probe = ("import datasets, sdfrecon, sdfrecon.datasets.readers as r, sdfrecon.pipeline.config as c\n"
             "assert hasattr(datasets, 'load_dataset'), datasets.__file__\n"
             "assert 'default' in c.available_presets()\n"
             "import sdfrecon.pipeline.evolve_config as e\n"
             "assert {'cpu', 'gpu'} <= set(e.available_evolve_presets())\n"
             "print(sdfrecon.__file__)\n")
    where = Path(_run([str(python), "-c", probe], cwd=workdir).stdout.strip()).resolve()
    assert where.is_relative_to(expect_in.resolve()), where
    sdfrecon = python.parent / "sdfrecon"
    assert "reconstruct" in _run([str(sdfrecon), "--help"], cwd=workdir).stdout
    scan = _tiny_scan(workdir)
    _run([str(sdfrecon), "reconstruct", str(scan), "-o", "mesh.ply", "--device", "cpu", "--quiet",
          "--iterations", "30", "--resolution", "24", "--set", "train.checkpoint_every=0"], cwd=workdir)
    assert (workdir / "mesh.ply").stat().st_size > 0 and (workdir / "mesh.json").exists()


def test_wheel_holds_only_the_sdfrecon_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert "sdfrecon" in tops and all(t.endswith(".dist-info") for t in tops - {"sdfrecon"}), tops
    assert "sdfrecon/configs/default.yaml" in names and "sdfrecon/sdf/training.py" in names
    assert "sdfrecon/configs/evolve/cpu.yaml" in names and "sdfrecon/configs/evolve/gpu.yaml" in names
    assert "sdfrecon/configs/weights/gridformer_small.pt" in names  # the bundled prior installs with the package


def test_wheel_install_beside_huggingface_datasets(fresh_env, wheel, tmp_path):
    _run([str(fresh_env), "-m", "pip", "install", "-q", str(wheel)], cwd=tmp_path)
    site = Path(_run([str(fresh_env), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path).stdout.strip())
    try:
        _use_from_outside(fresh_env, tmp_path / "use", expect_in=site)
    finally:
        _run([str(fresh_env), "-m", "pip", "uninstall", "-q", "-y", "sdfrecon"], cwd=tmp_path)


def test_editable_install_beside_huggingface_datasets(fresh_env, tmp_path):
    _run([str(fresh_env), "-m", "pip", "install", "-q", "-e", str(REPO)], cwd=tmp_path)
    try:
        _use_from_outside(fresh_env, tmp_path / "use", expect_in=REPO)
    finally:
        _run([str(fresh_env), "-m", "pip", "uninstall", "-q", "-y", "sdfrecon"], cwd=tmp_path)
