"""snnc.nn — the PyTorch reference SNN library: neurons, surrogates, layers, readout, encoders."""

from . import surrogate
from .base import MemoryModule, StepModule
from .encoding import LatencyEncoder, PoissonEncoder
from .functional import (detach_net, multi_step_forward, reset_net, seq_to_ann_forward, set_backend,
                         set_step_mode, set_window_size)
from .layer import (AvgPool2d, BatchNorm2d, Conv2d, Dropout, ElementwiseRecurrentContainer, Flatten, Linear,
                    MaxPool2d, MultiStepContainer, SeqToANNContainer, StepModeMixin)
from .memory import compact_spikes
from .neuron import ALIF, IF, LIF, PLIF, BaseNode, CubaLIF
from .readout import Readout

__all__ = ["surrogate", "MemoryModule", "StepModule", "IF", "LIF", "PLIF", "CubaLIF", "ALIF", "BaseNode",
           "Readout", "reset_net", "detach_net", "set_step_mode", "set_backend", "set_window_size",
           "multi_step_forward", "seq_to_ann_forward",
           "StepModeMixin", "Linear", "Conv2d", "BatchNorm2d", "AvgPool2d", "MaxPool2d", "Flatten", "Dropout",
           "SeqToANNContainer", "MultiStepContainer", "ElementwiseRecurrentContainer",
           "PoissonEncoder", "LatencyEncoder", "compact_spikes"]


def safe_globals() -> list[type]:
    """Every snnc.nn class a ``torch.save``d model can contain (modules and surrogates), to allow-list for
    ``torch.load(..., weights_only=True)`` (with the torch.nn classes the model uses)::

        with torch.serialization.safe_globals(snnc.nn.safe_globals() + [torch.nn.Sequential]):
            model = torch.load(path, weights_only=True)
    """
    import torch.nn

    classes = [obj for name in __all__ if isinstance(obj := globals().get(name), type)
               and issubclass(obj, torch.nn.Module)]
    return classes + list(surrogate.SURROGATES.values())


__all__.append("safe_globals")
