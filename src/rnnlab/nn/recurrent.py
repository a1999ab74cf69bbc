"""RNN, LSTM and GRU layers: drop-in replacements for torch.nn's, with keyword-only extras.

Same constructor arguments, parameter names and registration order (``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``weight_hr_l0``, then ``…_l0_reverse``,
``…_l1``, …), default initialisation (same RNG draws, so the same weights under the same
seed), forward signature, output and state shapes as torch.nn, so ``load_state_dict`` works
both ways.  Extras, all keyword-only:

* ``forward(…, lengths=)``: per-sequence lengths for a padded input (any order); outputs
  past each length are zero and the final state is each sequence's state at its own last
  step, in both directions.
* ``layer_norm=True``: Ba et al. layer norm (see `rnnlab.functional.cells`); parameters
  ``ln_weight_ih_l0``, ``ln_bias_ih_l0``, ``ln_weight_hh_l0``, ``ln_bias_hh_l0`` (and
  ``ln_weight_c_l0``, ``ln_bias_c_l0`` for the LSTM), registered after the torch-named ones.
* ``zoneout=p`` or ``(p_h, p_c)``, ``weight_drop=p``, ``locked_dropout=True``: see
  `rnnlab.nn.regularize`.
* ``init="torch"|"orthogonal"|"chrono"``, ``t_max=``, ``forget_bias=``: see
  `rnnlab.nn.init`.  ``forget_bias`` exists only for the LSTM (GRU and RNN have no forget
  gate; passing it to them is a TypeError, the GRU's analogue is ``init="chrono"``).
* ``backend="auto"|"torch"|"loop"|"triton"``: see `rnnlab.backends`; the choice shows in the
  repr, e.g. ``LSTM(32, 64, num_layers=2, backend=auto→torch)``.
"""

from __future__ import annotations

import warnings

import torch
import torch.backends.cudnn
import torch.backends.cudnn.rnn
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnlab.backends import (
    NAMES,
    Backend,
    LayerWeights,
    RecurrentSpec,
    State,
    permute_state,
    resolve,
)
from rnnlab.errors import InputError
from rnnlab.nn.init import check_init, init_weights_
from rnnlab.nn.params import gather, register_layer_norm, register_torch_weights
from rnnlab.nn.regularize import check_probability, draw_masks, parse_zoneout
from rnnlab.nn.validate import (
    check_bool,
    check_choice,
    check_int,
    check_lengths,
    check_like_parameters,
    check_tensor,
    time_major_input,
)

_KINDS = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}


