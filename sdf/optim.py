"""Adam for the trainer, without ``torch.optim``'s one-off import of ``torch._dynamo``.

``torch.optim.Optimizer.__init__`` (and ``step``) are wrapped so that the first call
imports ``torch._dynamo``: 1.0-1.6 s measured on the project's 2-core machine, paid
by every ``sdfrecon reconstruct`` process and by every benchmark worker, against a
whole default run of 15-20 s. No default code path needs dynamo otherwise
(``train.compile`` does, and imports it itself).

:class:`Adam` performs the same arithmetic, operation for operation, as
``torch.optim.Adam``'s single-tensor path (the one PyTorch uses for CPU tensors), so
it gives the same parameters bit for bit (``tests/sdf/test_optim.py`` checks this
against ``torch.optim.Adam``), and its ``state_dict`` has the same layout, so
checkpoints written with either load into the other.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

import torch


class Adam:
    """Adam (Kingma & Ba 2015) with L2 ``weight_decay`` added to the gradient, as
    ``torch.optim.Adam`` without ``amsgrad``/``maximize``.

    Parameters
    ----------
    param_groups : iterable of dict or of Parameter
        As for ``torch.optim.Adam``: dicts with ``params`` and any per-group options
        (extra keys such as the trainer's ``lr_multiplier`` are kept), or parameters.
    lr, betas, eps, weight_decay : float
        Defaults for groups that do not set them.
    """

    def __init__(self, param_groups: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        if not lr > 0 or not eps >= 0 or not weight_decay >= 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Adam: invalid lr={lr}, betas={betas}, eps={eps} or weight_decay={weight_decay}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        groups = list(param_groups)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups: list[dict[str, Any]] = [{**defaults, **g, "params": list(g["params"])} for g in groups]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.detach_().zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state.get(param)
                if state is None:
                    # The step count is a float tensor, as in torch.optim.Adam's state_dict.
                    state = self.state[param] = {
                        "step": torch.tensor(0.0, dtype=torch.float32),
                        "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
                    }
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                state["step"] += 1
                if weight_decay != 0:
                    grad = grad.add(param, alpha=weight_decay)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step = state["step"].item()
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1
                denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(eps)
                param.addcdiv_(exp_avg, denom, value=-step_size)

    def state_dict(self) -> dict[str, Any]:
        """``torch.optim.Adam``'s layout: per-parameter state by index, groups with ``params`` as indices."""
        index = {id(p): i for i, p in enumerate(self._params())}
        groups, start = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "amsgrad": False, "maximize": False, "params": list(range(start, start + n))})
            start += n
        state = {index[id(p)]: {k: v.clone() for k, v in s.items()} for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict` or from ``torch.optim.Adam.state_dict()``."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups) or any(
                len(s["params"]) != len(g["params"]) for s, g in zip(saved_groups, self.param_groups)):
            raise ValueError("Adam.load_state_dict: the saved parameter groups do not match this optimiser's")
        state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        for saved, group in zip(saved_groups, self.param_groups):
            for key, value in saved.items():
                if key not in ("params", "amsgrad", "maximize", "foreach", "capturable", "differentiable",
                               "fused", "decoupled_weight_decay"):
                    group[key] = tuple(value) if key == "betas" else copy.deepcopy(value)
            for i, param in zip(saved["params"], group["params"]):
                entry = state_dict["state"].get(i)
                if entry is None:
                    continue
                state[param] = {
                    "step": torch.as_tensor(entry["step"], dtype=torch.float32).detach().clone().cpu(),
                    "exp_avg": entry["exp_avg"].detach().to(param.device, param.dtype).clone(),
                    "exp_avg_sq": entry["exp_avg_sq"].detach().to(param.device, param.dtype).clone(),
                }
        self.state = state
