"""``.pt2`` (``torch.export``) programs → IR.

An exported program is a graph of ATen operators: the module structure is gone, and a neuron written
as tensor arithmetic (snnTorch, SpikingJelly, ...) appears as that arithmetic, from which its
semantics (reset rule, comparison, timing) cannot be recovered exactly. This importer maps

- the stateless ATen operators of one time step (``linear``, ``conv2d``, pooling, inference batch
  norm, flatten/view, ``add``, multiplication by a number);
- ``snnc::neuron_step`` → the IR ``Neuron`` op and ``snnc::readout_step`` → ``Readout``, attributes
  and parameters taken from the call's arguments (snnc.nn modules export as these operators, see
  ``snnc.ir.torch_ops`` and ``snnc.nn.export``);
- operators whose inputs are all constants (e.g. PLIF's ``sigmoid(w)``, CubaLIF's ``1 - decay``
  on a per-neuron tensor), evaluated once, as the program would;

and refuses anything else naming the operator and, from ``nn_module_stack``, the original module
path and class. The program's input is taken as one step ``[N, *input_shape]``.
"""

from __future__ import annotations

import operator

import numpy as np
import torch

from ..ir import Graph
from ..ir import torch_ops
from ..ir.errors import SnncError, UnsupportedError
from .trace import Builder, _flatten, ir_name

aten = torch.ops.aten


class _StateOutput:
    """An output of ``snnc::neuron_step``: the spikes, or the next step's state ``v``/``i``/``b``. Used
    as a value, it becomes a ``Neuron`` node of that neuron with that ``output`` (made on first use, so a
    call whose spikes are not used has no spiking node); ``b`` has no IR value."""

    def __init__(self, where: str, var: str, tap=None):
        self.where, self.var, self.tap, self.name = where, var, tap, None

    def value(self, source: str) -> str:
        if self.tap is None:
            raise UnsupportedError(self.where, f"{source}: the state output '{self.var}' of snnc::neuron_step is "
                                               "used as a value; only the spikes and the states v and i are values "
                                               "of the IR")
        if self.name is None:
            self.name = self.tap(self.var)
        return self.name


def _bind(node) -> dict:
    """The call's arguments by schema name (defaults filled in)."""
    schema = node.target._schema
    bound = {}
    for k, arg in enumerate(schema.arguments):
        if k < len(node.args):
            bound[arg.name] = node.args[k]
        elif arg.name in node.kwargs:
            bound[arg.name] = node.kwargs[arg.name]
        else:
            bound[arg.name] = arg.default_value if arg.has_default_value() else None
    return bound


def _module_path(node) -> str | None:
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else None


def _is_constant(v) -> bool:
    if isinstance(v, (list, tuple)):
        return all(_is_constant(e) for e in v)
    return not isinstance(v, (str, _StateOutput))