class RecurrentBase(nn.Module):
    """Shared machinery of `RNN`, `LSTM` and `GRU` (torch's ``mode`` strings name the cell)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
        layer_norm: bool = False,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        init: str = "torch",
        t_max: float | None = None,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        kind = _KINDS[mode]
        self.mode = mode
        self.input_size = check_int(owner, "input_size", input_size, minimum=1)
        self.hidden_size = check_int(owner, "hidden_size", hidden_size, minimum=1)
        self.num_layers = check_int(owner, "num_layers", num_layers, minimum=1)
        self.bias = check_bool(owner, "bias", bias)
        self.batch_first = check_bool(owner, "batch_first", batch_first)
        self.dropout = check_probability(owner, "dropout", dropout)
        self.bidirectional = check_bool(owner, "bidirectional", bidirectional)
        self.proj_size = check_int(owner, "proj_size", proj_size, minimum=0)
        if self.proj_size and kind != "lstm":
            raise InputError(f"{owner}: proj_size is supported only by LSTM, got {proj_size}")
        if self.proj_size >= self.hidden_size:
            raise InputError(
                f"{owner}: expected proj_size < hidden_size = {hidden_size}, got {proj_size}"
            )
        self.backend = check_choice(owner, "backend", backend, NAMES)
        self.layer_norm = check_bool(owner, "layer_norm", layer_norm)
        self.zoneout = parse_zoneout(owner, zoneout, has_cell=kind == "lstm")
        self.weight_drop = check_probability(owner, "weight_drop", weight_drop, allow_one=False)
        self.locked_dropout = check_bool(owner, "locked_dropout", locked_dropout)
        check_init(owner, kind, init, bias=self.bias, t_max=t_max, forget_bias=forget_bias)
        self.init, self.t_max, self.forget_bias = init, t_max, forget_bias
        if self.dropout and self.num_layers == 1:
            warnings.warn(
                f"{owner}: dropout acts between stacked layers, so non-zero dropout expects "
                f"num_layers > 1, got dropout={self.dropout} and num_layers=1",
                stacklevel=3,
            )
        where = torch.device(device) if device is not None else torch.get_default_device()
        try:
            resolve(self.backend, self.spec, where)
        except InputError as err:
            raise InputError(f"{owner}: {err}") from None

        factory = {"device": device, "dtype": dtype}
        suffixes = [
            f"_l{layer}" + ("_reverse" if direction else "")
            for layer in range(self.num_layers)
            for direction in range(self.spec.num_directions)
        ]
        self._roles = [
            register_torch_weights(
                self,
                kind,
                self.spec.layer_input_size(i // self.spec.num_directions),
                self.hidden_size,
                suffix,
                bias=self.bias,
                proj_size=self.proj_size,
                **factory,
            )
            for i, suffix in enumerate(suffixes)
        ]
        self._all_weights = [list(roles.values()) for roles in self._roles]
        self._flat_weights_names = [name for names in self._all_weights for name in names]
        if self.layer_norm:
            for roles, suffix in zip(self._roles, suffixes, strict=True):
                roles.update(register_layer_norm(self, kind, self.hidden_size, suffix, **factory))
        self.reset_parameters()
        self.flatten_parameters()

    @property
    def spec(self) -> RecurrentSpec:
        """What this stack computes, as the backends see it."""
        return RecurrentSpec(
            mode=_KINDS[self.mode],
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            bidirectional=self.bidirectional,
            proj_size=self.proj_size,
            dropout=self.dropout,
            locked_dropout=self.locked_dropout,
            layer_norm=self.layer_norm,
            zoneout=self.zoneout,
            weight_drop=self.weight_drop,
        )

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The torch-named parameters per layer-direction, as torch.nn's ``all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def layer_weights(self) -> list[LayerWeights]:
        """The current weights per layer-direction (l0, l0_reverse, l1, …)."""
        return [gather(self, roles) for roles in self._roles]

    def selected_backend(self) -> Backend:
        """The backend a forward call on the parameters' device uses."""
        return resolve(self.backend, self.spec, self.weight_ih_l0.device)

    def reset_parameters(self) -> None:
        """Re-initialise all parameters with this module's ``init`` scheme (and forget_bias)."""
        init_weights_(
            self.layer_weights(),
            _KINDS[self.mode],
            self.hidden_size,
            scheme=self.init,
            t_max=self.t_max,
            forget_bias=self.forget_bias,
        )

    def flatten_parameters(self) -> None:
        """Lay the torch-named weights out in cuDNN's single buffer, as torch.nn does.

        Only on CUDA with cuDNN; a no-op elsewhere (CPU ops take the weights as they are).
        """
        weights = self._flat_weights
        if not all(isinstance(w, Tensor) for w in weights):
            return  # a weight deleted (to be assigned again), as torch.nn skips it
        first = weights[0]
        if not (first.is_cuda and torch.backends.cudnn.is_acceptable(first)):
            return
        if any(w.dtype != first.dtype or not w.is_cuda for w in weights):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return
        if not torch._use_cudnn_rnn_flatten_weight():
            return
        with torch.cuda.device_of(first), torch.no_grad():
            torch._cudnn_rnn_flatten_weight(
                weights,
                (4 if self.bias else 2) + (1 if self.proj_size else 0),
                self.input_size,
                torch.backends.cudnn.rnn.get_cudnn_mode(self.mode),
                self.hidden_size,
                self.proj_size,
                self.num_layers,
                self.batch_first,
                self.bidirectional,
            )

    @property
    def _flat_weights(self) -> list[Tensor | None]:
        """The torch-named parameters in torch.nn's order (torch.nn keeps the same list), None
        for one deleted (as torch.nn's list holds; assigning it again restores it)."""
        return [getattr(self, name, None) for name in self._flat_weights_names]

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        self.flatten_parameters()
        return result

    def init_state(self, batch_size: int) -> State:
        """Zero initial state: h (L·D, B, P), or (h, c) with c (L·D, B, H) for the LSTM."""
        param = self.weight_ih_l0
        rows = self.num_layers * self.spec.num_directions
        h = param.new_zeros(rows, batch_size, self.spec.output_size)
        if self.mode == "LSTM":
            return h, param.new_zeros(rows, batch_size, self.hidden_size)
        return h

    def computing_extras(self) -> list[str]:
        """The extras that change what the layer computes (torch.nn has none of them)."""
        extras = []
        if self.layer_norm:
            extras.append("layer_norm")
        if any(self.zoneout):
            extras.append("zoneout")
        if self.weight_drop:
            extras.append("weight_drop")
        if self.locked_dropout and self.dropout and self.num_layers > 1:
            extras.append("locked_dropout")
        return extras

    def to_torch(self) -> nn.Module:
        """The `torch.nn` layer that computes exactly this one, with these weights.

        For code that needs torch's own class (TorchScript, exporters and tools
        that dispatch on `torch.nn.LSTM`). Initialisation options (`init`, `forget_bias`) and
        `backend` carry over (they change no computation); layer norm, zoneout, DropConnect
        and locked dropout have no torch.nn equivalent and are an InputError.
        """
        owner = type(self).__name__
        extras = self.computing_extras()
        if extras:
            raise InputError(
                f"{owner}: torch.nn.{owner} computes no {', '.join(extras)}; only a layer "
                "without them converts (use torch.compile on the rnnlab layer instead)"
            )
        options = dict(num_layers=self.num_layers, bias=self.bias, batch_first=self.batch_first,
                       dropout=self.dropout, bidirectional=self.bidirectional)  # fmt: skip
        if self.mode == "LSTM":
            options["proj_size"] = self.proj_size
        if self.mode.startswith("RNN"):
            options["nonlinearity"] = "relu" if self.mode == "RNN_RELU" else "tanh"
        param = self.weight_ih_l0
        with warnings.catch_warnings():  # the dropout-with-one-layer warning was given already
            warnings.simplefilter("ignore", UserWarning)
            twin = getattr(nn, owner)(self.input_size, self.hidden_size, **options,
                                      device=param.device, dtype=param.dtype)  # fmt: skip
        twin.load_state_dict(self.state_dict())
        return twin.train(self.training)

    def __prepare_scriptable__(self) -> nn.Module:
        """`torch.jit.script` scripts the equivalent torch.nn layer (`to_torch`)."""
        try:
            return self.to_torch()
        except InputError as err:
            raise InputError(f"torch.jit.script: {err}") from None

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if self.proj_size:
            parts.append(f"proj_size={self.proj_size}")
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if not self.bias:
            parts.append("bias=False")
        if self.batch_first:
            parts.append("batch_first=True")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        if self.bidirectional:
            parts.append("bidirectional=True")
        # torch.nn's fields above, in its order; rnnlab's below (torch.nn.RNN shows no
        # nonlinearity)
        if self.mode == "RNN_RELU":
            parts.append("nonlinearity='relu'")
        if self.layer_norm:
            parts.append("layer_norm=True")
        if any(self.zoneout):
            parts.append(f"zoneout={self.zoneout}")
        if self.weight_drop:
            parts.append(f"weight_drop={self.weight_drop}")
        if self.locked_dropout:
            parts.append("locked_dropout=True")
        if self.init != "torch":
            parts.append(f"init={self.init!r}")
        if self.t_max is not None:
            parts.append(f"t_max={self.t_max}")
        if self.forget_bias is not None:
            parts.append(f"forget_bias={self.forget_bias}")
        chosen = self.selected_backend().name
        parts.append(
            f"backend={self.backend}→{chosen}" if self.backend == "auto" else f"backend={chosen}"
        )
        return ", ".join(parts)

    def _time_major(self, owner: str, input: object) -> tuple[Tensor, bool]:
        """Validate a padded input and return it as (T, B, I), and whether it was batched."""
        return time_major_input(
            owner, input, self.input_size, self.batch_first, alternatives="or a PackedSequence"
        )

    def _initial_state(
        self, owner: str, hx: object, x: Tensor, batch: int, batched: bool, order: Tensor | None
    ) -> State:
        """Validate ``hx`` (or make zeros) as time-major state in the batch order of ``x``."""
        rows = self.num_layers * self.spec.num_directions
        lstm = self.mode == "LSTM"
        h_shape = (rows, batch, self.spec.output_size)
        c_shape = (rows, batch, self.hidden_size)
        if hx is None:
            h = torch.zeros(h_shape, dtype=x.dtype, device=x.device)
            return (h, torch.zeros(c_shape, dtype=x.dtype, device=x.device)) if lstm else h
        if lstm and not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise InputError(
                f"{owner}: expected hx to be a pair (h_0, c_0), got {type(hx).__name__}"
            )
        parts = (
            [("h_0", hx[0], h_shape), ("c_0", hx[1], c_shape)] if lstm else [("h_0", hx, h_shape)]
        )
        states = []
        for what, value, shape in parts:
            pattern = shape if batched else (shape[0], shape[2])
            value = check_tensor(owner, what, value, pattern)
            check_like_parameters(owner, what, value, self.weight_ih_l0)
            value = value if batched else value.unsqueeze(1)
            states.append(value if order is None else value.index_select(1, order))
        return tuple(states) if lstm else states[0]

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: State | None = None,
        *,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, State]:
        """Run the stack over a sequence.

        Args:
            input: (T, B, I) (or (B, T, I) with batch_first), unbatched (T, I), or a
                PackedSequence of data (N, I).
            hx: initial state, zeros if None: h_0 (L·D, B, P) for RNN/GRU, (h_0, c_0) with
                c_0 (L·D, B, H) for the LSTM; unbatched input takes (L·D, P) / (L·D, H).
                P = proj_size or H; batch order as the caller's input.
            lengths: (B,) ints in [1, T], any order, only with a padded input.

        Returns:
            ``(output, h_n)`` or, for the LSTM, ``(output, (h_n, c_n))``: output (T, B, D·P)
            (batch_first / unbatched / packed like the input), zero past each length; h_n and
            c_n shaped like h_0 and c_0, each sequence's state after its own last step.
        """
        owner = type(self).__name__
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise InputError(
                    f"{owner}: lengths= cannot be combined with a PackedSequence input, "
                    "which carries its own lengths"
                )
            x = check_tensor(owner, "packed data", input.data, ("N", self.input_size))
            batch_sizes, order, batched = input.batch_sizes, input.sorted_indices, True
            steps = len(batch_sizes)
            # B from the permutation's length where there is one: reading batch_sizes[0] out
            # of the tensor would break a torch.compile graph
            batch = int(batch_sizes[0]) if order is None else len(order)
        else:
            x, batched = self._time_major(owner, input)
            batch_sizes, order = None, None
            steps, batch = x.shape[:2]
        check_like_parameters(owner, "input", x, self.weight_ih_l0)
        state = self._initial_state(owner, hx, x, batch, batched, order)
        if lengths is not None:
            lengths = check_lengths(owner, lengths, batch, steps)
            if batch == 0:
                lengths = None  # nothing to mask (and nothing to pack) in an empty batch
        spec, weights = self.spec, self.layer_weights()
        masks = draw_masks(
            spec, weights, batch, training=self.training, device=x.device, dtype=x.dtype
        )
        backend = resolve(self.backend, spec, x.device, steps=steps)
        y, state = backend.forward(
            spec, weights, x, state, batch_sizes=batch_sizes, lengths=lengths, masks=masks
        )
        if packed:
            out = PackedSequence(y, batch_sizes, input.sorted_indices, input.unsorted_indices)
            undo = input.unsorted_indices
            return out, state if undo is None else permute_state(state, undo)
        if not batched:
            y = y.squeeze(1)  # (T, D·P)
            state = (
                tuple(s.squeeze(1) for s in state) if isinstance(state, tuple) else state.squeeze(1)
            )
        elif self.batch_first:
            y = y.transpose(0, 1)  # (B, T, D·P)
        return y, state


