"""IR (float32) → ``model.onnx``: one time step, the state of every neuron and readout as explicit
inputs and outputs, standard ONNX ops only (see FORMAT.md).

Every IR node's per-step value is an ONNX value of the same name, so a tool can look at any layer.
Each op has one small emitter (a table from op to function, like the interpreter's kernel table);
the neuron and readout emitters run the same programs as the reference interpreter
(``snnc.ir.neuron.step``, ``snnc.ir.readout.step``) over an arithmetic that writes ONNX nodes, so
with identical inputs they give identical results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...ir import Graph
from ...ir.neuron import Arithmetic, initial_keys, step
from ...ir.readout import ReadoutArithmetic
from ...ir.readout import step as readout_step
from ...ir.ops import Pool2d, pair, reads_after_step
from ..common import window_of

FORMAT = "snnc-onnx-step"
SEQUENCE_FORMAT = "snnc-onnx-sequence"
VERSION = 1
OPSET = 17
RESET = "reset"
NP_TO_ONNX = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64,
              np.dtype(np.bool_): TensorProto.BOOL}


@dataclass
class Builder:
    """Collects ONNX nodes, initializers and the state table while the graph is walked."""

    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    states: list = field(default_factory=list)  # {"name", "input", "output", "dtype", "shape", "init"}
    internal: list = field(default_factory=list)  # names of values worth recording (H of neurons)
    delays: dict = field(default_factory=dict)  # Delay node → its slots' (current, output) names
    _count: int = 0

    def tmp(self, base: str) -> str:
        self._count += 1
        return f"{base}/t{self._count}"

    def op(self, op_type: str, inputs: list[str], output: str | None = None, base: str = "v", **attrs) -> str:
        output = output or self.tmp(base)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=f"{output}:{op_type}", **attrs))
        return output

    def const_once(self, name: str, value, dtype=np.float32) -> str:
        """The initializer ``name``, added the first time it is asked for."""
        if name not in {t.name for t in self.initializers}:
            self.const(name, value, dtype)
        return name

    def const(self, name: str, value, dtype=np.float32) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def state(self, node: str, var: str, dtype, shape: tuple, init: np.ndarray) -> tuple[str, str]:
        """Declare a state variable; returns (value after the reset select, name of the output)."""
        inp, out = f"state_in.{node}.{var}", f"state_out.{node}.{var}"
        init_name = self.const(f"{node}.{var}.init", init, dtype)
        current = self.op("Where", [RESET, init_name, inp], f"{node}.{var}.current")
        self.states.append({"name": f"{node}.{var}", "input": inp, "output": out,
                            "dtype": np.dtype(dtype).name, "shape": list(shape)})
        return current, out


def _init(value, zeros: np.ndarray) -> np.ndarray:
    """An initial state as the interpreter makes it: ``zeros + value`` (float32), or zeros."""
    return zeros if value is None else zeros + value.astype(np.float32)


def _param(b: Builder, node, key: str) -> str:
    return b.const_once(f"{node.name}.{key}", node.params[key].astype(np.float32))


def _linear(b, node, xs, graph):
    inputs = [xs[0], _param(b, node, "weight")] + ([_param(b, node, "bias")] if "bias" in node.params else [])
    return b.op("Gemm", inputs, node.name, transB=1)


def _conv2d(b, node, xs, graph):
    a = node.attrs
    (sh, sw), (ph, pw), (dh, dw) = (pair(node.name, k, a[k]) for k in ("stride", "padding", "dilation"))
    inputs = [xs[0], _param(b, node, "weight")] + ([_param(b, node, "bias")] if "bias" in node.params else [])
    return b.op("Conv", inputs, node.name, strides=[sh, sw], pads=[ph, pw, ph, pw], dilations=[dh, dw],
                group=a["groups"], kernel_shape=list(node.params["weight"].shape[2:]))


def _pool_attrs(node):
    (kh, kw), (sh, sw), (ph, pw) = Pool2d.geometry(node)
    return {"kernel_shape": [kh, kw], "strides": [sh, sw], "pads": [ph, pw, ph, pw]}


def _avgpool(b, node, xs, graph):
    return b.op("AveragePool", xs, node.name, count_include_pad=1, **_pool_attrs(node))


def _sumpool(b, node, xs, graph):
    """A window sum is a depthwise convolution with a kernel of ones."""
    attrs = _pool_attrs(node)
    channels = graph[node.inputs[0]].shape[0]
    ones = b.const(f"{node.name}.ones", np.ones((channels, 1, *attrs["kernel_shape"]), np.float32))
    return b.op("Conv", [xs[0], ones], node.name, group=channels, **attrs)


def _maxpool(b, node, xs, graph):
    return b.op("MaxPool", xs, node.name, **_pool_attrs(node))


def _flatten(b, node, xs, graph):
    return b.op("Flatten", xs, node.name, axis=1)


def _add(b, node, xs, graph):
    if len(xs) == 1:
        return b.op("Identity", xs, node.name)
    out = xs[0]
    for i, x in enumerate(xs[1:], 1):
        out = b.op("Add", [out, x], node.name if i == len(xs) - 1 else None, base=node.name)
    return out


def _mul(b, node, xs, graph):
    one = b.const(f"{node.name}.one", np.ones((), np.float32))
    factors = [b.op("Sub", [one, x], base=node.name) if flag else x for x, flag in zip(xs, node.attrs["complement"])]
    return b.op("Mul", factors, node.name)


def _delay(b, node, xs, graph):
    """``steps`` state slots, oldest first: the output is slot 0; :func:`_delay_take_in` shifts them."""
    slots = [b.state(node.name, f"q{k}", np.float32, node.shape, np.zeros(node.shape, np.float32))
             for k in range(node.attrs["steps"])]
    b.delays[node.name] = slots
    return slots[0][0]


def _delay_take_in(b, node, value: str) -> None:
    """After the step's nodes: slot ``k`` takes slot ``k + 1``'s value, the last one the Delay's input."""
    slots = b.delays[node.name]
    for (_, out), (current, _) in zip(slots, slots[1:]):
        b.op("Identity", [current], out)
    b.op("Identity", [value], slots[-1][1])


