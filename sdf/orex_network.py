"""OReX's iterative estimation network and its learnable-frequency encoding.

From Sawdayee, Vaxman & Bermano, "OReX: Object Reconstruction from Planar
Cross-sections Using Neural Fields" (CVPR 2023), and its code (haimsaw/OReX,
commit 089db1f, ``Modules.py``); written anew here.

The network refines an occupancy logit in ``loops`` steps. Each step sees the
encoded position, the current logit and a hidden state (plus a fixed
sinusoidal embedding of the step index), and returns a residual for the logit
and the next hidden state::

    logit_0, h_0 = learned constants            (initialised U(0, 1))
    logit_{t+1} = logit_t + MLP([enc(x), logit_t, h_t + emb(t)])[0]
    h_{t+1}     =           MLP([enc(x), logit_t, h_t + emb(t)])[1:]

The same MLP (7 hidden layers of 64, LeakyReLU, Xavier-uniform weights,
biases U(0, 1)) runs every step, so early steps settle the coarse shape and
later ones add detail; training puts a loss on every step's output.

Output channels, ``output_scale x`` the logit (OReX's logit is positive
*outside*: its labels are 0 inside, 1 outside), so channel 0 reads like an SDF,
negative inside, and is what gets meshed:

* channel 0 -- the last step's logit;
* channels 1 .. loops-1 -- the earlier steps' logits, first to second-to-last
  (present when ``field.outputs == loops``; with ``outputs: 1`` only the last).

``output_scale`` (0.01) only changes units: with OReX's gradient hinge keeping
``|grad logit| <~ 100``, the scaled field is about 1-Lipschitz near the
surface, which narrow-band meshing assumes. Loss terms read the logit back as
``-channel / temperature`` with ``temperature = output_scale``
(``loop_occupancy`` and ``logit_gradient`` in :mod:`sdfrecon.sdf.losses_occupancy`).
OReX runs in float64; this runs in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sdfrecon.base.errors import ConfigError
from sdfrecon.sdf.encodings import ENCODINGS, EncodingConfig
from sdfrecon.sdf.networks import NETWORKS, NetworkConfig


@dataclass
class LearnableFourierConfig(EncodingConfig):
    """OReX's position encoding ``[x, cos(f_c x), sin(f_s x)]`` with learnable frequencies."""

    name: str = "learnable_fourier"
    num_frequencies: int = 5
    """Frequencies per axis, initialised to 2^0 .. 2^(num_frequencies - 1) (no factor pi, as in OReX)."""

    def validate(self, path: str) -> None:
        if self.num_frequencies < 1:
            raise ConfigError(f"{path}.num_frequencies: must be >= 1, got {self.num_frequencies}")


class LearnableFourierEncoding(nn.Module):
    """``(N, 3) -> (N, 3 + 6 * num_frequencies)``: ``[x, cos(x f_cos), sin(x f_sin)]``,
    the cosine and sine frequencies being separate trainable parameters."""

    def __init__(self, num_frequencies: int):
        super().__init__()
        start = 2.0 ** torch.linspace(0.0, num_frequencies - 1.0, num_frequencies)
        self.cos_freq = nn.Parameter(start.clone())
        self.sin_freq = nn.Parameter(start.clone())
        self.out_dim = 3 + 6 * num_frequencies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cos = torch.cos(x[..., None] * self.cos_freq).reshape(len(x), -1)
        sin = torch.sin(x[..., None] * self.sin_freq).reshape(len(x), -1)
        return torch.cat([x, cos, sin], dim=1)


@ENCODINGS.register("learnable_fourier", config_cls=LearnableFourierConfig)
def build_learnable_fourier(cfg: LearnableFourierConfig, *, device: torch.device | None = None,
                            seed: int = 0) -> LearnableFourierEncoding:
    return LearnableFourierEncoding(cfg.num_frequencies)


@dataclass
class OReXNetworkConfig(NetworkConfig):
    """OReX's iterative estimation network (see module doc)."""

    name: str = "orex"
    loops: int = 10
    """Refinement steps (OReX: 10)."""
    hidden_state: int = 32
    """Width of the hidden state carried between steps (even: its step embedding is sin/cos pairs)."""
    hidden_dim: int = 64
    """Width of each hidden layer of the shared MLP."""
    num_layers: int = 7
    """Hidden layers of the shared MLP."""
    negative_slope: float = 0.01
    """LeakyReLU slope (PyTorch's default, as in OReX)."""
    output_scale: float = 0.01
    """Factor on the logits in the output channels (units only; see module doc)."""
    center_steps: int = 3
    """Centred start: at each of the first ``center_steps`` training steps, every output is
    shifted by the mean last-loop logit over the batch points inside the unit box (no
    gradient through it), and the last shift is kept from then on; a run that ends
    within those steps is centred once more after its last update. Why: OReX's
    initialisation is about +24 everywhere (all outside, no surface) and its first Adam
    steps, moving every bias of the recurrence the same way, throw that constant by tens
    to hundreds before any shape forms, so short runs (and smoke tests) would mesh
    nothing. The shift does not enter the loops, so the network is OReX's; centring for
    many steps removes what bounds the logit and diverges. 0 = OReX exactly."""

    def validate(self, path: str) -> None:
        if self.loops < 1 or self.hidden_dim < 1 or self.num_layers < 1:
            raise ConfigError(f"{path}: loops, hidden_dim and num_layers must be >= 1")
        if self.hidden_state < 2 or self.hidden_state % 2:
            raise ConfigError(f"{path}.hidden_state: must be even and >= 2, got {self.hidden_state}")
        if not self.output_scale > 0:
            raise ConfigError(f"{path}.output_scale: must be > 0")
        if self.center_steps < 0:
            raise ConfigError(f"{path}.center_steps: must be >= 0")


