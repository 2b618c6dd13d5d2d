"""``snnc.convert``: a trained ReLU network (ANN) → a spiking network of IF neurons.

Rate coding with data-based normalization (Diehl et al., "Fast-classifying, high-accuracy spiking
deep networks through weight and threshold balancing", IJCNN 2015; Rueckauer et al., "Conversion of
continuous-valued deep networks to efficient event-driven networks for image classification",
Frontiers in Neuroscience 2017 — the method of SpikingJelly's ``ann2snn``):

1. batch norm is folded into the layer before it (``torch.nn.utils.fusion``);
2. each ReLU's activation scale ``λ_l`` is measured on the calibration data: the maximum
   (``method="max"``) or the ``percentile``-th percentile (``"percentile"``, robust to outliers);
3. each synaptic layer ``l`` is rescaled so that its activations are in units of ``λ_l``::

       W_l ← W_l · λ_{l-1} / λ_l,    b_l ← b_l / λ_l        (λ_0 = 1: the input is presented as it is)

   the last layer (no ReLU after it) keeps the ANN's units: ``W ← W · λ_{L-1}``;
4. every ReLU becomes an IF neuron with threshold 1 and reset by subtraction, whose firing rate over
   ``T`` steps approaches the normalized activation ``min(max(a/λ, 0), 1)``.

The input is presented unchanged at every step (constant current). The returned network is a
``torch.nn.Sequential`` of ``torch.nn`` layers and ``snnc.nn.IF`` neurons, per step: run it with
``snnc.nn.multi_step_forward`` over ``[T, N, ...]`` (after ``snnc.nn.reset_net``), average its output
over time for the ANN's output, and trace / compile / verify it like any other model.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .ir.errors import SnncError, UnsupportedError

METHODS = ("max", "percentile")
SYNAPSES = (nn.Linear, nn.Conv2d)
#: linear layers with no weights: they carry the scale of their input through
PASS_THROUGH = (nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity)
DROPPED = (nn.Dropout, nn.Dropout2d)


def convert(ann: nn.Module, calibration_data: torch.Tensor, T: int | None = None, method: str = "max",
            percentile: float = 99.99) -> nn.Sequential:
    """The spiking network of ``ann`` (a ``Sequential``, possibly nested, of Linear / Conv2d /
    BatchNorm / ReLU / AvgPool2d / Flatten / Dropout), normalized on ``calibration_data``
    (``[N, *input_shape]``, a few hundred samples of the training set). ``T`` is the number of steps
    the network is meant to run (recorded as ``snn.conversion_steps``; conversion itself does not
    depend on it). ``ann`` is left unchanged."""
    if method not in METHODS:
        raise SnncError(f"convert: method must be one of {METHODS}, got {method!r}")
    if method == "percentile" and not 0 < percentile <= 100:
        raise SnncError(f"convert: percentile must lie in (0, 100], got {percentile}")
    layers = _fold_batch_norms(_flat_layers(copy.deepcopy(ann).eval()))
    scales = _activation_scales(layers, calibration_data, method, percentile)
    out, previous = [], 1.0
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.ReLU):
            out.append(_if_neuron())
            previous = scales[i]  # the next layer's input is now a rate: activation / λ
        elif isinstance(layer, SYNAPSES):
            _rescale(layer, previous, scales.get(_next_relu(layers, i)))
            previous = 1.0  # its output is in units of λ (a ReLU follows) or in the ANN's own units
            out.append(layer)
        elif isinstance(layer, DROPPED):
            continue
        else:
            out.append(layer)
    snn = nn.Sequential(*out)
    snn.conversion_steps = T
    snn.activation_scales = [scales[k] for k in sorted(scales)]
    return snn


def _flat_layers(model: nn.Module) -> list[nn.Module]:
    if type(model) is nn.Sequential:
        return [layer for child in model for layer in _flat_layers(child)]
    if isinstance(model, (nn.ReLU, nn.BatchNorm1d, nn.BatchNorm2d) + SYNAPSES + PASS_THROUGH + DROPPED):
        return [model]
    if isinstance(model, nn.MaxPool2d):
        raise UnsupportedError(type(model).__name__, "max pooling does not keep firing rates (the maximum of "
                                                     "rates is not the rate of the maximum); use AvgPool2d")
    raise UnsupportedError(type(model).__name__, f"convert takes a Sequential of Linear, Conv2d, BatchNorm, ReLU, "
                                                 f"AvgPool2d, Flatten and Dropout; got {type(model).__qualname__}")


def _fold_batch_norms(layers: list[nn.Module]) -> list[nn.Module]:
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    out: list[nn.Module] = []
    for layer in layers:
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not out or not isinstance(out[-1], SYNAPSES):
                raise UnsupportedError(type(layer).__name__, "a batch norm must follow a Linear or Conv2d to be "
                                                             "folded into it")
            fuse = fuse_conv_bn_eval if isinstance(out[-1], nn.Conv2d) else fuse_linear_bn_eval
            out[-1] = fuse(out[-1], layer)
        else:
            out.append(layer)
    return out


def _next_relu(layers: list[nn.Module], i: int) -> int | None:
    """The index of the ReLU that ``layers[i]``'s output reaches through pass-through layers."""
    for j in range(i + 1, len(layers)):
        if isinstance(layers[j], nn.ReLU):
            return j
        if isinstance(layers[j], SYNAPSES):
            return None
    return None


@torch.no_grad()
def _activation_scales(layers, data: torch.Tensor, method: str, percentile: float) -> dict[int, float]:
    """``λ`` per ReLU index: the max or percentile of its output over ``data``."""
    scales, x = {}, torch.as_tensor(data, dtype=torch.float32)
    for i, layer in enumerate(layers):
        x = layer(x)
        if isinstance(layer, nn.ReLU):
            values = x.reshape(-1).double()
            if method == "max":
                lam = float(values.max())
            else:  # torch.quantile is limited to 2^24 elements
                lam = float(values.sort().values[min(values.numel() - 1,
                                                     int(round(percentile / 100 * (values.numel() - 1))))])
            if lam <= 0:
                raise SnncError(f"convert: ReLU {i} is never active on the calibration data (scale {lam}); "
                                "give data that reaches every layer")
            scales[i] = lam
    return scales


@torch.no_grad()
def _rescale(layer: nn.Module, input_scale: float, output_scale: float | None) -> None:
    out = 1.0 if output_scale is None else output_scale
    layer.weight.mul_(input_scale / out)
    if layer.bias is not None:
        layer.bias.div_(out)


def _if_neuron():
    from .nn import IF

    return IF(v_threshold=1.0, v_reset=None)


__all__ = ["convert", "METHODS"]
