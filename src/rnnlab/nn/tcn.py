"""Temporal convolutional network (Bai, Kolter & Koltun 2018): dilated, residual, weight-normed.

A stack of residual blocks over (B, C, T) sequences, laid out like `torch.nn.Conv1d`. Level i
(0-based) has dilation d = 2**i; each block is

    h = Dropout(ReLU(WN-Conv_d(pad(x))))           # (B, C_out, T)
    h = Dropout(ReLU(WN-Conv_d(pad(h))))           # (B, C_out, T)
    y = ReLU(h + R x),   R = 1x1 Conv1d if C_in ≠ C_out else identity

where WN-Conv_d is a dilated convolution whose weight is weight-normalised,
``w = g · v / ‖v‖`` per output channel (`torch.nn.utils.parametrizations.weight_norm`).
A causal network pads each convolution on the left only, by (k − 1)·d zeros, so that the output
at t depends on inputs at times ≤ t; it can also be run one step at a time (`init_state`,
`step`), keeping for each convolution the last (k − 1)·d inputs it saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from rnnlab.errors import InputError
from rnnlab.nn.regularize import check_probability
from rnnlab.nn.validate import (
    check_bool,
    check_int,
    check_like_parameters,
    check_tensor,
    describe,
    shape_text,
)

_NAME = "TemporalConvNet"
_STEP = "TemporalConvNet.step"


def receptive_field(kernel_size: int, levels: int) -> int:
    """How many steps a causal TCN sees: 1 + 2·(k − 1)·(2^L − 1) (two convolutions per level)."""
    return 1 + 2 * (kernel_size - 1) * (2**levels - 1)


def _init_conv_(conv: nn.Conv1d, weight: Tensor, std: float | None) -> None:
    """`weight` drawn as torch.nn.Conv1d draws it (std None), or from N(0, std²); the bias as
    torch.nn.Conv1d draws it (std None), or zero."""
    if std is None:
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # torch.nn.Conv1d's default
        bound = 1.0 / math.sqrt(weight[0].numel())
        nn.init.uniform_(conv.bias, -bound, bound)
    else:
        nn.init.normal_(weight, 0.0, std)
        nn.init.zeros_(conv.bias)


def _init_weight_normed_(conv: nn.Conv1d, std: float | None) -> None:
    """Direction v drawn by `_init_conv_` and magnitude g = ‖v‖ per output channel (w = v)."""
    weight = conv.parametrizations.weight
    g, v = weight.original0, weight.original1  # (C_out, 1, 1), (C_out, C_in, k)
    _init_conv_(conv, v, std)
    with torch.no_grad():
        g.copy_(torch.linalg.vector_norm(v, dim=(1, 2), keepdim=True))


def _conv_step(conv: nn.Conv1d, buffer: Tensor, x: Tensor, dilation: int) -> tuple[Tensor, Tensor]:
    """One output step of a causal dilated convolution from its input history.

    Math: ``y_t = b + Σ_j W[:, :, j] x_{t − (k−1−j)·d}``; with the window
    ``[x_{t−(k−1)d}, …, x_{t−1}, x_t]`` the taps are its positions 0, d, 2d, …, (k − 1)·d.

    Args:
        conv: the convolution (weight (C_out, C_in, k)).
        buffer: (B, C_in, (k − 1)·d), the last inputs it saw, oldest first.
        x: (B, C_in), the input at t.
        dilation: d.

    Returns:
        y_t (B, C_out) and the new buffer (B, C_in, (k − 1)·d).
    """
    window = torch.cat([buffer, x.unsqueeze(-1)], dim=-1)  # (B, C_in, (k−1)d + 1)
    taps = window[..., ::dilation]  # (B, C_in, k)
    y = F.linear(taps.flatten(1), conv.weight.flatten(1), conv.bias)  # (B, C_out)
    return y, window[..., 1:]


class TemporalBlock(nn.Module):
    """One residual level of a `TemporalConvNet`: two weight-normed dilated convolutions.

    Math (d the dilation, p the dropout probability)::

        h = Dropout_p(ReLU(conv1(pad(x))));  h = Dropout_p(ReLU(conv2(pad(h))))
        y = ReLU(h + R x),  R = downsample (1x1 Conv1d) if C_in ≠ C_out else identity

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: k ≥ 1.
        dilation: d ≥ 1.
        dropout: p in [0, 1).
        causal: left padding (k − 1)·d; else "same" padding, the extra zero (even total) on
            the right, as torch.nn.Conv1d(padding="same") does.
        init_std: None: torch.nn.Conv1d's initialisation; a float: weights N(0, init_std²)
            and zero biases.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        dropout: float,
        *,
        causal: bool,
        init_std: float | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.init_std = init_std
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation = kernel_size, dilation
        total = (kernel_size - 1) * dilation
        self.padding = (total, 0) if causal else (total // 2, total - total // 2)
        self.conv1 = weight_norm(
            nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, **factory)
        )
        self.conv2 = weight_norm(
            nn.Conv1d(out_channels, out_channels, kernel_size, dilation=dilation, **factory)
        )
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.downsample = (
            nn.Conv1d(in_channels, out_channels, 1, **factory)
            if in_channels != out_channels
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """v drawn as torch.nn.Conv1d draws a weight (or N(0, init_std²)), g = ‖v‖ (so w = v);
        the 1x1 projection and the biases likewise."""
        for conv in (self.conv1, self.conv2):
            _init_weight_normed_(conv, self.init_std)
        if self.downsample is not None:
            _init_conv_(self.downsample, self.downsample.weight, self.init_std)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}"
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C_in, T) → (B, C_out, T)."""
        h = self.dropout1(F.relu(self.conv1(F.pad(x, self.padding))))  # (B, C_out, T)
        h = self.dropout2(F.relu(self.conv2(F.pad(h, self.padding))))  # (B, C_out, T)
        residual = x if self.downsample is None else self.downsample(x)  # (B, C_out, T)
        return F.relu(h + residual)

    def step(
        self, x: Tensor, buffers: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One causal step without dropout: x (B, C_in) → y (B, C_out), new (buffer1, buffer2)."""
        h, buffer1 = _conv_step(self.conv1, buffers[0], x, self.dilation)
        h, buffer2 = _conv_step(self.conv2, buffers[1], F.relu(h), self.dilation)
        if self.downsample is None:
            residual = x
        else:
            ds = self.downsample
            residual = F.linear(x, ds.weight.squeeze(-1), ds.bias)  # (B, C_out)
        return F.relu(F.relu(h) + residual), (buffer1, buffer2)


