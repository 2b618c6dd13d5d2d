"""The fixed-window readout module: ``Readout`` of the IR (its docstring has the exact rules).

It counts class spikes (``output_mode="spike"``) or accumulates ``mem = beta·mem + x``
(``output_mode="membrane"``) and emits, every step, the decision ``[N, 1]`` of its rule. With
``window_size=W`` its state (and, once the readout pass has propagated ``W``, every neuron's) resets
after each ``W`` steps. The running state is readable as ``count``/``mem`` for training losses.
"""

from __future__ import annotations

import torch

from ..ir.interpreter import readout_step
from ..ir.ops import READOUT_RULES
from ..ir.torch_ops import exporting
from .base import MemoryModule


class Readout(MemoryModule):
    """Fixed-window decision: see :class:`snnc.ir.ops.Readout` for the rules, ties and the window."""

    def __init__(self, n_classes: int | None = None, window_size: int = 0, decision_rule: str | None = None,
                 class_threshold: int = 1, output_mode: str = "spike", beta: float = 1.0, step_mode: str = "s"):
        super().__init__(step_mode, window_size)
        if output_mode not in READOUT_RULES:
            raise ValueError(f"output_mode must be 'spike' or 'membrane', got {output_mode!r}")
        rule = decision_rule or READOUT_RULES[output_mode][0]
        if rule not in READOUT_RULES[output_mode]:
            raise ValueError(f"decision_rule {rule!r} is not a {output_mode}-mode rule; expected one of "
                             f"{READOUT_RULES[output_mode]}")
        if rule == "binary_logit" and n_classes not in (None, 2):
            raise ValueError("binary_logit needs n_classes == 2")
        self.n_classes = n_classes
        self.decision_rule = rule
        self.class_threshold = int(class_threshold)
        self.output_mode = output_mode
        self.beta = float(beta)
        self.register_memory("state", None)

    def reset(self) -> None:
        super().reset()
        self.state = {}

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.state is None:
            self.state = {}
        if self.n_classes is not None and x.shape[-1] != self.n_classes:
            raise ValueError(f"Readout expects {self.n_classes} classes, got input of shape {tuple(x.shape)}")
        if exporting():  # one snnc::readout_step op (snnc.nn.export)
            from .export import readout_step as exported_step
            return exported_step(self, x)
        out = readout_step(x.detach(), self.state, self.output_mode, self.decision_rule,
                           self.class_threshold, self.beta)
        self.advance_window()
        return out

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if exporting():
            from .export import refuse_multi_step
            refuse_multi_step(self)
        return super().multi_step_forward(x_seq)

    @property
    def count(self) -> torch.Tensor | None:
        return (self.state or {}).get("count")

    @property
    def mem(self) -> torch.Tensor | None:
        return (self.state or {}).get("mem")

    def extra_repr(self) -> str:
        return (f"n_classes={self.n_classes}, decision_rule={self.decision_rule!r}, output_mode="
                f"{self.output_mode!r}, class_threshold={self.class_threshold}, beta={self.beta}, "
                + super().extra_repr())
