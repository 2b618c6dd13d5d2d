"""``snnc.trace``: a PyTorch model → the spiking IR, through torch.fx.

The model is traced symbolically for **one time step** (``[N, *input_shape]``): the IR is per-step,
and the interpreter runs it over ``[T, N, ...]``. Neuron modules (snnc.nn, snnTorch ``Leaky`` /
``Synaptic``, SpikingJelly ``IFNode``/``LIFNode``/``ParametricLIFNode``), the readout and every layer
with an importer are fx leaves; containers (``nn.Sequential``, SpikingJelly's/snnc's
``SeqToANNContainer`` and ``MultiStepContainer``) are traced through. Each fx node then maps to IR
nodes by one entry of :data:`MODULES` (by ``isinstance``, so SpikingJelly's ``layer.*`` and snnc's
layers, thin subclasses of the torch.nn layers, map like them) or :data:`FUNCTIONS`. Anything else is
refused with the module path, its type and what is supported.

A forward that loops over time itself (snnTorch's tutorial form) is unrolled by fx and folded back to
one step by :mod:`snnc.frontend.time_loop`; every value the model returns is an output, a neuron's
membrane or current included (a ``Neuron`` node with ``output="v"``/``"i"``).
"""

from __future__ import annotations

import inspect
import math
import operator
import re
from typing import Any, Callable

import numpy as np
import torch
import torch.fx as fx
from torch import nn

from ..ir import Graph
from ..ir.graph import Node
from ..ir.errors import SnncError, UnsupportedError
from ..ir.ops import op_def
from . import neurons, time_loop


# ----------------------------------------------------------------------------------------------
# which modules are neurons / containers (optional frameworks imported lazily)
# ----------------------------------------------------------------------------------------------
def _optional_classes(module: str, names: tuple[str, ...]) -> tuple[type, ...]:
    try:
        mod = __import__(module, fromlist=list(names))
    except Exception:  # framework not installed (or broken): its classes cannot occur in a model
        return ()
    return tuple(c for c in (getattr(mod, n, None) for n in names) if isinstance(c, type))


def _snnc_neurons():
    from ..nn.neuron import BaseNode
    return (BaseNode,)


def _snntorch_neurons():
    return _optional_classes("snntorch._neurons.neurons", ("SpikingNeuron",))


def _sj_neurons():
    return _optional_classes("spikingjelly.activation_based.neuron", ("BaseNode", "SimpleBaseNode"))


def _containers():
    """Containers that fold or loop time; per step they are their children in order."""
    return (_optional_classes("spikingjelly.activation_based.layer",
                              ("SeqToANNContainer", "MultiStepContainer", "StepModeContainer"))
            + _optional_classes("snnc.nn.layer", ("SeqToANNContainer", "MultiStepContainer")))


def _readouts():
    from ..nn.readout import Readout
    return (Readout,)


# ----------------------------------------------------------------------------------------------
# the builder: IR nodes with shapes inferred as they are added
# ----------------------------------------------------------------------------------------------
def ir_name(path: str) -> str:
    name = re.sub(r"\W", "_", path).strip("_")
    return name or "node"


class Builder:
    """Adds IR nodes one at a time and infers each one's shape immediately (so reshapes can be
    checked against the actual per-step shape)."""

    def __init__(self, input_shape: tuple[int, ...], input_name: str = "input", lead: int = 1):
        self.graph = Graph()
        #: the leading dims of the tensors the model's own forward handles: 1 ([N, ...]), or 2 for a
        #: multi-step model ([T, N, ...]: SpikingJelly / snnc.nn modules in step mode 'm')
        self.lead = lead
        self.add("Input", input_name, [], shape=tuple(int(d) for d in input_shape))

    def add(self, op: str, base: str, inputs: list[str], params: dict | None = None, **attrs) -> str:
        name = self.graph.unique_name(ir_name(base))
        node = self.graph.add_node(name, op, inputs, params or {}, **attrs)
        definition = op_def(name, op)
        definition.validate(node)
        node.shape = tuple(int(d) for d in definition.infer_shape(node, [self.graph[s].shape for s in inputs]))
        return name

    def shape(self, name: str) -> tuple[int, ...]:
        return self.graph[name].shape


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _pair(v) -> tuple[int, int] | int:
    return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else int(v)


# ----------------------------------------------------------------------------------------------
# module importers: fn(builder, module, path, input_name) -> output name
# ----------------------------------------------------------------------------------------------
def _linear(b: Builder, m: nn.Linear, path: str, x: str) -> str:
    params = {"weight": _np(m.weight)}
    if m.bias is not None:
        params["bias"] = _np(m.bias)
    return b.add("Linear", path, [x], params)