def _scale(b, node, xs, graph):
    return b.op("Mul", [xs[0], _param(b, node, "scale")], node.name)


def _identity(b, node, xs, graph):
    return b.op("Identity", xs, node.name)


class _OnnxArithmetic(Arithmetic):
    """:func:`snnc.ir.neuron.step` as ONNX nodes: a value is the name of a float32 tensor, a condition
    the name of a bool tensor; ``store`` emits nothing (float32 rounds every operation, as the
    interpreter does)."""

    def __init__(self, b: Builder, node):
        self.b, self.node, self.spikes = b, node, {}

    def _op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        return self.b.op(op_type, inputs, output, base=self.node.name, **attrs)

    def has(self, key):
        return key in self.node.params

    def param(self, key):
        return _param(self.b, self.node, key)

    def add(self, a, b):
        return self._op("Add", [a, b])

    def sub(self, a, b):
        return self._op("Sub", [a, b])

    def mul(self, a, b):
        return self._op("Mul", [a, b])

    def div(self, a, b):
        return self._op("Div", [a, b])

    def compare(self, op, a, b):
        return self._op("GreaterOrEqual" if op == "ge" else "Greater", [a, b])

    def select(self, cond, a, b):
        return self._op("Where", [cond, a, b])

    def spike(self, cond):
        if cond not in self.spikes:
            self.spikes[cond] = self._op("Cast", [cond], to=TensorProto.FLOAT)
        return self.spikes[cond]

    def output(self, cond):
        return self._op("Identity", [self.spike(cond)], self.node.name)

    def store(self, value, tensor_class):
        return value

    def zero(self, tensor_class):
        return self.b.const_once(f"{self.node.name}.zero", 0.0)


def _neuron(b, node, xs, graph):
    """The ``Neuron`` step (:func:`snnc.ir.neuron.step`), its state declared in the state table."""
    a, p, n = node.attrs, node.params, node.name
    zeros = np.zeros(node.shape, np.float32)
    state, outputs = {}, {}
    for var, key in initial_keys(a, p.__contains__).items():
        state[var], outputs[var] = b.state(n, var, np.float32, node.shape, _init(p.get(key), zeros))
    if a["reset_timing"] == "delayed":  # the previous spike, stored as 0/1
        s, outputs["s"] = b.state(n, "s", np.float32, node.shape, zeros)
        state["s"] = b.op("Cast", [s], base=n, to=TensorProto.BOOL)
    ar = _OnnxArithmetic(b, node)
    spike = step(ar, a, xs[0], state)
    b.internal.append(b.op("Identity", [state["h"]], f"{n}.h"))
    for var, out in outputs.items():
        b.op("Identity", [ar.spike(state[var]) if var == "s" else state[var]], out)
    return spike