def step_embedding(loops: int, width: int) -> torch.Tensor:
    """(loops, width) sinusoidal embedding of the step index ``t``: ``[sin(t 2^k), cos(t 2^k)]``
    for k = 0 .. width/2 - 1 (OReX's NeRF-style embedder without the raw input), in float64."""
    t = torch.arange(loops, dtype=torch.float64)[:, None]
    freqs = 2.0 ** torch.linspace(0.0, width // 2 - 1.0, width // 2, dtype=torch.float64)
    angles = t * freqs  # (loops, width/2)
    return torch.stack([torch.sin(angles), torch.cos(angles)], dim=2).reshape(loops, width)


class OReXNetwork(nn.Module):
    """``forward(h: (N, in_dim)) -> (N, out_dim)`` scaled logits, last step first (see module doc).

    Parameters
    ----------
    cfg : OReXNetworkConfig
    in_dim : int
        Encoded input width.
    out_dim : int
        1 (the last step only) or ``cfg.loops`` (every step).
    """

    def __init__(self, cfg: OReXNetworkConfig, in_dim: int, out_dim: int):
        super().__init__()
        if out_dim not in (1, cfg.loops):
            raise ConfigError(f"field.outputs: the orex network gives one output per refinement loop: set it to "
                              f"network.loops ({cfg.loops}) for a loss on every loop, or 1; got {out_dim}")
        self.loops = cfg.loops
        self.every_loop = out_dim == cfg.loops and cfg.loops > 1
        self.output_scale = cfg.output_scale
        width = [in_dim + 1 + cfg.hidden_state] + [cfg.hidden_dim] * cfg.num_layers + [1 + cfg.hidden_state]
        layers: list[nn.Module] = []
        for i in range(len(width) - 1):
            layers.append(nn.Linear(width[i], width[i + 1]))
            if i < len(width) - 2:
                layers.append(nn.LeakyReLU(cfg.negative_slope))
        self.mlp = nn.Sequential(*layers)
        self.initial_logit = nn.Parameter(torch.empty(1))
        self.initial_hidden = nn.Parameter(torch.empty(cfg.hidden_state))
        self.register_buffer("step_codes", step_embedding(cfg.loops, cfg.hidden_state).float())
        self.center_steps = cfg.center_steps
        # Centred start (see OReXNetworkConfig.center_steps); buffers, so checkpoints keep them.
        self.register_buffer("output_offset", torch.zeros(()))
        self.register_buffer("centred_steps", torch.zeros((), dtype=torch.int64))
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.uniform_(module.bias, 0.0, 1.0)
        nn.init.uniform_(self.initial_logit, 0.0, 1.0)
        nn.init.uniform_(self.initial_hidden, 0.0, 1.0)

    def step_logits(self, h: torch.Tensor) -> list[torch.Tensor]:
        """Unscaled logits (N, 1) of every step, first to last."""
        logit = self.initial_logit.expand(len(h), 1)
        hidden = self.initial_hidden.expand(len(h), -1)
        out = []
        for t in range(self.loops):
            result = self.mlp(torch.cat([h, logit, hidden + self.step_codes[t]], dim=1))
            logit = logit + result[:, :1]
            hidden = result[:, 1:]
            out.append(logit)
        return out

    def set_training_progress(self, fraction: float) -> None:
        """At the end of a run that ended within the centred start, centre on its last batch
        once more (after the last update, before the checkpoint is written)."""
        batch = getattr(self, "_centring_batch", None)
        if fraction >= 1.0 and batch is not None and int(self.centred_steps) < self.center_steps:
            with torch.no_grad():
                self.output_offset.copy_(self.step_logits(batch)[-1].mean())
            self._centring_batch = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        logits = self.step_logits(h)
        if self.training and len(h) and int(self.centred_steps) < self.center_steps:
            with torch.no_grad():  # encodings start with the raw xyz (sdfrecon.sdf.encodings)
                in_box = (h[:, :3].abs() <= 1.0).all(dim=1)
                rows = in_box if bool(in_box.any()) else torch.ones_like(in_box)
                self.output_offset.copy_(logits[-1][rows].mean())
                self.centred_steps += 1
                self._centring_batch = h[rows][:4096].detach()
        out = logits[-1] if not self.every_loop else torch.cat([logits[-1], *logits[:-1]], dim=1)
        return (out - self.output_offset) * self.output_scale


@NETWORKS.register("orex", config_cls=OReXNetworkConfig)
def build_orex_network(cfg: OReXNetworkConfig, *, in_dim: int, out_dim: int = 1) -> OReXNetwork:
    return OReXNetwork(cfg, in_dim, out_dim)


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
