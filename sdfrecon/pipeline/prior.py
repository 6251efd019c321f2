"""A learned shape prior in a reconstruction: feed-forward prediction, or a warm start.

The ``prior`` section of a :class:`~sdfrecon.pipeline.config.ReconConfig` names a prior
model file (``sdfrecon train-prior`` writes one; ``bundled`` is the small GridFormer
shipped with sdfrecon) and how to use it:

* ``feedforward`` -- the reconstruction *is* the prior's prediction: the input is
  encoded once and the field meshed is :class:`~sdfrecon.sdf.prior_field.PriorField`
  (``train.iterations: 0``; more iterations optimise its latent grids with the
  configured losses);
* ``warm_start`` -- the per-shape neural SDF of the preset starts from the prior:
  the prediction is meshed, its signed distance is sampled around it, and the field
  is fitted to that for ``warm_start.steps`` supervised steps before the usual
  training (``gridformer_refine``);
* ``none`` -- no prior (every other preset).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from sdfrecon.base.errors import ConfigError, NoSurfaceError
from sdfrecon.meshing.extract import MeshConfig, extract_mesh
from sdfrecon.sdf.prior_field import PriorField, encode_points, fit_field_to_sdf
from sdfrecon.sdf.prior_model import PriorModelFile, load_prior_model

if TYPE_CHECKING:
    from sdfrecon.pipeline.config import ReconConfig

log = logging.getLogger(__name__)

BUNDLED = "bundled"
"""``prior.weights`` value naming the model file shipped with sdfrecon."""
BUNDLED_FILE = "gridformer_small.pt"
"""Its file name under the ``weights/`` folder of the ``sdfrecon.configs`` package data."""


@dataclass
class WarmStartConfig:
    """The supervised fit of the per-shape field to the prior's prediction."""

    steps: int = 200
    """Adam steps of the fit (before ``train.iterations`` steps of the usual losses)."""
    lr: float = 1e-3
    """Learning rate of the fit."""
    batch: int = 4096
    """Points per step."""
    pool: int = 131072
    """Labelled points drawn once (half uniform in the sampling cube, half near the predicted surface)."""
    near_sigma: float = 0.03
    """Gaussian offset of the near points from the predicted surface, unit frame."""
    resolution: int = 96
    """Marching-cubes resolution at which the prediction is meshed to measure its signed distance."""

    def validate(self, path: str) -> None:
        if self.steps < 0 or self.batch < 1 or self.pool < 2 or self.resolution < 8:
            raise ConfigError(f"{path}: steps >= 0, batch >= 1, pool >= 2 and resolution >= 8")
        if not (self.lr > 0 and self.near_sigma > 0):
            raise ConfigError(f"{path}: lr and near_sigma must be > 0")


@dataclass
class PriorConfig:
    """A learned shape prior (``sdfrecon train-prior``) and how the reconstruction uses it."""

    mode: Literal["none", "feedforward", "warm_start"] = "none"
    """``none``; ``feedforward`` (mesh the prediction); ``warm_start`` (start the field from it)."""
    weights: str = BUNDLED
    """Prior model file, or ``bundled`` for the small GridFormer shipped with sdfrecon (``--weights``)."""
    input_points: int = 0
    """Input points fed to the prior (random subset); 0 = as many as it was trained with."""
    ensemble: int = 1
    """Random input subsets encoded and averaged (feature level)."""
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)
    """Settings of ``warm_start`` mode."""

    def validate(self, path: str) -> None:
        if self.input_points < 0 or self.ensemble < 1:
            raise ConfigError(f"{path}: input_points >= 0 and ensemble >= 1")
        if not self.weights:
            raise ConfigError(f"{path}.weights: name a prior model file or 'bundled'")


def weights_path(weights: str) -> Path:
    """The model file ``prior.weights`` names (``bundled`` = the shipped one)."""
    if weights == BUNDLED:
        return Path(str(resources.files("sdfrecon.configs"))) / "weights" / BUNDLED_FILE
    return Path(weights).expanduser()


def load_prior(cfg: PriorConfig, device: torch.device | str = "cpu") -> PriorModelFile:
    """Load the prior model file of ``cfg`` (raises InputError naming the file when unusable)."""
    return load_prior_model(weights_path(cfg.weights), device)