class _OnnxReadout(ReadoutArithmetic):
    """:func:`snnc.ir.readout.step` as ONNX nodes: per-class values ``[N, C]``, classes ``[N, 1]``
    int64; the decision is the node's value (float32)."""

    def __init__(self, b: Builder, node):
        self.b, self.node = b, node

    def _op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        return self.b.op(op_type, inputs, output, base=self.node.name, **attrs)

    def _const(self, suffix: str, value, dtype) -> str:
        return self.b.const_once(f"{self.node.name}.{suffix}", value, dtype)

    def accumulate(self, mem, x):
        if "beta" not in self.node.params:
            return self._op("Add", [mem, x])
        return self._op("Add", [self._op("Mul", [_param(self.b, self.node, "beta"), mem]), x])

    def count(self, count, x):
        nonzero = self._op("Not", [self._op("Equal", [x, self._const("zero", 0.0, np.float32)])])
        return self._op("Add", [count, self._op("Cast", [nonzero], to=TensorProto.INT64)])

    def argmax(self, values):
        return self._op("ArgMax", [values], axis=1, keepdims=1, select_last_index=0)

    def difference(self, values):
        at = lambda c: self._op("Gather", [values, self._const(f"idx{c}", [c], np.int64)], axis=1)  # noqa: E731
        return self._op("Sub", [at(1), at(0)])

    def lowest_reached(self, count, threshold):
        reached = self._op("Cast", [self._op("GreaterOrEqual", [count, self._const("threshold", threshold, np.int64)])],
                           to=TensorProto.INT32)
        any_reached = self._op("Greater", [self._op("ReduceMax", [reached], axes=[1], keepdims=1),
                                           self._const("zero_i", 0, np.int32)])
        return self._op("Where", [any_reached, self.argmax(reached), self._const("minus_one", -1, np.int64)])

    def keep_first(self, first, other):
        return self._op("Where", [self._op("GreaterOrEqual", [first, self._const("zero64", 0, np.int64)]), first, other])

    def decision(self, value):
        return self._op("Cast", [value], self.node.name, to=TensorProto.FLOAT)


def _readout(b, node, xs, graph):
    """The ``Readout`` step (:func:`snnc.ir.readout.step`), its state declared in the state table."""
    a, n = node.attrs, node.name
    (classes,) = graph[node.inputs[0]].shape
    if a["output_mode"] == "membrane":
        names = {"mem": b.state(n, "mem", np.float32, (classes,), np.zeros(classes, np.float32))}
    else:
        names = {"count": b.state(n, "count", np.int64, (classes,), np.zeros(classes, np.int64))}
        if a["rule"] in ("first_to_threshold", "threshold_then_argmax"):
            names["first"] = b.state(n, "first", np.int64, (1,), np.full(1, -1, np.int64))
    state = {var: current for var, (current, _) in names.items()}
    decision = readout_step(_OnnxReadout(b, node), a, xs[0], state)
    for var, (_, out) in names.items():
        b.op("Identity", [state[var]], out)
    return decision


EMIT = {"Linear": _linear, "Conv2d": _conv2d, "AvgPool2d": _avgpool, "SumPool2d": _sumpool,
        "MaxPool2d": _maxpool, "Flatten": _flatten, "Add": _add, "Mul": _mul, "Scale": _scale, "Output": _identity,
        "Neuron": _neuron, "Readout": _readout, "Delay": _delay}


