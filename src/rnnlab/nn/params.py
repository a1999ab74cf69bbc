"""Register recurrent parameters under torch's names and gather them for the math.

Torch-named weights (``weight_ih{s}``, ``weight_hh{s}``, ``bias_ih{s}``, ``bias_hh{s}``,
``weight_hr{s}``; ``{s}`` is ``""`` for cells and ``_l0``, ``_l0_reverse``, ``_l1``, … for
layers) keep torch.nn's shapes and order, so state dicts load both ways.  Layer-norm
parameters are extra and named after them with an ``ln_`` prefix:

* ``ln_weight_ih{s}``, ``ln_bias_ih{s}``: (G·H,) gain and bias of LN on ``x W_ihᵀ``;
* ``ln_weight_hh{s}``, ``ln_bias_hh{s}``: (G·H,) gain and bias of LN on ``h W_hhᵀ``;
* ``ln_weight_c{s}``, ``ln_bias_c{s}``: (H,) gain and bias of LN on the LSTM cell state.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.backends.contract import GATES, LayerWeights

Roles = dict[str, str]


def register_torch_weights(
    module: nn.Module,
    mode: str,
    input_size: int,
    hidden_size: int,
    suffix: str,
    *,
    bias: bool,
    proj_size: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Roles:
    """Register one layer-direction's torch-named parameters (uninitialised) on ``module``.

    Returns:
        Role → attribute name, roles among "w_ih", "w_hh", "b_ih", "b_hh", "w_hr".
    """
    gates = GATES[mode] * hidden_size
    width = proj_size or hidden_size
    shapes = {"w_ih": (gates, input_size), "w_hh": (gates, width)}
    if bias:
        shapes.update(b_ih=(gates,), b_hh=(gates,))
    if proj_size:
        shapes["w_hr"] = (proj_size, hidden_size)
    names = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}
    names["w_hr"] = "weight_hr"
    roles = {}
    for role, shape in shapes.items():
        roles[role] = names[role] + suffix
        module.register_parameter(
            roles[role], nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
        )
    return roles


def register_layer_norm(
    module: nn.Module,
    mode: str,
    hidden_size: int,
    suffix: str,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Roles:
    """Register one layer-direction's layer-norm gains and biases (uninitialised).

    Returns:
        Role → attribute name, roles "ln_ih.weight", "ln_ih.bias", … (and "ln_c.*" for LSTM).
    """
    widths = {"ih": GATES[mode] * hidden_size, "hh": GATES[mode] * hidden_size}
    if mode == "lstm":
        widths["c"] = hidden_size
    roles = {}
    for which, width in widths.items():
        for part in ("weight", "bias"):
            name = f"ln_{part}_{which}{suffix}"
            roles[f"ln_{which}.{part}"] = name
            module.register_parameter(
                name, nn.Parameter(torch.empty(width, device=device, dtype=dtype))
            )
    return roles


def gather(module: nn.Module, roles: Roles) -> LayerWeights:
    """The current tensors of one layer-direction (looked up by name at every call)."""

    def get(role: str) -> torch.Tensor | None:
        return getattr(module, roles[role]) if role in roles else None

    def ln(which: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        if f"ln_{which}.weight" not in roles:
            return None
        return get(f"ln_{which}.weight"), get(f"ln_{which}.bias")

    return LayerWeights(
        w_ih=get("w_ih"),
        w_hh=get("w_hh"),
        b_ih=get("b_ih"),
        b_hh=get("b_hh"),
        w_hr=get("w_hr"),
        ln_ih=ln("ih"),
        ln_hh=ln("hh"),
        ln_c=ln("c"),
    )
