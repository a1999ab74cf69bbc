"""Optimizer construction from a `TrainConfig`, and gradient clipping.

| name    | torch class | settings used                                                 |
|---------|-------------|---------------------------------------------------------------|
| adam    | Adam        | lr, betas=(beta1, beta2), eps, weight_decay (L2, coupled)     |
| adamw   | AdamW       | lr, betas=(beta1, beta2), eps, weight_decay (decoupled)       |
| rmsprop | RMSprop     | lr, alpha (squared-gradient decay), eps, weight_decay,        |
|         |             | momentum                                                      |
| adagrad | Adagrad     | lr, eps, weight_decay                                         |
| sgd     | SGD         | lr, momentum, weight_decay                                    |

Adam and AdamW use torch's fused kernels (`fused=True`) when every parameter is a
floating-point tensor on the CPU or a CUDA device; otherwise torch's default (foreach kernels
on CUDA, a per-parameter loop on CPU). Measured on CPU (torch 2.13, a 4.3M-parameter 2-layer
LSTM model, one optimizer step): Adam 18.6 ms default, 15.1 ms foreach, 2.8 ms fused; AdamW
21.4 / 18.8 / 3.0 ms; a 79k-parameter model 0.33 / 0.27 / 0.10 ms. The other optimizers keep
torch's defaults (their fused kernels reject sparse gradients, which SGD and Adagrad accept).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from rnnlab.errors import InputError
from rnnlab.train.config import OPTIMIZERS, TrainConfig


def exempt_from_decay(name: str, param: torch.Tensor) -> bool:
    """Whether a parameter is left out of weight decay: biases and normalisation gains.

    Biases, layer-norm gains and biases (1-D) and the magnitude `g` of a weight-normalised
    weight (`….parametrizations.weight.original0`) are exempt; matrices, convolution kernels,
    embeddings and the direction `v` of a weight-normalised weight are decayed.
    """
    return param.dim() < 2 or name.endswith("parametrizations.weight.original0")


def param_groups(model: torch.nn.Module, weight_decay: float) -> list:
    """The model's trainable parameters as the optimizer takes them.

    Without weight decay: one plain list (in the model's order). With it: two groups, the
    decayed parameters with `weight_decay` and the exempt ones (`exempt_from_decay`) with 0.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    exempt = [p for n, p in named if exempt_from_decay(n, p)]
    if not weight_decay or not exempt:
        return [p for _, p in named]
    decayed = [p for n, p in named if not exempt_from_decay(n, p)]
    groups = [{"params": decayed}] if decayed else []
    return [*groups, {"params": exempt, "weight_decay": 0.0}]


def regroup_state(saved: dict, optimizer: torch.optim.Optimizer, order: list) -> dict:
    """An optimizer state saved with one parameter group, fitted to `optimizer`'s groups.

    Checkpoints written before biases and gains were exempted from weight decay hold one
    group over the parameters in the model's order (`order`); with weight decay the
    optimizer now has two. Each parameter keeps its moments; each new group keeps its own
    weight decay and takes the saved group's other settings. A state that already fits, or
    that cannot be mapped this way, is returned unchanged (loading it then says why).
    """
    groups = optimizer.param_groups
    if len(saved.get("param_groups", ())) != 1 or len(groups) < 2:
        return saved
    old = saved["param_groups"][0]
    if len(old["params"]) != len(order) or sum(len(g["params"]) for g in groups) != len(order):
        return saved
    position = {id(p): i for i, p in enumerate(order)}
    state: dict = {}
    new_groups = []
    index = 0
    for group in groups:
        ids = []
        for param in group["params"]:
            saved_id = old["params"][position[id(param)]]
            if saved_id in saved["state"]:
                state[index] = saved["state"][saved_id]
            ids.append(index)
            index += 1
        settings = {k: v for k, v in old.items() if k != "params"}
        new_groups.append({**settings, "weight_decay": group["weight_decay"], "params": ids})
    return {"state": state, "param_groups": new_groups}


def _listed(item: Any) -> Any:
    """Materialise a parameter group's `params` so it can be inspected and still be used.

    Args:
        item: a parameter, or a parameter-group dict whose `params` may be a generator.

    Returns:
        The item, with a group's `params` as a list.
    """
    if isinstance(item, dict) and not isinstance(item.get("params"), torch.Tensor):
        return {**item, "params": list(item.get("params", []))}
    return item


def _fused_ok(params: list) -> bool:
    """Whether torch's fused kernels can take these parameters.

    Args:
        params: parameters, (name, parameter) pairs, or group dicts with listed `params`.

    Returns:
        True if every parameter is a floating-point tensor on the CPU or a CUDA device.
    """
    for item in params:
        members = item["params"] if isinstance(item, dict) else [item]
        for p in [members] if isinstance(members, torch.Tensor) else members:
            p = p[1] if isinstance(p, tuple) else p
            if not (p.is_floating_point() and p.device.type in ("cpu", "cuda")):
                return False
    return True


def build_optimizer(params: Iterable, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Build the optimizer `cfg.optimizer` (table in the module docstring).

    Args:
        params: parameters or parameter-group dicts, as torch optimizers take them.
        cfg: uses `optimizer`, `lr`, `weight_decay`, `beta1`, `beta2`, `alpha`, `eps`,
            `momentum`.

    Returns:
        The optimizer (Adam/AdamW fused where possible, see the module docstring).

    Raises:
        InputError: unknown optimizer name (the valid ones are listed), no parameters, or a
            setting torch rejects (e.g. a negative learning rate).
    """
    name = cfg.optimizer
    params = [_listed(item) for item in params]
    if not params:
        raise InputError("build_optimizer: no parameters to optimise")
    betas = (cfg.beta1, cfg.beta2)
    common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    try:
        if name in ("adam", "adamw"):
            cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
            fused = True if _fused_ok(params) else None
            return cls(params, betas=betas, eps=cfg.eps, fused=fused, **common)
        if name == "rmsprop":
            return torch.optim.RMSprop(
                params, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum, **common
            )
        if name == "adagrad":
            return torch.optim.Adagrad(params, eps=cfg.eps, **common)
        if name == "sgd":
            return torch.optim.SGD(params, momentum=cfg.momentum, **common)
    except ValueError as e:
        raise InputError(f"build_optimizer: {name}: {e}") from None
    raise InputError(
        f"build_optimizer: unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}"
    )


def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """Global L2 norm of gradients, computed as `clip_grad_norm_` computes it.

    Args:
        grads: gradient tensors, possibly on several devices.

    Returns:
        A 0-dim tensor: the 2-norm of the per-tensor 2-norms.
    """
    if hasattr(torch.nn.utils, "get_total_norm"):
        return torch.nn.utils.get_total_norm(grads, norm_type=2.0)
    device = grads[0].device
    norms = [torch.linalg.vector_norm(g, 2.0).to(device) for g in grads]
    return torch.linalg.vector_norm(torch.stack(norms), 2.0)


def clip_gradients(
    params: Iterable[torch.Tensor] | torch.Tensor,
    *,
    clip_norm: float | None = None,
    clip_value: float | None = None,
) -> float:
    """Clip gradients in place: element-wise by value first, then by global L2 norm.

        g ← clamp(g, −clip_value, clip_value)                 (if clip_value)
        n = ‖(g_1, …, g_k)‖₂                                   (always)
        g ← g · min(1, clip_norm / (n + 1e-6))                 (if clip_norm)

    This is `torch.nn.utils.clip_grad_value_` followed by `clip_grad_norm_`.

    Args:
        params: parameters (or one tensor); those without a gradient are skipped.
        clip_norm: maximum global norm, or None for no norm clipping.
        clip_value: maximum absolute gradient element, or None for no value clipping.

    Returns:
        The global norm after value clipping and before norm clipping, as a float; 0.0 if no
        parameter has a gradient. A non-finite norm is returned as is (with norm clipping
        the gradients then become non-finite too); the caller decides to skip the step.

    Raises:
        InputError: clip_norm or clip_value not positive.
    """
    for label, limit in (("clip_norm", clip_norm), ("clip_value", clip_value)):
        if limit is not None and not limit > 0:
            raise InputError(f"clip_gradients: expected {label} > 0 or None, got {limit}")
    params = [params] if isinstance(params, torch.Tensor) else list(params)
    params = [p for p in params if p.grad is not None]
    if not params:
        return 0.0
    if clip_value is not None:
        torch.nn.utils.clip_grad_value_(params, clip_value)
    if clip_norm is not None:
        return float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
    return float(_total_norm([p.grad for p in params]))