def _where(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path, cls = list(stack.values())[-1]
        cls = getattr(cls, "__qualname__", str(cls))
        return f"{path or '<root>'} ({cls}), aten op {node.target}"
    return f"aten op {node.target}"


def import_exported(ep, source: str = "program", input_shape=None) -> Graph:
    gm = ep.module()
    consts = dict(gm.named_parameters())
    consts.update(dict(gm.named_buffers()))
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if not placeholders:
        raise SnncError(f"{source}: the exported program takes no input")
    val = placeholders[0].meta.get("val")
    if input_shape is None:
        if val is None or len(val.shape) < 2:
            raise SnncError(f"{source}: cannot tell the per-step input shape; pass --input-shape C,H,W")
        input_shape = tuple(int(d) for d in val.shape[1:])
    for node in gm.graph.nodes:
        stack = node.meta.get("nn_module_stack") or {}
        root = getattr(list(stack.values())[0][1], "__qualname__", str(list(stack.values())[0][1])) if stack else ""
        if root.endswith("GraphModule") and "targets.gpu" in str(list(stack.values())[0][1]):
            raise SnncError(f"{source}: this is a gpu artifact's multi-step program (module.pt2), whose neurons "
                            "are snnc::neuron_sequence calls over whole sequences; compile the artifact's step.pt2 or graph.snnc instead")
    b = Builder(tuple(input_shape))
    env: dict = {placeholders[0]: "input"}

    def t(a):
        v = env.get(a) if isinstance(a, torch.fx.Node) else a
        if isinstance(v, _StateOutput):
            return v.value(source)
        return v

    def arr(a) -> np.ndarray:
        v = t(a)
        if not isinstance(v, torch.Tensor):
            raise UnsupportedError(None, f"{source}: expected a constant tensor, got {v!r}")
        return v.detach().cpu().numpy().copy()

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if node is not placeholders[0]:
                raise UnsupportedError(node.name, f"{source}: the program takes more than one input")
            continue
        if node.op == "call_module" and "guards" in str(node.target):
            continue  # torch.export's input guard checks
        if node.op == "get_attr":
            env[node] = consts.get(node.target, getattr(gm, node.target, None))
            continue
        if node.op == "output":
            outs = node.args[0] if isinstance(node.args[0], (tuple, list)) else (node.args[0],)
            for i, o in enumerate(outs):
                b.add("Output", "output" if len(outs) == 1 else f"output_{i}", [t(o)])
            continue
        fn, args = node.target, node.args
        name = _name(node)  # the module path, as snnc.trace names nodes (per-layer config keys match)
        if fn is torch.ops.snnc.neuron_step.default:
            env[node] = _neuron(b, node, t, arr, source)
            continue
        if fn is torch.ops.snnc.readout_step.default:
            env[node] = _readout(b, node, t, source)
            continue
        if isinstance(fn, torch._ops.OpOverload) and fn.namespace == "aten" and _constant_args(node, env):
            with torch.no_grad():  # a constant subexpression (PLIF's sigmoid(w), 1 - decay): evaluate it
                env[node] = fn(*torch.fx.node.map_arg(args, t), **torch.fx.node.map_arg(node.kwargs, t))
            continue
        if fn is aten._assert_tensor_metadata.default:
            continue
        if fn in (aten.linear.default,):
            params = {"weight": arr(args[1])}
            if len(args) > 2 and args[2] is not None:
                params["bias"] = arr(args[2])
            env[node] = b.add("Linear", name, [t(args[0])], params)
        elif fn in (aten.conv2d.default,):
            params = {"weight": arr(args[1])}
            if len(args) > 2 and args[2] is not None:
                params["bias"] = arr(args[2])
            stride, padding, dilation, groups = (list(args[3:7]) + [1, 0, 1, 1][len(args[3:7]):])
            pair = lambda v: tuple(int(e) for e in (v if isinstance(v, (list, tuple)) else (v, v)))  # noqa: E731
            env[node] = b.add("Conv2d", name, [t(args[0])], params, stride=pair(stride), padding=pair(padding),
                              dilation=pair(dilation), groups=int(groups))
        elif fn in (aten.avg_pool2d.default, aten.max_pool2d.default):
            k = tuple(args[1])
            s = tuple(args[2]) if len(args) > 2 and args[2] else k
            p = tuple(args[3]) if len(args) > 3 else (0, 0)
            if fn is aten.max_pool2d.default and len(args) > 4 and tuple(args[4]) not in ((1, 1), (1,)):
                raise UnsupportedError(name, f"{source}: dilated max pooling ({_where(node)}) is not supported")
            op = "AvgPool2d" if fn is aten.avg_pool2d.default else "MaxPool2d"
            if fn is aten.avg_pool2d.default:
                ceil, include_pad, divisor = (list(args[4:7]) + [False, True, None][len(args[4:7]):])
                if ceil or not include_pad or divisor not in (None, 1):
                    raise UnsupportedError(name, f"{source}: avg_pool2d with ceil_mode, count_include_pad=False "
                                                 f"or divisor_override={divisor} ({_where(node)}) is not supported")
                op = "SumPool2d" if divisor == 1 else op
            env[node] = b.add(op, name, [t(args[0])], kernel_size=k, stride=s, padding=p)
        elif fn is aten.batch_norm.default:
            x, w, bias, mean, var, training, _momentum, eps = args[:8]
            if training:
                raise UnsupportedError(name, f"{source}: batch norm in training mode ({_where(node)})")
            env[node] = b.add("BatchNorm", name, [t(x)], {"mean": arr(mean), "var": arr(var), "weight": arr(w),
                                                          "bias": arr(bias)}, eps=float(eps))
        elif fn is aten._native_batch_norm_legit_no_training.default:
            x, w, bias, mean, var, _momentum, eps = args
            env[node] = (b.add("BatchNorm", name, [t(x)], {"mean": arr(mean), "var": arr(var), "weight": arr(w),
                                                            "bias": arr(bias)}, eps=float(eps)),)
        elif fn is operator.getitem and isinstance(t(args[0]), tuple):
            env[node] = t(args[0])[args[1]]
        elif fn in (aten.flatten.using_ints,):
            env[node] = _flatten(b, name, t(args[0]), int(args[1]) if len(args) > 1 else 0,
                                 int(args[2]) if len(args) > 2 else -1)
        elif fn in (aten.view.default, aten.reshape.default, aten._unsafe_view.default):
            x = t(args[0])
            dims = list(args[1])
            rest = dims[1:]
            shape = b.shape(x)
            if rest == list(shape):
                env[node] = x
            elif len(rest) == 1 and rest[0] in (-1, int(np.prod(shape))):
                env[node] = _flatten(b, name, x, 1, -1)
            else:
                raise UnsupportedError(name, f"{source}: reshape of {shape} to {rest} ({_where(node)}) is not supported")
        elif fn in (aten.add.Tensor,) and all(isinstance(t(a), str) for a in args[:2]):
            env[node] = b.add("Add", name, [t(args[0]), t(args[1])])
        elif fn in (aten.mul.Tensor, aten.mul.Scalar) and isinstance(t(args[0]), str) and \
                isinstance(args[1], (int, float)):
            env[node] = b.add("Scale", name, [t(args[0])], {"scale": np.asarray(float(args[1]), np.float64)})
        elif fn in (aten.dropout.default, aten.clone.default, aten.contiguous.default, aten.alias.default,
                    aten.detach.default):
            env[node] = t(args[0])
        else:
            raise UnsupportedError(name, f"{source}: {_where(node)} cannot be imported from a torch.export "
                                         "program: neuron dynamics written as tensor arithmetic (snnTorch, "
                                         "SpikingJelly, ...) are not recoverable from ATen operators; save the "
                                         "module with torch.save(model, 'model.pt') instead, or build it from "
                                         "snnc.nn modules (they export as snnc::neuron_step ops)")
    g = b.graph
    g.metadata["source"] = source
    g.verify()
    return g


def _constant_args(node, env) -> bool:
    """Whether every fx input of ``node`` is a constant tensor (computed from no IR value)."""
    inputs = node.all_input_nodes
    return bool(inputs) and all(a in env and _is_constant(env[a]) and env[a] is not None for a in inputs)


def _name(node) -> str:
    path = _module_path(node)
    return ir_name(path) if path else node.name


def _neuron(b: Builder, node, t, arr, source: str):
    """``snnc::neuron_step`` → ``Neuron`` nodes; returns its outputs ``(spikes, v, i, b)`` as
    :class:`_StateOutput`."""
    a = _bind(node)
    where = _where(node)
    x = t(a["x"])
    if not isinstance(x, str):
        raise UnsupportedError(node.name, f"{source}: {where}: the neuron's input is not computed from the "
                                          "program input")
    for key in ("v", "i", "b", "spike"):
        if a[key] is not None:
            raise UnsupportedError(node.name, f"{source}: {where}: the neuron starts from a given state "
                                              f"'{key}'; export one step from the reset state "
                                              "(snnc.nn.reset_net(model) before torch.export)")
    attrs = {key: a[key] for key in ("charge", "compare", "reset", "reset_timing", "decay_input", "threshold")}
    attrs["decay_input"] = bool(attrs["decay_input"])
    attrs["window_size"] = int(a["window_size"])
    params = {key: np.asarray(float(a[key]), np.float64) for key in torch_ops.NEURON_PARAMS if a[key] is not None}
    try:
        names = torch_ops.tensor_param_names(a["tensor_params"])
    except ValueError as e:
        raise UnsupportedError(node.name, f"{source}: {where}: {e}") from None
    tensors = list(a["tensors"])
    if len(names) != len(tensors):
        raise UnsupportedError(node.name, f"{source}: {where}: tensor_params names {len(names)} parameter(s) "
                                          f"but {len(tensors)} tensor(s) are given")
    for key, value in zip(names, tensors):
        if key in params:
            raise UnsupportedError(node.name, f"{source}: {where}: parameter '{key}' given twice")
        params[key] = arr(value)
    def tap(var: str) -> str:
        if var == "spikes":
            return b.add("Neuron", _name(node), [x], params, **attrs)
        if var == "i" and attrs["charge"] != "cuba":
            raise UnsupportedError(node.name, f"{source}: {where}: the current output 'i' of a '{attrs['charge']}' "
                                              "neuron (it has no current) is used as a value")
        return b.add("Neuron", _name(node), [x], params, **attrs, output=var)

    return tuple(_StateOutput(node.name, var, tap) for var in ("spikes", "v", "i")) + (_StateOutput(node.name, "b"),)


def _readout(b: Builder, node, t, source: str) -> str:
    a = _bind(node)
    x = t(a["x"])
    if not isinstance(x, str):
        raise UnsupportedError(node.name, f"{source}: {_where(node)}: the readout's input is not computed from "
                                          "the program input")
    params = {"beta": np.asarray(float(a["beta"]), np.float64)} if a["output_mode"] == "membrane" else {}
    return b.add("Readout", _name(node), [x], params, output_mode=a["output_mode"], rule=a["rule"],
                 class_threshold=int(a["class_threshold"]), window_size=int(a["window_size"]))