def _conv2d(b: Builder, m: nn.Conv2d, path: str, x: str) -> str:
    if m.padding_mode != "zeros":
        raise UnsupportedError(path, f"Conv2d padding_mode={m.padding_mode!r}; only 'zeros' is supported")
    padding = m.padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        else:  # 'same' with stride 1: symmetric when every (dilation·(k-1)) is even
            total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
            if any(t % 2 for t in total):
                raise UnsupportedError(path, "Conv2d padding='same' with an even kernel (asymmetric padding) "
                                             "is not supported; pad explicitly")
            padding = tuple(t // 2 for t in total)
    params = {"weight": _np(m.weight)}
    if m.bias is not None:
        params["bias"] = _np(m.bias)
    return b.add("Conv2d", path, [x], params, stride=_pair(m.stride), padding=_pair(padding),
                 dilation=_pair(m.dilation), groups=int(m.groups))


def _batchnorm(b: Builder, m: nn.modules.batchnorm._BatchNorm, path: str, x: str) -> str:
    if m.running_mean is None or m.running_var is None:
        raise UnsupportedError(path, f"{type(m).__name__} without running statistics "
                                     "(track_running_stats=False) cannot be deployed")
    c = m.num_features
    weight = _np(m.weight) if m.weight is not None else np.ones(c, np.float32)
    bias = _np(m.bias) if m.bias is not None else np.zeros(c, np.float32)
    return b.add("BatchNorm", path, [x], {"mean": _np(m.running_mean), "var": _np(m.running_var),
                                          "weight": weight, "bias": bias}, eps=float(m.eps))


def _avgpool(b: Builder, m: nn.AvgPool2d, path: str, x: str) -> str:
    if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
        raise UnsupportedError(path, "AvgPool2d with ceil_mode, count_include_pad=False or divisor_override "
                                     "is not supported")
    return b.add("AvgPool2d", path, [x], kernel_size=_pair(m.kernel_size),
                 stride=_pair(m.stride) if m.stride is not None else None, padding=_pair(m.padding))


def _adaptive_avgpool(b: Builder, m: nn.AdaptiveAvgPool2d, path: str, x: str) -> str:
    """``AdaptiveAvgPool2d(output_size)`` at the traced input size. Where the output divides the input
    (every window the same size): an AvgPool2d with kernel = stride = input / output. Where the input
    divides the output (VGG's ``(7, 7)`` pool on a smaller map): every window is one input element, the
    pool repeats each element ``output / input`` times along each axis; imported exactly as a Flatten and
    a Linear of 0/1 weights (one 1 per output: ``y[p] = 1·x[src(p)]``), so the result is flat
    ``[C·OH·OW]``, as the ``flatten`` that follows in such nets expects."""
    shape = b.shape(x)
    if len(shape) != 3:
        raise UnsupportedError(path, f"AdaptiveAvgPool2d expects a per-step [C, H, W] input, got {list(shape)}")
    size = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size, m.output_size)
    out = tuple(shape[1 + i] if s is None else int(s) for i, s in enumerate(size))
    if all(n % o == 0 for n, o in zip(shape[1:], out)):
        kernel = tuple(n // o for n, o in zip(shape[1:], out))
        return b.add("AvgPool2d", path, [x], kernel_size=kernel, stride=kernel, padding=(0, 0))
    if all(o % n == 0 for n, o in zip(shape[1:], out)):
        return _repeat(b, path, x, out)
    raise UnsupportedError(path, f"AdaptiveAvgPool2d from {shape[1]}x{shape[2]} to {out[0]}x{out[1]}: the "
                                 "windows differ in size; supported: an output that divides the input, or an "
                                 "input that divides the output")


def _repeat(b: Builder, path: str, x: str, out: tuple[int, int]) -> str:
    """``[C, H, W]`` → flat ``[C·OH·OW]`` with ``y[c, i, j] = x[c, i·H // OH, j·W // OW]`` (``OH``, ``OW``
    multiples of ``H``, ``W``): a Linear whose weights select one input per output."""
    c, h, w = b.shape(x)
    rows = np.arange(out[0]) * h // out[0]
    cols = np.arange(out[1]) * w // out[1]
    source = (np.arange(c)[:, None, None] * h * w + rows[None, :, None] * w + cols[None, None, :]).reshape(-1)
    weight = np.zeros((source.size, c * h * w), np.float32)
    weight[np.arange(source.size), source] = 1.0
    return b.add("Linear", path, [b.add("Flatten", path, [x])], {"weight": weight})


def _maxpool(b: Builder, m: nn.MaxPool2d, path: str, x: str) -> str:
    if m.ceil_mode or _pair(m.dilation) not in (1, (1, 1)) or m.return_indices:
        raise UnsupportedError(path, "MaxPool2d with ceil_mode, dilation or return_indices is not supported")
    return b.add("MaxPool2d", path, [x], kernel_size=_pair(m.kernel_size),
                 stride=_pair(m.stride) if m.stride is not None else None, padding=_pair(m.padding))


def _flatten_module(b: Builder, m: nn.Flatten, path: str, x: str) -> str:
    return _flatten(b, path, x, m.start_dim, m.end_dim)


def _flatten(b: Builder, path: str, x: str, start: int, end: int, lead: int = 1) -> str:
    """Flatten of the value with ``lead`` leading dims (``[N, *shape]``, or ``[T, N, *shape]`` in a
    multi-step model's forward); only flattening every per-step dim (``start_dim = lead``, to the end)."""
    ndim = len(b.shape(x)) + lead
    start, end = start % ndim, end % ndim
    if start == lead and end == ndim - 1:
        return x if ndim == lead + 1 else b.add("Flatten", path, [x])
    if start < lead:
        raise UnsupportedError(path, f"flattening the {'time and ' if lead == 2 else ''}batch dimension is not "
                                     "supported per step")
    dims = "[T, N, ...]" if lead == 2 else "[N, ...]"
    raise UnsupportedError(path, f"flatten(start_dim={start}, end_dim={end}) of {dims} with per-step shape "
                                 f"{b.shape(x)}: only flattening all per-step dims is supported")


def _identity(b: Builder, m, path: str, x: str) -> str:
    return x


def _dropout(b: Builder, m, path: str, x: str) -> str:
    return x  # inference: dropout is the identity


def _neuron_node(b: Builder, spec: neurons.NeuronSpec, path: str, x: str) -> str:
    out = b.add("Neuron", path, [x], spec.params, **spec.attrs)
    if spec.output_scale is not None:
        out = b.add("Scale", path + ".graded_spikes", [out], {"scale": spec.output_scale})
    return out


def _snnc_neuron(b, m, path, x):
    return _neuron_node(b, neurons.snnc_neuron(m, path), path, x)


def _snntorch_neuron(b, m, path, x):
    spec = neurons.snntorch_neuron(m, path)
    recurrence = neurons.snntorch_recurrence(m, path)
    if recurrence is None:
        return _neuron_node(b, spec, path, x)
    return _recurrent_neuron(b, spec, recurrence, path, x)


def _recurrent_neuron(b: Builder, spec: neurons.NeuronSpec, recurrence: dict, path: str, x: str) -> str:
    """``S = neuron(X + R(Delay(S)))``: the neuron's spikes, one step late, through its recurrent synapse
    ``R`` (a Linear or a Scale) into its own input; the Delay closes the cycle."""
    delay = _feedback(b, path + ".recurrent", b.shape(x))
    params = {k: v for k, v in recurrence.items() if k != "op"}
    rec = b.add(recurrence["op"], path + ".recurrent", [delay.name], params)
    out = _neuron_node(b, spec, path, b.add("Add", path + ".input", [x, rec]))
    delay.inputs = [out]  # the spikes (graded: scaled), as snnTorch feeds them back
    return out


def _sj_neuron(b, m, path, x):
    return _neuron_node(b, neurons.spikingjelly_neuron(m, path), path, x)


def _readout(b, m, path, x):
    params = {"beta": np.asarray(float(m.beta), np.float64)} if m.output_mode == "membrane" else {}
    return b.add("Readout", path, [x], params, output_mode=m.output_mode, rule=m.decision_rule,
                 class_threshold=int(m.class_threshold), window_size=int(m.window_size))


def _container(b, m, path, x):
    for name, child in m.named_children():
        x = import_module(b, child, f"{path}.{name}", x)
    return x


def _voting(b: Builder, m, path: str, x: str) -> str:
    """SpikingJelly's ``layer.VotingLayer(k)``: the mean of each group of ``k`` consecutive features,
    ``y[c] = (x[c·k] + … + x[c·k + k-1]) / k``, over a per-step ``[C·k]`` vector. Imported as a Linear
    with the fixed weights ``1/k`` (``W[c, j] = 1/k`` for ``j`` in group ``c``): the same mean, rounded as
    a dot product (``Σ fl(1/k)·x``) where SpikingJelly's ``avg_pool1d`` divides the sum by ``k``, so the
    two may differ in the last bit; the class each picks (``argmax``) is the same for spike inputs (group
    sums are integers, their means ``1/k`` apart)."""
    shape = b.shape(x)
    k = int(m.voting_size)
    if len(shape) != 1 or shape[0] % k:
        raise UnsupportedError(path, f"VotingLayer({k}) expects a per-step [C*{k}] vector, got {list(shape)}")
    weight = np.kron(np.eye(shape[0] // k, dtype=np.float32), np.full((1, k), np.float32(1.0) / np.float32(k)))
    return b.add("Linear", path, [x], {"weight": weight})


def _feedback(b: Builder, path: str, shape: tuple) -> Node:
    """A one-step Delay whose input (a later node) is set once it exists: the back edge of a cycle."""
    delay = b.graph.add_node(b.graph.unique_name(ir_name(path + ".delay")), "Delay", ["(later)"], shape=shape)
    delay.shape = tuple(shape)
    return delay


def _sj_linear_recurrent(b: Builder, m, path: str, x: str) -> str:
    """SpikingJelly's ``LinearRecurrentContainer``: ``y[t] = sub(rc([x[t], y[t-1]]))`` (``y[-1] = 0``),
    ``rc`` one Linear over the concatenation. Imported as ``sub(W_x·x + b + W_y·Delay(y))``: the same
    sum split in two dot products, so it may differ from SpikingJelly's in the last bit."""
    n_in = b.shape(x)[-1]
    out_shape = (m.sub_module_out_features,)
    weight = m.rc.weight.detach().cpu().numpy()
    delay = _feedback(b, path, out_shape)
    direct = {"weight": weight[:, :n_in].copy()}
    if m.rc.bias is not None:
        direct["bias"] = m.rc.bias.detach().cpu().numpy().copy()
    total = b.add("Add", path + ".rc", [b.add("Linear", path + ".rc_x", [x], direct),
                                        b.add("Linear", path + ".rc_y", [delay.name], {"weight": weight[:, n_in:].copy()})])
    y = import_module(b, m.sub_module, path + ".sub_module", total)
    if b.shape(y) != out_shape:
        raise UnsupportedError(path, f"its sub_module outputs {list(b.shape(y))}, not out_features {list(out_shape)}")
    delay.inputs = [y]
    return y


def _sj_elementwise_recurrent(b: Builder, m, path: str, x: str) -> str:
    """SpikingJelly's ``ElementWiseRecurrentContainer``: ``y[t] = sub(f(y[t-1], x[t]))`` (``y[-1] = 0``)
    for ``f`` an addition (read by tracing ``f``), as the ``Add`` of ``Delay(y)`` and ``x`` in ``f``'s order."""
    try:
        body = [n for n in fx.symbolic_trace(m.element_wise_function).graph.nodes if n.op == "call_function"]
    except Exception:  # noqa: BLE001 - any function fx cannot read is refused below
        body = []
    is_add = len(body) == 1 and not body[0].kwargs and body[0].target in (operator.add, torch.add)
    if not is_add or [a.op for a in body[0].args] != ["placeholder", "placeholder"] or body[0].args[0] is body[0].args[1]:
        raise UnsupportedError(path, "ElementWiseRecurrentContainer's element_wise_function must be y + x of its "
                                     f"two arguments, got {m.element_wise_function}")
    args = [a.name for a in body[0].args]
    first = list(inspect.signature(m.element_wise_function).parameters)[0]
    delay = _feedback(b, path, b.shape(x))
    inputs = [delay.name, x] if args[0] == first else [x, delay.name]
    y = import_module(b, m.sub_module, path + ".sub_module", b.add("Add", path + ".f", inputs))
    if b.shape(y) != b.shape(x):
        raise UnsupportedError(path, f"its sub_module changes the shape {list(b.shape(x))} to {list(b.shape(y))}")
    delay.inputs = [y]
    return y


def _sj_recurrent_classes(name):
    return lambda: _optional_classes("spikingjelly.activation_based.layer", (name,))


def _sj_voting_classes():
    return _optional_classes("spikingjelly.activation_based.layer", ("VotingLayer",))


def _sj_dropout_classes():
    return _optional_classes("spikingjelly.activation_based.layer", ("Dropout", "Dropout2d"))


def _snnc_dropout_classes():
    return _optional_classes("snnc.nn.layer", ("Dropout",))


#: (classes-getter, importer), checked in order with isinstance
MODULES: list[tuple[Callable[[], tuple[type, ...]], Callable]] = [
    (_sj_recurrent_classes("LinearRecurrentContainer"), _sj_linear_recurrent),
    (_sj_recurrent_classes("ElementWiseRecurrentContainer"), _sj_elementwise_recurrent),
    (_snnc_neurons, _snnc_neuron),
    (_snntorch_neurons, _snntorch_neuron),
    (_sj_neurons, _sj_neuron),
    (_readouts, _readout),
    (_containers, _container),
    (lambda: (nn.Linear,), _linear),
    (lambda: (nn.Conv2d,), _conv2d),
    (lambda: (nn.BatchNorm1d, nn.BatchNorm2d), _batchnorm),
    (lambda: (nn.AvgPool2d,), _avgpool),
    (lambda: (nn.AdaptiveAvgPool2d,), _adaptive_avgpool),
    (lambda: (nn.MaxPool2d,), _maxpool),
    (lambda: (nn.Flatten,), _flatten_module),
    (lambda: (nn.Identity,), _identity),
    (_sj_voting_classes, _voting),
    (lambda: (nn.Dropout, nn.Dropout2d) + _sj_dropout_classes() + _snnc_dropout_classes(), _dropout),
]

SUPPORTED = ("Linear, Conv2d, BatchNorm1d/2d, AvgPool2d, AdaptiveAvgPool2d (an output dividing the input), "
             "MaxPool2d, Flatten, Identity, Dropout (and their "
             "snnc.nn / SpikingJelly layer.* forms), SpikingJelly VotingLayer, "
             "snnc.nn IF/LIF/PLIF/CubaLIF/Readout, snnTorch Leaky/"
             "Synaptic/RLeaky/RSynaptic, SpikingJelly IFNode/LIFNode/ParametricLIFNode/CUBALIFNode, Sequential/SeqToANNContainer/"
             "MultiStepContainer, LinearRecurrentContainer/ElementWiseRecurrentContainer, +, *scalar, tensor * tensor and * (1 - tensor), flatten/reshape to [N, -1]")


#: the neuron importers (a time loop calls each of these modules once per step)
NEURONS = {_snnc_neuron, _snntorch_neuron, _sj_neuron}

#: importers of the layers that take any per-step shape and pass it on (or flatten it)
SHAPE_FREE = {_snnc_neuron, _snntorch_neuron, _sj_neuron, _readout, _flatten_module, _identity, _dropout}


def is_container(m: nn.Module) -> bool:
    """Whether ``m`` is imported as the sequence of its children."""
    return type(m) is nn.Sequential or importer_for(m) is _container


def importer_for(m: nn.Module) -> Callable | None:
    for classes, fn in MODULES:
        cls = classes()
        if cls and isinstance(m, cls):
            return fn
    return None


def import_module(b: Builder, m: nn.Module, path: str, x: str) -> str:
    fn = importer_for(m)
    if fn is None:
        if type(m) is nn.Sequential:
            return _container(b, m, path, x)
        raise UnsupportedError(path, f"module of type {type(m).__module__}.{type(m).__qualname__} is not "
                                     f"supported; supported: {SUPPORTED}")
    return fn(b, m, path, x)


# ----------------------------------------------------------------------------------------------
# fx
# ----------------------------------------------------------------------------------------------
class LayerTracer(fx.Tracer):
    """torch.fx tracing that keeps every importable layer (and no plain ``Sequential``) as a leaf.
    With ``steps`` (the example input's T), ``x.size(0)`` / ``x.shape[0]`` of the input is that
    number where Python needs an int (``range(x.size(0))`` in a time-major loop)."""

    def __init__(self, steps: int | None = None):
        super().__init__()
        self.steps = steps

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _LeadingDimProxy(node, self) if _is_leading_dim(node) else super().proxy(node)

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if type(m) is nn.Sequential:
            return False
        if importer_for(m) is not None:
            return True
        return super().is_leaf_module(m, qualname)


def _is_leading_dim(node: fx.Node) -> bool:
    """``node`` is ``x.size(0)`` or ``x.shape[0]`` of a placeholder."""
    if node.op == "call_method" and node.target == "size" and node.args[1:] == (0,):
        return node.args[0].op == "placeholder"
    if node.op == "call_function" and node.target is operator.getitem and node.args[1] == 0:
        src = node.args[0]
        return (isinstance(src, fx.Node) and src.op == "call_function" and src.target is getattr
                and src.args[1] == "shape" and src.args[0].op == "placeholder")
    return False


class _LeadingDimProxy(fx.Proxy):
    """The input's leading dimension; as a Python int (``range(...)``) it is the example's T."""

    def __index__(self) -> int:
        if self.tracer.steps is None:
            raise UnsupportedError(None, "the forward loops over x.size(0); give an example input tensor "
                                         "[T, N, ...] (not a shape) so that T is known")
        return self.tracer.steps


class _Batch:
    """The symbolic batch size ``x.size(0)`` / ``x.shape[0]``."""


class _StateElement:
    """``out[index]`` of a :class:`_NeuronTuple` (a state), made into an IR node where it is used."""

    def __init__(self, source: _NeuronTuple, index: int):
        self.source, self.index = source, index

    def name(self) -> str:
        return self.source.element(self.index)


class _Complement:
    """``1 - x`` of a tensor ``x``: a factor of a product (SpikingJelly's SEW ``IAND``), made into the
    complemented input of a ``Mul`` node where it is multiplied."""

    def __init__(self, tensor: str):
        self.tensor = tensor

    def __repr__(self) -> str:
        return f"1 - {self.tensor} (usable only as a factor of a product)"


#: a time loop's initial neuron state (``init_leaky()``): the IR neuron's own initial state
_INITIAL_STATE = object()


class _NeuronTuple:
    """A snnTorch neuron's tuple output, ``(spk, mem)`` (``Leaky``) or ``(spk, syn, mem)``
    (``Synaptic``): element 0 is the spikes; each other element is the neuron's state after the step,
    a ``Neuron`` node of the same input and parameters with ``output`` that state, made on first use."""

    def __init__(self, b: Builder, m: nn.Module, path: str, spikes: str):
        neuron = b.graph[spikes]
        neuron = b.graph[neuron.inputs[0]] if neuron.op == "Scale" else neuron  # (graded spikes)
        self.b, self.m, self.path, self.x, self.spikes = b, m, path, neuron.inputs[0], spikes
        self.states = ("spikes",) + (("i", "v") if neurons.snntorch_charge(m) == "cuba" else ("v",))
        self.made: dict[int, str] = {0: spikes}

    def element(self, index: int) -> str:
        if not 0 <= index < len(self.states):
            raise UnsupportedError(self.path, f"index {index} of a {type(self.m).__name__}'s output, which has "
                                              f"{len(self.states)} elements")
        if index not in self.made:
            spec = neurons.snntorch_neuron(self.m, self.path)
            var = self.states[index]
            self.made[index] = self.b.add("Neuron", f"{self.path}.{'mem' if var == 'v' else 'syn'}", [self.x],
                                          spec.params, **spec.attrs, output=var)
        return self.made[index]

    def elements(self) -> list[str]:
        return [self.element(k) for k in range(len(self.states))]


_ADD = {operator.add, operator.iadd, torch.add}
_MUL = {operator.mul, operator.imul, torch.mul}
_SUB = {operator.sub, operator.isub, torch.sub, torch.rsub}
_FLATTEN = {torch.flatten}
_RESHAPE = {torch.reshape}


def _returns_tuple(m: nn.Module) -> bool:
    """snnTorch neurons return ``(spk, mem[, syn])`` unless ``init_hidden=True`` and not ``output``."""
    sn = _snntorch_neurons()
    if sn and isinstance(m, sn):
        return bool(getattr(m, "output", False)) or not bool(getattr(m, "init_hidden", False))
    return False


def trace(model: nn.Module, example_input: torch.Tensor | tuple | list) -> Graph:
    """Trace ``model`` into an IR :class:`~snnc.ir.Graph`.

    ``example_input`` is ``[T, N, *input_shape]`` (any framework; only its shape is used), or the
    per-step shape itself as a tuple/list of ints (``(1, 8, 8)``)."""
    if isinstance(model, Graph):
        return model
    if not isinstance(model, nn.Module):
        raise SnncError(f"snnc.trace expects a torch.nn.Module, got {type(model).__name__}")
    steps = None
    if isinstance(example_input, (tuple, list)) and all(isinstance(d, int) for d in example_input):
        input_shape = tuple(example_input)
    else:
        x = torch.as_tensor(example_input)
        if x.dim() < 3:
            raise SnncError(f"example input must be [T, N, *input_shape] (at least 3 dims), got shape "
                            f"{list(x.shape)}")
        input_shape, steps = tuple(x.shape[2:]), int(x.shape[0])
    modes = [(m, m.training) for m in model.modules()]
    model.eval()  # deployment semantics while tracing (BatchNorm statistics, no dropout); restored below
    try:
        return _trace(model, input_shape, steps)
    finally:
        for m, training in modes:
            m.training = training


def _trace(model: nn.Module, input_shape: tuple[int, ...], steps: int | None = None) -> Graph:
    multi_step = any(getattr(m, "step_mode", None) == "m" for m in model.modules())
    b = Builder(input_shape, lead=2 if multi_step else 1)
    fn = importer_for(model)
    if fn is not None and type(model) is not nn.Sequential:  # a single layer/neuron as the model
        out = fn(b, model, type(model).__name__, "input")
        b.add("Output", "output", [out])
        return _finish(b, model)
    try:
        fx_graph = LayerTracer(steps).trace(model)
    except SnncError:
        raise
    except Exception as e:  # fx cannot trace data-dependent control flow etc.
        raise UnsupportedError(None, f"torch.fx cannot trace {type(model).__name__}.forward: "
                                     f"{type(e).__name__}: {e}".splitlines()[0]) from None
    modules = dict(model.named_modules())
    env: dict[fx.Node, Any] = {}
    placeholders = [n for n in fx_graph.nodes if n.op == "placeholder"]
    if not placeholders:
        raise UnsupportedError(None, f"{type(model).__name__}.forward takes no input")
    neuron_paths = {path: 0 if neurons.snntorch_recurrence(m, path) else 1  # (RLeaky(cur, spk, mem))
                    for path, m in modules.items() if importer_for(m) in NEURONS}
    loop = time_loop.fold(fx_graph, neuron_paths)
    if loop is None:
        for node in fx_graph.nodes:
            env[node] = _convert(b, node, env, modules, model, placeholders)
        return _finish(b, model)
    first_step = set(loop.nodes)
    for node in fx_graph.nodes:
        if node in loop.initial_state:
            env[node] = _INITIAL_STATE
        elif node in loop.input_reads:
            env[node] = "input"
        elif node in loop.records:
            env[node] = env[loop.records[node]]
        elif node.op in ("placeholder", "get_attr", "output") or node in first_step:
            env[node] = _convert(b, node, env, modules, model, placeholders)
    b.graph.metadata["time_loop"] = {"steps": loop.steps, "input": "per_step" if loop.input_reads else "static"}
    return _finish(b, model)


def _finish(b: Builder, model) -> Graph:
    g = b.graph
    g.metadata.setdefault("source", f"{type(model).__module__}.{type(model).__qualname__}")
    g.verify()
    return g


def _value(env, a, node: fx.Node):
    if isinstance(a, fx.Node):
        v = env[a]
        if isinstance(v, _NeuronTuple):
            raise UnsupportedError(v.path, "a neuron's (spk, mem) tuple is used as a tensor; index it "
                                           "(spk = out[0])")
        return v.name() if isinstance(v, _StateElement) else v
    return a


def _tensor_input(env, a, node: fx.Node) -> str:
    v = _value(env, a, node)
    if not isinstance(v, str):
        raise UnsupportedError(node.name, f"'{node.format_node()}' needs a tensor computed from the input, got {v!r}")
    return v


def _convert(b: Builder, node: fx.Node, env, modules, model, placeholders):
    where = node.name
    if node.op == "placeholder":
        if node is placeholders[0]:
            return "input"
        if node.args:  # has a default (e.g. mem=None): treat as that constant
            return node.args[0]
        raise UnsupportedError(where, f"forward takes extra argument '{node.target}'; snnc traces "
                                      "single-input models (state lives in the neuron modules)")
    if node.op == "get_attr":
        raise UnsupportedError(where, f"the model reads tensor attribute '{node.target}' in forward; "
                                      "only module calls and +, *scalar, flatten/reshape are supported")
    if node.op == "call_module":
        m = modules[node.target]
        extra = [a for a in list(node.args[1:]) + list(node.kwargs.values())
                 if a is not None and not (isinstance(a, fx.Node) and env.get(a) is _INITIAL_STATE)]
        if extra:
            raise UnsupportedError(node.target, f"{type(m).__name__} is called with extra arguments "
                                                f"(state passed explicitly?); call it with one tensor")
        x = _tensor_input(env, node.args[0], node)
        out = import_module(b, m, node.target, x)
        return _NeuronTuple(b, m, node.target, out) if _returns_tuple(m) else out
    if node.op == "call_function" or node.op == "call_method":
        return _call(b, node, env)
    if node.op == "output":
        results = node.args[0]
        results = results if isinstance(results, (tuple, list)) else (results,)
        values = []  # a neuron's whole tuple is each of its elements
        for r in results:
            v = env[r] if isinstance(r, fx.Node) else r
            values += v.elements() if isinstance(v, _NeuronTuple) else [v.name() if isinstance(v, _StateElement) else v]
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise UnsupportedError("output", f"output {i} is not a tensor computed from the input")
            b.add("Output", "output" if len(values) == 1 else f"output_{i}", [v])
        return None
    raise UnsupportedError(where, f"fx node kind {node.op!r} is not supported")


def _call(b: Builder, node: fx.Node, env):
    fn, args, kw = node.target, node.args, node.kwargs
    where = node.name
    if fn is operator.getitem:
        src = env[args[0]] if isinstance(args[0], fx.Node) else args[0]
        if isinstance(src, _NeuronTuple):  # (a state element is made where it is used)
            return src.spikes if args[1] == 0 else _StateElement(src, args[1])
        if src == "__shape__" and args[1] == 0:
            return _Batch()
        if isinstance(src, (tuple, list, torch.Size)):
            return src[args[1]]
        raise UnsupportedError(where, f"indexing '{node.format_node()}' is not supported")
    if node.op == "call_function" and fn is getattr:
        if args[1] == "shape":
            return "__shape__"
        raise UnsupportedError(where, f"attribute access .{args[1]} is not supported")
    name = fn if isinstance(fn, str) else getattr(fn, "__name__", str(fn))
    if node.op == "call_method" and fn == "size":
        if (args[1:] and args[1] == 0) or kw.get("dim") == 0:
            return _Batch()
        raise UnsupportedError(where, "only x.size(0) (the batch size) is supported")
    if fn in _ADD or (node.op == "call_method" and fn in ("add", "__add__", "add_")):
        a, c = (_value(env, v, node) for v in args[:2])
        if kw.get("alpha", 1) != 1:
            raise UnsupportedError(where, "add with alpha is not supported")
        if isinstance(a, str) and isinstance(c, str):
            return b.add("Add", where, [a, c])
        raise UnsupportedError(where, f"adding a constant ({name}) is not supported; only tensor + tensor")
    if fn in _MUL or (node.op == "call_method" and fn in ("mul", "__mul__", "mul_")):
        a, c = (_value(env, v, node) for v in args[:2])
        if isinstance(a, str) and isinstance(c, (int, float)) and not isinstance(c, bool):
            return b.add("Scale", where, [a], {"scale": np.asarray(float(c), np.float64)})
        if isinstance(c, str) and isinstance(a, (int, float)) and not isinstance(a, bool):
            return b.add("Scale", where, [c], {"scale": np.asarray(float(a), np.float64)})
        if isinstance(a, (str, _Complement)) and isinstance(c, (str, _Complement)):
            factors = [(v.tensor, 1) if isinstance(v, _Complement) else (v, 0) for v in (a, c)]
            return b.add("Mul", where, [f for f, _ in factors], complement=tuple(k for _, k in factors))
        raise UnsupportedError(where, "multiplication is supported by a Python number (Scale) or of two "
                                      "tensors (Mul)")
    if fn in _SUB or (node.op == "call_method" and fn in ("sub", "__sub__", "__rsub__", "rsub")):
        a, c = (_value(env, v, node) for v in args[:2])
        if fn is torch.rsub or fn in ("__rsub__", "rsub"):
            a, c = c, a
        if isinstance(c, str) and a == 1 and not isinstance(a, bool) and kw.get("alpha", 1) == 1:
            return _Complement(c)
        raise UnsupportedError(where, "subtraction is supported only as 1 - x, a factor of a product "
                                      "(SpikingJelly's SEW IAND: x * (1 - y))")
    if fn in _FLATTEN or (node.op == "call_method" and fn == "flatten"):
        x = _tensor_input(env, args[0], node)
        start = args[1] if len(args) > 1 else kw.get("start_dim", 0)
        end = args[2] if len(args) > 2 else kw.get("end_dim", -1)
        return _flatten(b, where, x, int(start), int(end), b.lead)
    if fn in _RESHAPE or (node.op == "call_method" and fn in ("view", "reshape")):
        x = _tensor_input(env, args[0], node)
        dims = args[1:]
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = dims[0]
        dims = [_value(env, d, node) if isinstance(d, fx.Node) else d for d in dims]
        return _reshape(b, where, x, dims)
    if node.op == "call_method" and fn in ("contiguous", "clone", "detach"):
        return _tensor_input(env, args[0], node)
    raise UnsupportedError(where, f"function '{name}' is not supported; supported: {SUPPORTED}")


def _reshape(b: Builder, where: str, x: str, dims) -> str:
    shape = b.shape(x)
    if not dims or not isinstance(dims[0], _Batch) and dims[0] != -1:
        raise UnsupportedError(where, f"reshape to {dims}: the first dim must be the batch (x.size(0))")
    rest = [d for d in dims[1:]]
    if any(not isinstance(d, int) for d in rest):
        raise UnsupportedError(where, f"reshape to {dims}: only integer per-step dims are supported")
    if list(rest) == list(shape):
        return x
    if len(rest) == 1 and rest[0] in (-1, math.prod(shape)):
        return _flatten(b, where, x, 1, -1)
    raise UnsupportedError(where, f"reshape of per-step shape {shape} to {rest}: only flattening "
                                  "([N, -1]) is supported")