def make_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    """An ONNX graph as a model of snnc's opset and IR version."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="snnc")
    model.ir_version = 8
    return model


def build(graph: Graph) -> onnx.ModelProto:
    graph.verify()
    b = Builder()
    (inp,) = graph.inputs
    values = {inp.name: inp.name}
    for node in graph.nodes:
        if node.op == "Input":
            continue
        xs = [] if reads_after_step(node) else [values[s] for s in node.inputs]
        values[node.name] = EMIT[node.op](b, node, xs, graph)
        if values[node.name] != node.name:  # make every IR node's value visible under its own name
            b.op("Identity", [values[node.name]], node.name)
            values[node.name] = node.name
    for node in graph.nodes:
        if reads_after_step(node):
            _delay_take_in(b, node, values[node.inputs[0]])
    batch = "N"
    onnx_inputs = [helper.make_tensor_value_info(inp.name, TensorProto.FLOAT, [batch, *inp.shape]),
                   helper.make_tensor_value_info(RESET, TensorProto.BOOL, [])]
    onnx_outputs = [helper.make_tensor_value_info(o.name, TensorProto.FLOAT, [batch, *o.shape]) for o in graph.outputs]
    for s in b.states:
        dtype = NP_TO_ONNX[np.dtype(s["dtype"])]
        onnx_inputs.append(helper.make_tensor_value_info(s["input"], dtype, [batch, *s["shape"]]))
        onnx_outputs.append(helper.make_tensor_value_info(s["output"], dtype, [batch, *s["shape"]]))
    model = make_model(helper.make_graph(b.nodes, "snnc_step", onnx_inputs, onnx_outputs, b.initializers))
    meta = {"snnc.format": FORMAT, "snnc.version": str(VERSION), "snnc.window": str(window_of(graph)),
            "snnc.input": inp.name, "snnc.reset": RESET,
            "snnc.outputs": json.dumps([o.name for o in graph.outputs]),
            "snnc.states": json.dumps(b.states),
            "snnc.values": json.dumps([n.name for n in graph.nodes if n.op != "Input"] + b.internal)}
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    return model


def build_sequence(step: onnx.ModelProto) -> onnx.ModelProto:
    """The whole input sequence in one model: ``Scan`` over time with the step graph as its body.

    Inputs ``<input>`` ``[T, N, ...]`` and ``reset`` ``[T]`` (bool); outputs every graph output as
    ``[T, N, ...]`` and the state after the last step as ``state_out.*``. The body is the step graph
    with every name prefixed by ``step/`` (ONNX forbids a subgraph to reuse outer names); the initial
    state is zeros (the first ``reset`` must be true)."""
    meta = {p.key: p.value for p in step.metadata_props}
    states, outputs = json.loads(meta["snnc.states"]), json.loads(meta["snnc.outputs"])
    inp = meta["snnc.input"]
    rename = lambda name: f"step/{name}" if name else name  # noqa: E731
    body = onnx.GraphProto()
    body.CopyFrom(step.graph)
    body.name = "snnc_step_body"
    for node in body.node:
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        node.name = rename(node.name)
    for init in body.initializer:
        init.name = rename(init.name)
    by_in = {i.name: i for i in step.graph.input}
    by_out = {o.name: o for o in step.graph.output}

    def renamed(info):
        copy = onnx.ValueInfoProto()
        copy.CopyFrom(info)
        copy.name = rename(info.name)
        return copy

    del body.input[:]
    body.input.extend([renamed(by_in[s["input"]]) for s in states] + [renamed(by_in[inp]), renamed(by_in[RESET])])
    del body.output[:]
    body.output.extend([renamed(by_out[s["output"]]) for s in states] + [renamed(by_out[o]) for o in outputs])

    nodes, inits = [], []
    x_dims = [d.dim_value for d in by_in[inp].type.tensor_type.shape.dim[1:]]
    nodes.append(helper.make_node("Shape", [inp], ["seq/shape"]))
    for name, value in (("seq/start", [1]), ("seq/end", [2])):
        inits.append(numpy_helper.from_array(np.array(value, np.int64), name))
    nodes.append(helper.make_node("Slice", ["seq/shape", "seq/start", "seq/end"], ["seq/n"]))
    initial = []
    for s in states:
        dims = numpy_helper.from_array(np.array(s["shape"], np.int64), f"seq/{s['name']}.dims")
        inits.append(dims)
        nodes.append(helper.make_node("Concat", ["seq/n", dims.name], [f"seq/{s['name']}.full"], axis=0))
        zero = numpy_helper.from_array(np.zeros(1, np.dtype(s["dtype"])))
        nodes.append(helper.make_node("ConstantOfShape", [f"seq/{s['name']}.full"], [f"seq/{s['name']}.zeros"],
                                      value=zero))
        initial.append(f"seq/{s['name']}.zeros")
    nodes.append(helper.make_node("Scan", initial + [inp, RESET], [s["output"] for s in states] + outputs,
                                  num_scan_inputs=2, body=body))
    t, n = "T", "N"
    g_inputs = [helper.make_tensor_value_info(inp, TensorProto.FLOAT, [t, n, *x_dims]),
                helper.make_tensor_value_info(RESET, TensorProto.BOOL, [t])]
    g_outputs = []
    for o in outputs:
        dims = [d.dim_value for d in by_out[o].type.tensor_type.shape.dim[1:]]
        g_outputs.append(helper.make_tensor_value_info(o, TensorProto.FLOAT, [t, n, *dims]))
    for s in states:
        g_outputs.append(helper.make_tensor_value_info(s["output"], NP_TO_ONNX[np.dtype(s["dtype"])], [n, *s["shape"]]))
    model = make_model(helper.make_graph(nodes, "snnc_sequence", g_inputs, g_outputs, inits))
    helper.set_model_props(model, {"snnc.format": SEQUENCE_FORMAT, "snnc.version": str(VERSION),
                                   "snnc.window": meta["snnc.window"], "snnc.input": inp, "snnc.reset": RESET,
                                   "snnc.outputs": meta["snnc.outputs"], "snnc.states": meta["snnc.states"]})
    onnx.checker.check_model(model, full_check=True)
    return model


def lower(graph: Graph, out_dir: Path, options: dict | None = None) -> None:
    """Writes ``model.onnx`` (one step) and ``model_sequence.onnx`` (a whole input sequence via Scan)."""
    model = build(graph)
    onnx.save(model, str(Path(out_dir) / "model.onnx"))
    onnx.save(build_sequence(model), str(Path(out_dir) / "model_sequence.onnx"))
