"""Optimisers over dicts of NumPy parameters, matching torch.optim's update rules.

Each optimiser keeps its state per parameter name and updates `params[name]` in place from
`grads[name]`; a name whose gradient is None or missing is skipped (its state does not advance),
as torch skips parameters whose `.grad` is None.
"""

from __future__ import annotations

import numpy as np

from rnnlab.errors import InputError


class _Optimizer:
    """Shared bookkeeping: argument checks and per-parameter state."""

    def __init__(self, lr: float):
        if not lr > 0:
            raise InputError(f"{type(self).__name__}: expected a positive lr, got {lr!r}")
        self.lr = lr
        self.state: dict[str, dict] = {}

    def _pairs(self, params: dict, grads: dict):
        """Yield (param, grad, state) for every parameter that has a gradient."""
        fn = f"{type(self).__name__}.step"
        for name, p in params.items():
            g = grads.get(name)
            if g is None:
                continue
            if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
                raise InputError(f"{fn}: expected params[{name!r}] to be a floating NumPy array")
            if np.shape(g) != p.shape:
                raise InputError(
                    f"{fn}: expected grads[{name!r}] of shape {p.shape}, got {np.shape(g)}"
                )
            yield p, np.asarray(g, p.dtype), self.state.setdefault(name, {})


class SGD(_Optimizer):
    """Stochastic gradient descent with optional momentum (torch.optim.SGD, dampening 0).

    Math: without momentum p ← p − lr·g; with momentum μ, b ← g on the first step and
    b ← μ·b + g afterwards, then p ← p − lr·b.

    Args:
        lr: learning rate.
        momentum: momentum factor μ ≥ 0.
    """

    def __init__(self, lr: float, momentum: float = 0.0):
        super().__init__(lr)
        if momentum < 0:
            raise InputError(f"SGD: expected momentum >= 0, got {momentum!r}")
        self.momentum = momentum

    def step(self, params: dict, grads: dict) -> None:
        """Update every parameter with a gradient, in place.

        Args:
            params: name -> parameter array (any shape), modified in place.
            grads: name -> gradient of the same shape, or None to skip.
        """
        for p, g, state in self._pairs(params, grads):
            if self.momentum:
                buf = state.get("momentum_buffer")
                buf = g.copy() if buf is None else buf * self.momentum + g
                state["momentum_buffer"] = buf
                g = buf
            p -= self.lr * g


class Adagrad(_Optimizer):
    """Adagrad (torch.optim.Adagrad with lr_decay 0, weight_decay 0, initial accumulator 0).

    Math: s ← s + g²;  p ← p − lr · g / (√s + eps).

    Note that the default eps here is 1e-8 (the char-rnn habit), torch's is 1e-10; pass
    eps=1e-10 for torch's default exactly.

    Args:
        lr: learning rate.
        eps: added to √s for numerical stability.
    """

    def __init__(self, lr: float, eps: float = 1e-8):
        super().__init__(lr)
        self.eps = eps

    def step(self, params: dict, grads: dict) -> None:
        """Update every parameter with a gradient, in place.

        Args:
            params: name -> parameter array (any shape), modified in place.
            grads: name -> gradient of the same shape, or None to skip.
        """
        for p, g, state in self._pairs(params, grads):
            s = state.setdefault("sum", np.zeros_like(p))
            s += g * g
            p -= self.lr * g / (np.sqrt(s) + self.eps)


class Adam(_Optimizer):
    """Adam (torch.optim.Adam with weight_decay 0, amsgrad off).

    Math, at step t (counted per parameter):
        m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
        p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)

    Args:
        lr: learning rate.
        beta1, beta2: decay rates of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
    """

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise InputError(f"Adam: expected betas in [0, 1), got ({beta1!r}, {beta2!r})")
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def step(self, params: dict, grads: dict) -> None:
        """Update every parameter with a gradient, in place.

        Args:
            params: name -> parameter array (any shape), modified in place.
            grads: name -> gradient of the same shape, or None to skip.
        """
        for p, g, state in self._pairs(params, grads):
            if not state:
                state.update(step=0, m=np.zeros_like(p), v=np.zeros_like(p))
            state["step"] += 1
            t, m, v = state["step"], state["m"], state["v"]
            m += (1 - self.beta1) * (g - m)
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            step_size = self.lr / (1 - self.beta1**t)
            denom = np.sqrt(v) / np.sqrt(1 - self.beta2**t) + self.eps
            p -= step_size * m / denom