def prior_field_skeleton(cfg: "ReconConfig", device: torch.device | str = "cpu") -> PriorField:
    """An empty feed-forward field of the right shape, to load a checkpoint's state into."""
    return PriorField.empty(load_prior(cfg.prior, device).model).to(device)


def apply_prior(field_: torch.nn.Module, data: Any, cfg: "ReconConfig", device: torch.device, lo: np.ndarray,
                hi: np.ndarray, *, fit: bool = True) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Use ``cfg.prior`` on the unit-frame input ``data``.

    Parameters
    ----------
    field_ : nn.Module
        The preset's freshly built field (warm-started in place in ``warm_start`` mode).
    data : PointCloud
        The input, unit frame.
    cfg : ReconConfig
    device : torch.device
    lo, hi : (3,) ndarray
        Meshing box of the input, unit frame.
    fit : bool
        False when resuming from a checkpoint: no prediction or fit is made (the
        checkpoint holds the state); feed-forward mode still returns a field of the
        right shape.

    Returns
    -------
    (field, record)
        The field to train and mesh, and a JSON-ready record of what was done.
    """
    pc = cfg.prior
    if getattr(data, "kind", "points") != "points":
        raise ConfigError(f"prior.mode: {pc.mode!r} uses a point-cloud prior, but the input is "
                          f"{getattr(data, 'kind', 'not points')}; use a preset without a prior")
    record: dict[str, Any] = {"mode": pc.mode, "weights": str(weights_path(pc.weights))}
    if not fit:
        record["note"] = "resumed: state from the checkpoint"
        return (prior_field_skeleton(cfg, device) if pc.mode == "feedforward" else field_), record
    t0 = time.perf_counter()
    prior = load_prior(pc, device)
    count = pc.input_points or int(prior.inputs.get("points", len(data.points)))
    grids = encode_points(prior.model, data.points, count=count, ensemble=pc.ensemble, seed=cfg.seed, device=device)
    predicted = PriorField(prior.model, grids).to(device)
    record.update(input_points=min(count, len(data.points)), ensemble=pc.ensemble)
    record["seconds"] = {"predict": round(time.perf_counter() - t0, 3)}
    if pc.mode == "feedforward":
        return predicted, record
    t1 = time.perf_counter()
    ws = pc.warm_start
    try:
        mesh_cfg = MeshConfig(resolution=ws.resolution, padding=cfg.mesh.padding,
                              coarse_resolution=min(32, ws.resolution))
        with torch.no_grad():
            surface = extract_mesh(predicted.surface_value, lo, hi, mesh_cfg, device=device).mesh
        if len(surface.faces) == 0:
            raise NoSurfaceError("empty prediction")
    except NoSurfaceError:
        log.warning("the prior predicts no surface for this input; training starts without a warm start")
        record["note"] = "prior predicted no surface: no warm start"
        return field_, record
    points, targets = _signed_distance_samples(surface, ws, cfg.seed, domain=_domain(cfg))
    error = fit_field_to_sdf(field_, torch.as_tensor(points, device=device), torch.as_tensor(targets, device=device),
                             steps=ws.steps, lr=ws.lr, batch=ws.batch, seed=cfg.seed)
    record["seconds"]["warm_start"] = round(time.perf_counter() - t1, 3)
    record["warm_start"] = {"steps": ws.steps, "final_l1": error, "prior_faces": len(surface.faces)}
    return field_, record


def _domain(cfg: "ReconConfig") -> float:
    """Half side of the cube the preset's sampler draws uniform points in (1.1 if it has none)."""
    return float(getattr(cfg.sampler, "domain", 1.1))


def _signed_distance_samples(surface, ws: WarmStartConfig, seed: int, *, domain: float
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Points (pool, 3) uniform in the cube and near ``surface``, and their signed distance to it (float32)."""
    import open3d as o3d
    import trimesh

    rng = np.random.default_rng(seed)
    half = ws.pool // 2
    uniform = rng.uniform(-domain, domain, size=(ws.pool - half, 3))
    on_surface, _ = trimesh.sample.sample_surface(surface, half, seed=rng)
    near = np.asarray(on_surface) + rng.normal(scale=ws.near_sigma, size=(half, 3))
    points = np.concatenate([uniform, near]).astype(np.float32)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(surface.vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.asarray(surface.faces, dtype=np.uint32)))
    targets = scene.compute_signed_distance(o3d.core.Tensor(points)).numpy().astype(np.float32)
    return points, targets
