"""RNNCell, LSTMCell and GRUCell: drop-in replacements for torch.nn's single-step cells.

Same constructor arguments, parameter names (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``), initialisation (same RNG draws as torch.nn under the same seed), forward
``(input, hx=None)`` on batched (B, I) or unbatched (I,) input and return types as torch.nn.
The math is `rnnlab.functional.cells`.  Keyword-only extras:

* ``layer_norm=True``: Ba et al. layer norm, parameters ``ln_weight_ih``, ``ln_bias_ih``,
  ``ln_weight_hh``, ``ln_bias_hh`` (and ``ln_weight_c``, ``ln_bias_c`` for the LSTM cell);
* ``zoneout=p`` (or ``(p_h, p_c)`` for LSTMCell): keep each unit's previous value with
  probability p while training, ``p · prev + (1 − p) · new`` in evaluation;
* ``init="torch"|"orthogonal"|"chrono"``, ``t_max=``, ``forget_bias=`` (LSTMCell): see
  `rnnlab.nn.init`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.errors import InputError
from rnnlab.functional.cells import gru_cell, lstm_cell, rnn_cell
from rnnlab.functional.regularize import zoneout, zoneout_mask
from rnnlab.nn.init import check_init, init_weights_
from rnnlab.nn.params import gather, register_layer_norm, register_torch_weights
from rnnlab.nn.regularize import parse_zoneout
from rnnlab.nn.validate import (
    check_bool,
    check_choice,
    check_flag,
    check_int,
    check_like_parameters,
    check_tensor,
    describe,
    shape_text,
)


class CellBase(nn.Module):
    """Shared machinery of the cells; ``mode`` is "rnn_tanh", "rnn_relu", "lstm" or "gru"."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        zoneout: float | tuple[float, float] = 0.0,
        init: str = "torch",
        t_max: float | None = None,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self._mode = mode
        self.input_size = check_int(owner, "input_size", input_size, minimum=1)
        self.hidden_size = check_int(owner, "hidden_size", hidden_size, minimum=1)
        self.bias = check_flag(owner, "bias", bias)
        self.layer_norm = check_bool(owner, "layer_norm", layer_norm)
        self.zoneout = parse_zoneout(owner, zoneout, has_cell=mode == "lstm")
        check_init(owner, mode, init, bias=self.bias, t_max=t_max, forget_bias=forget_bias)
        self.init, self.t_max, self.forget_bias = init, t_max, forget_bias
        factory = {"device": device, "dtype": dtype}
        self._roles = register_torch_weights(
            self, mode, self.input_size, self.hidden_size, "", bias=self.bias, **factory
        )
        if not self.bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        if self.layer_norm:
            self._roles.update(register_layer_norm(self, mode, self.hidden_size, "", **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise all parameters with this cell's ``init`` scheme (and forget_bias)."""
        init_weights_(
            [gather(self, self._roles)],
            self._mode,
            self.hidden_size,
            scheme=self.init,
            t_max=self.t_max,
            forget_bias=self.forget_bias,
        )

    def init_state(self, batch_size: int) -> Tensor | tuple[Tensor, Tensor]:
        """Zero state (B, H), or the pair (h, c) for the LSTM cell."""
        h = self.weight_ih.new_zeros(batch_size, self.hidden_size)
        return (h, torch.zeros_like(h)) if self._mode == "lstm" else h

    def to_torch(self) -> nn.Module:
        """The `torch.nn` cell that computes exactly this one, with these weights (for
        TorchScript and code that dispatches on torch's classes); layer norm and zoneout have
        no torch.nn equivalent and are an InputError."""
        owner = type(self).__name__
        extras = [n for n, on in (("layer_norm", self.layer_norm), ("zoneout", any(self.zoneout)))
                  if on]  # fmt: skip
        if extras:
            raise InputError(
                f"{owner}: torch.nn.{owner} computes no {', '.join(extras)}; only a cell "
                "without them converts (use torch.compile on the rnnlab cell instead)"
            )
        options = {"bias": self.bias}
        if self._mode.startswith("rnn"):
            options["nonlinearity"] = "relu" if self._mode == "rnn_relu" else "tanh"
        param = self.weight_ih
        twin = getattr(nn, owner)(self.input_size, self.hidden_size, **options,
                                  device=param.device, dtype=param.dtype)  # fmt: skip
        twin.load_state_dict(self.state_dict())
        return twin.train(self.training)

    def __prepare_scriptable__(self) -> nn.Module:
        """`torch.jit.script` scripts the equivalent torch.nn cell (`to_torch`)."""
        try:
            return self.to_torch()
        except InputError as err:
            raise InputError(f"torch.jit.script: {err}") from None

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if not self.bias:
            parts.append("bias=False")
        if self._mode == "rnn_relu":
            parts.append("nonlinearity=relu")  # as torch.nn.RNNCell shows it
        if self.layer_norm:
            parts.append("layer_norm=True")
        if any(self.zoneout):
            parts.append(f"zoneout={self.zoneout}")
        if self.init != "torch":
            parts.append(f"init={self.init!r}")
        if self.t_max is not None:
            parts.append(f"t_max={self.t_max}")
        if self.forget_bias is not None:
            parts.append(f"forget_bias={self.forget_bias}")
        return ", ".join(parts)

    def _batched_input(self, owner: str, input: object) -> tuple[Tensor, bool]:
        """Validate the input; return it as (B, I) and whether it was batched."""
        size = self.input_size
        if not isinstance(input, Tensor) or input.dim() not in (1, 2):
            got = describe(input)
            raise InputError(
                f"{owner}: expected input of shape {shape_text(('B', size))} or unbatched "
                f"({size},), got {got}"
            )
        pattern = ("B", size) if input.dim() == 2 else (size,)
        x = check_tensor(owner, "input", input, pattern)
        x = x if x.dim() == 2 else x.unsqueeze(0)  # (B, I)
        check_like_parameters(owner, "input", x, self.weight_ih)
        return x, input.dim() == 2

    def _state(self, owner: str, what: str, value: object, x: Tensor, batched: bool) -> Tensor:
        """Validate one state tensor (or make zeros) as (B, H)."""
        if value is None:
            return torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        pattern = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        value = check_tensor(owner, what, value, pattern)
        check_like_parameters(owner, what, value, self.weight_ih)
        return value if batched else value.unsqueeze(0)

    def _zone(self, prev: Tensor, new: Tensor, p: float) -> Tensor:
        if not p:
            return new
        new = new.to(prev.dtype)
        keep = zoneout_mask(new.shape, p, device=new.device) if self.training else None
        return zoneout(prev, new, p, keep=keep)


class RNNCell(CellBase):
    """Elman cell ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu); torch.nn.RNNCell API.

    Args:
        input_size, hidden_size, bias, nonlinearity, device, dtype: as torch.nn.RNNCell.
        layer_norm, zoneout, init, t_max: extras, see the module docstring.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        zoneout: float = 0.0,
        init: str = "torch",
        t_max: float | None = None,
    ) -> None:
        self.nonlinearity = check_choice(
            type(self).__name__, "nonlinearity", nonlinearity, ("tanh", "relu")
        )
        super().__init__(
            f"rnn_{nonlinearity}",
            input_size,
            hidden_size,
            bias,
            device,
            dtype,
            layer_norm=layer_norm,
            zoneout=zoneout,
            init=init,
            t_max=t_max,
        )

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """input (B, I) or (I,), hx (B, H) or (H,) (zeros if None) → h' shaped like hx."""
        owner = type(self).__name__
        x, batched = self._batched_input(owner, input)
        h = self._state(owner, "hx", hx, x, batched)
        w = gather(self, self._roles)
        h_new = rnn_cell(
            x,
            h,
            w.w_ih,
            w.w_hh,
            w.b_ih,
            w.b_hh,
            nonlinearity=self.nonlinearity,
            ln_ih=w.ln_ih,
            ln_hh=w.ln_hh,
        )  # (B, H)
        h_new = self._zone(h, h_new, self.zoneout[0])
        return h_new if batched else h_new.squeeze(0)


class LSTMCell(CellBase):
    """LSTM cell (gate order i, f, g, o); torch.nn.LSTMCell API.

    Args:
        input_size, hidden_size, bias, device, dtype: as torch.nn.LSTMCell.
        layer_norm, zoneout, init, t_max, forget_bias: extras, see the module docstring.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        zoneout: float | tuple[float, float] = 0.0,
        init: str = "torch",
        t_max: float | None = None,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__(
            "lstm",
            input_size,
            hidden_size,
            bias,
            device,
            dtype,
            layer_norm=layer_norm,
            zoneout=zoneout,
            init=init,
            t_max=t_max,
            forget_bias=forget_bias,
        )

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """input (B, I) or (I,), hx = (h, c) each (B, H) or (H,) (zeros if None) → (h', c')."""
        owner = type(self).__name__
        x, batched = self._batched_input(owner, input)
        if hx is not None and not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise InputError(f"{owner}: expected hx to be a pair (h, c), got {type(hx).__name__}")
        h = self._state(owner, "h", None if hx is None else hx[0], x, batched)
        c = self._state(owner, "c", None if hx is None else hx[1], x, batched)
        w = gather(self, self._roles)
        h_new, c_new = lstm_cell(
            x,
            (h, c),
            w.w_ih,
            w.w_hh,
            w.b_ih,
            w.b_hh,
            ln_ih=w.ln_ih,
            ln_hh=w.ln_hh,
            ln_c=w.ln_c,
        )  # (B, H), (B, H)
        h_new = self._zone(h, h_new, self.zoneout[0])
        c_new = self._zone(c, c_new, self.zoneout[1])
        if not batched:
            return h_new.squeeze(0), c_new.squeeze(0)
        return h_new, c_new


class GRUCell(CellBase):
    """GRU cell (gate order r, z, n); torch.nn.GRUCell API.

    Args:
        input_size, hidden_size, bias, device, dtype: as torch.nn.GRUCell.
        layer_norm, zoneout, init, t_max: extras, see the module docstring.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        zoneout: float = 0.0,
        init: str = "torch",
        t_max: float | None = None,
    ) -> None:
        super().__init__(
            "gru",
            input_size,
            hidden_size,
            bias,
            device,
            dtype,
            layer_norm=layer_norm,
            zoneout=zoneout,
            init=init,
            t_max=t_max,
        )

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """input (B, I) or (I,), hx (B, H) or (H,) (zeros if None) → h' shaped like hx."""
        owner = type(self).__name__
        x, batched = self._batched_input(owner, input)
        h = self._state(owner, "hx", hx, x, batched)
        w = gather(self, self._roles)
        h_new = gru_cell(x, h, w.w_ih, w.w_hh, w.b_ih, w.b_hh, ln_ih=w.ln_ih, ln_hh=w.ln_hh)
        h_new = self._zone(h, h_new, self.zoneout[0])
        return h_new if batched else h_new.squeeze(0)