class RNN(RecurrentBase):
    """Elman RNN stack, ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu); torch.nn.RNN API.

    Args:
        input_size, hidden_size, num_layers, nonlinearity, bias, batch_first, dropout,
        bidirectional, device, dtype: as torch.nn.RNN.
        proj_size: accepted like torch.nn, which allows only 0 for RNN.
        backend, layer_norm, zoneout, weight_drop, locked_dropout, init, t_max: extras,
            see the module docstring (init="chrono" needs gates, so not for RNN).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        proj_size: int = 0,
        backend: str = "auto",
        layer_norm: bool = False,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        init: str = "torch",
        t_max: float | None = None,
    ) -> None:
        self.nonlinearity = check_choice(
            type(self).__name__, "nonlinearity", nonlinearity, ("tanh", "relu")
        )
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
            backend=backend,
            layer_norm=layer_norm,
            zoneout=zoneout,
            weight_drop=weight_drop,
            locked_dropout=locked_dropout,
            init=init,
            t_max=t_max,
        )


class LSTM(RecurrentBase):
    """LSTM stack (gate order i, f, g, o; optional projection); torch.nn.LSTM API.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
        proj_size, device, dtype: as torch.nn.LSTM.
        backend, layer_norm, zoneout, weight_drop, locked_dropout, init, t_max,
        forget_bias: extras, see the module docstring.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
        layer_norm: bool = False,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        init: str = "torch",
        t_max: float | None = None,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
            backend=backend,
            layer_norm=layer_norm,
            zoneout=zoneout,
            weight_drop=weight_drop,
            locked_dropout=locked_dropout,
            init=init,
            t_max=t_max,
            forget_bias=forget_bias,
        )


class GRU(RecurrentBase):
    """GRU stack (gate order r, z, n); torch.nn.GRU API.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
        device, dtype: as torch.nn.GRU.
        proj_size: accepted like torch.nn, which allows only 0 for GRU.
        backend, layer_norm, zoneout, weight_drop, locked_dropout, init, t_max: extras,
            see the module docstring.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        proj_size: int = 0,
        backend: str = "auto",
        layer_norm: bool = False,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        init: str = "torch",
        t_max: float | None = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
            backend=backend,
            layer_norm=layer_norm,
            zoneout=zoneout,
            weight_drop=weight_drop,
            locked_dropout=locked_dropout,
            init=init,
            t_max=t_max,
        )