class TemporalConvNet(nn.Module):
    """Temporal convolutional network (Bai, Kolter & Koltun 2018).

    Level i = 0 … L − 1 is a residual `TemporalBlock` of width ``channels[i]`` and dilation
    d_i = 2**i::

        h = Dropout(ReLU(WN-Conv_{d_i}(pad(x))));  h = Dropout(ReLU(WN-Conv_{d_i}(pad(h))))
        x ← ReLU(h + R x)       R: 1x1 Conv1d when the widths differ, identity otherwise

    with weight norm ``w = g · v / ‖v‖`` (per output channel, the parametrization API
    `torch.nn.utils.parametrizations.weight_norm`). Each convolution spans (k − 1)·d_i + 1
    steps, so the receptive field is ``1 + 2·(k − 1)·(2**L − 1)``.

    Padding: causal (default) pads every convolution on the left by (k − 1)·d, so the output
    at t depends on inputs at times t − receptive_field + 1 … t. Non-causal uses "same"
    padding, output length T: symmetric, (k − 1)·d / 2 on each side, for odd k (output at t
    sees t − r … t + r, r = (receptive_field − 1) / 2); for even k the total (k − 1)·d may be
    odd, and then the extra zero goes on the right, exactly as torch.nn.Conv1d(padding="same").

    Initialisation: each weight-normed convolution draws its direction v as torch.nn.Conv1d
    draws a weight (Kaiming-uniform with a = √5, bias U(±1/√fan_in)) and sets g = ‖v‖ per
    output channel, so the initial weight equals the draw; the 1x1 projections are drawn as
    torch.nn.Conv1d's. This is what the reference code (locuslab/TCN) effectively trains
    with: its ``conv.weight.data.normal_(0, 0.01)`` after weight norm has no lasting effect,
    since the weight is recomputed from g and v at every call. Its intended N(0, 0.01²) is
    available as ``init_std=0.01`` (weights N(0, init_std²), biases zero); at that scale a
    network on real-valued inputs is nearly constant in its input at initialisation and
    learns slowly or not at all (on the adding problem it stays at the mean predictor).
    `reset_parameters` redraws everything.

    Streaming (causal only): ``state = init_state(B)``; ``y_t, state = step(x_t, state)``
    equals the full forward at every step in eval mode. `step` never applies dropout: it is
    the evaluation-mode computation whatever the module's training flag.

    Args:
        input_size: C_in, the input channels.
        channels: widths per level, a non-empty sequence of ints ≥ 1; L = len(channels).
        kernel_size: k ≥ 1 (k = 1: no temporal mixing, receptive field 1).
        dropout: probability in [0, 1) of the dropout after each convolution's ReLU.
        causal: left padding only (default), else "same" padding (see above).
        init_std: None (default): torch.nn.Conv1d's initialisation; a float: weights
            N(0, init_std²) and zero biases (see above).
        device, dtype: of the parameters, as for torch.nn.Conv1d.

    Shapes:
        input (B, C_in, T) or unbatched (C_in, T), T ≥ 1; output (B, channels[-1], T) or
        (channels[-1], T).
    """

    def __init__(
        self,
        input_size: int,
        channels: Sequence[int],
        kernel_size: int = 2,
        dropout: float = 0.0,
        *,
        causal: bool = True,
        init_std: float | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_int(_NAME, "input_size", input_size, minimum=1)
        if init_std is not None and not (isinstance(init_std, (int, float)) and init_std > 0):
            raise InputError(f"{_NAME}: expected init_std > 0 or None, got {init_std!r}")
        self.channels = _check_channels(channels)
        self.kernel_size = check_int(_NAME, "kernel_size", kernel_size, minimum=1)
        self.dropout = check_probability(_NAME, "dropout", dropout, allow_one=False)
        self.causal = check_bool(_NAME, "causal", causal)
        self.output_size = self.channels[-1]
        levels = len(self.channels)
        self.receptive_field = receptive_field(self.kernel_size, levels)
        widths = (self.input_size, *self.channels)
        self.blocks = nn.ModuleList(
            TemporalBlock(
                widths[i],
                widths[i + 1],
                self.kernel_size,
                2**i,
                self.dropout,
                causal=self.causal,
                init_std=init_std,
                device=device,
                dtype=dtype,
            )
            for i in range(levels)
        )

    def reset_parameters(self) -> None:
        """Redraw every parameter (see the class docstring)."""
        for block in self.blocks:
            block.reset_parameters()

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, channels={self.channels}, kernel_size={self.kernel_size}, "
            f"dropout={self.dropout}, causal={self.causal}, "
            f"receptive_field={self.receptive_field}"
        )

    def forward(self, input: Tensor) -> Tensor:
        """(B, C_in, T) → (B, channels[-1], T); unbatched (C_in, T) → (channels[-1], T)."""
        x = self._check_input(input)
        batched = x.dim() == 3
        h = x if batched else x.unsqueeze(0)  # (B, C_in, T)
        for block in self.blocks:
            h = block(h)  # (B, C_i, T)
        return h if batched else h.squeeze(0)

    def init_state(
        self,
        batch: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[Tensor, ...]:
        """Zero streaming state for `batch` sequences (the causal zero padding).

        Returns:
            a tuple of 2·L tensors, for level i its two convolutions' input buffers
            (B, C_in_i, (k − 1)·2**i) then (B, channels[i], (k − 1)·2**i); defaults: the
            parameters' device and dtype.
        """
        batch = check_int(f"{_NAME}.init_state", "batch", batch, minimum=1)
        param = self._parameter()
        device = param.device if device is None else device
        dtype = param.dtype if dtype is None else dtype
        return tuple(
            torch.zeros(batch, *shape, device=device, dtype=dtype)
            for shape in self._buffer_shapes()
        )

    def step(self, x_t: Tensor, state: Sequence[Tensor]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Advance one time step (causal networks only; no dropout, see the class docstring).

        Per convolution, one matmul over its k dilated taps of ``[buffer, x_t]``; the buffer
        then drops its oldest input.

        Args:
            x_t: (B, C_in), the input at time t.
            state: from `init_state` or the previous `step`.

        Returns:
            y_t (B, channels[-1]), equal to ``forward(x)[..., t]`` in eval mode, and the new
            state (same structure and shapes).
        """
        if not self.causal:
            raise InputError(
                f"{_STEP}: streaming needs a causal network, this one was built with "
                "causal=False (its output at t depends on later inputs)"
            )
        x = self._check_step_input(x_t)
        state = self._check_state(state, x.shape[0], x)
        new_state: list[Tensor] = []
        h = x  # (B, C_in)
        for i, block in enumerate(self.blocks):
            h, buffers = block.step(h, (state[2 * i], state[2 * i + 1]))  # (B, C_i)
            new_state.extend(buffers)
        return h, tuple(new_state)

    def _parameter(self) -> Tensor:
        return self.blocks[0].conv1.parametrizations.weight.original1

    def _buffer_shapes(self) -> list[tuple[int, int]]:
        """(C, width) of each convolution's input buffer, in state order."""
        shapes = []
        for block in self.blocks:
            width = (self.kernel_size - 1) * block.dilation
            shapes += [(block.in_channels, width), (block.out_channels, width)]
        return shapes

    def _check_input(self, input: object) -> Tensor:
        size = self.input_size
        if not isinstance(input, Tensor) or input.dim() not in (2, 3):
            raise InputError(
                f"{_NAME}: expected input of shape {shape_text(('B', size, 'T'))} or unbatched "
                f"{shape_text((size, 'T'))}, got {describe(input)}"
            )
        if input.dim() == 3:
            check_tensor(_NAME, "input", input, ("B", size, "T"))
        else:
            check_tensor(_NAME, "unbatched input", input, (size, "T"))
        if input.shape[-1] == 0:
            raise InputError(
                f"{_NAME}: expected at least one time step (T ≥ 1), got input of shape "
                f"{shape_text(input.shape)}"
            )
        check_like_parameters(_NAME, "input", input, self._parameter())
        return input

    def _check_step_input(self, x_t: object) -> Tensor:
        x = check_tensor(_STEP, "x_t", x_t, ("B", self.input_size))
        check_like_parameters(_STEP, "x_t", x, self._parameter())
        return x

    def _check_state(self, state: object, batch: int, x: Tensor) -> Sequence[Tensor]:
        shapes = self._buffer_shapes()
        expected = f"state as a tuple of {len(shapes)} tensors (2 per level, from init_state)"
        if not isinstance(state, tuple | list):
            raise InputError(f"{_STEP}: expected {expected}, got {describe(state)}")
        if len(state) != len(shapes):
            raise InputError(
                f"{_STEP}: expected {expected}, got {type(state).__name__} of length {len(state)}"
            )
        for j, (buffer, shape) in enumerate(zip(state, shapes, strict=True)):
            what = f"state[{j}] (level {j // 2}, conv{j % 2 + 1} input buffer)"
            check_tensor(_STEP, what, buffer, (batch, *shape))
            if buffer.device != x.device or buffer.dtype != x.dtype:
                raise InputError(
                    f"{_STEP}: expected {what} on {x.device} with dtype {x.dtype} (like x_t), "
                    f"got {buffer.device} and {buffer.dtype}"
                )
        return state


def _check_channels(channels: object) -> tuple[int, ...]:
    """``channels`` as a non-empty tuple of ints ≥ 1."""
    if isinstance(channels, str | bytes) or not isinstance(channels, Sequence):
        raise InputError(
            f"{_NAME}: expected channels as a tuple or list of ints (one width per level), "
            f"got {type(channels).__name__}"
        )
    if len(channels) == 0:
        raise InputError(f"{_NAME}: expected at least one level in channels, got {channels!r}")
    return tuple(
        check_int(_NAME, f"channels[{i}]", width, minimum=1) for i, width in enumerate(channels)
    )
