"""snnc.nn — the PyTorch reference SNN library: neurons, surrogates, layers, readout, encoders."""

from . import surrogate
from .base import MemoryModule, StepModule
from .functional import (detach_net, multi_step_forward, reset_net, seq_to_ann_forward, set_backend,
                         set_step_mode, set_window_size)
from .neuron import IF, LIF, PLIF, BaseNode, CubaLIF
from .readout import Readout

__all__ = ["surrogate", "MemoryModule", "StepModule", "IF", "LIF", "PLIF", "CubaLIF", "BaseNode",
           "Readout", "reset_net", "detach_net", "set_step_mode", "set_backend", "set_window_size",
           "multi_step_forward", "seq_to_ann_forward"]
