"""Stateful modules and step modes.

A module in step mode ``'s'`` takes one step ``[N, ...]``; in ``'m'`` it takes a sequence
``[T, N, ...]``. State ("memories") lives in the module, starts from its registered initial value,
and is cleared by :meth:`MemoryModule.reset` (``snnc.nn.reset_net`` on a whole network). A module
with ``window_size > 0`` resets itself after every ``window_size`` steps (the fixed window).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

STEP_MODES = ("s", "m")


class StepModule:
    """Mixin that owns ``step_mode``; modules check it at assignment."""

    @property
    def step_mode(self) -> str:
        return self._step_mode

    @step_mode.setter
    def step_mode(self, value: str) -> None:
        if value not in STEP_MODES:
            raise ValueError(f"step_mode must be 's' or 'm', got {value!r}")
        self._step_mode = value


class MemoryModule(nn.Module, StepModule):
    """A module with state. Subclasses implement ``single_step_forward``; ``multi_step_forward``
    loops over ``T`` unless overridden (fused kernels)."""

    def __init__(self, step_mode: str = "s", window_size: int = 0):
        super().__init__()
        self.step_mode = step_mode
        self.window_size = int(window_size)
        self._memories: dict[str, object] = {}
        self._steps = 0

    def register_memory(self, name: str, initial) -> None:
        """Declare state ``name`` with its initial value (a number, tensor or None)."""
        if hasattr(self, name) and name not in self._memories:
            raise AttributeError(f"{name!r} is already an attribute of {type(self).__name__}")
        self._memories[name] = copy.deepcopy(initial)
        object.__setattr__(self, name, copy.deepcopy(initial))

    def reset(self) -> None:
        """Restore every memory to its initial value and restart the window."""
        for name, initial in self._memories.items():
            object.__setattr__(self, name, copy.deepcopy(initial))
        self._steps = 0

    def detach(self) -> None:
        """Cut the autograd history of the state (truncated BPTT)."""
        for name in self._memories:
            value = getattr(self, name)
            if isinstance(value, torch.Tensor):
                object.__setattr__(self, name, value.detach())

    @property
    def steps_in_window(self) -> int:
        """How many steps of the current window have run (of all steps without a window)."""
        return self._steps

    def advance_window(self, steps: int = 1) -> bool:
        """Count ``steps`` more steps; at the end of a window reset every memory. Returns whether the
        state carries on (False: it was just reset)."""
        self._steps += steps
        if self.window_size and self._steps % self.window_size == 0:
            self.reset()
            return False
        if self.window_size:
            self._steps %= self.window_size
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            return self.single_step_forward(x)
        return self.multi_step_forward(x)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement single_step_forward")

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.single_step_forward(x) for x in x_seq])

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}" + (f", window_size={self.window_size}" if self.window_size else "")
