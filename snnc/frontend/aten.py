"""``.pt2`` (``torch.export``) programs → IR.

An exported program is a graph of ATen operators: the module structure is gone and a neuron's
dynamics appear as its arithmetic, from which its semantics (reset rule, comparison, timing) cannot
be recovered exactly. This importer therefore maps the stateless ATen operators of one time step
(``linear``, ``conv2d``, pooling, inference batch norm, flatten/view, ``add``, multiplication by a
number) and refuses anything else naming the operator and, from ``nn_module_stack``, the original
module path and class — for a network with neurons, save the module (``.pt``) instead. The program's
input is taken as one step ``[N, *input_shape]``.
"""

from __future__ import annotations

import operator

import numpy as np
import torch

from ..ir import Graph
from ..ir.errors import SnncError, UnsupportedError
from .trace import Builder, _flatten

aten = torch.ops.aten


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
    b = Builder(tuple(input_shape))
    env: dict = {placeholders[0]: "input"}

    def t(a):
        v = env.get(a) if isinstance(a, torch.fx.Node) else a
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
        name = node.name
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
                                         "program (neuron dynamics are not recoverable from ATen arithmetic); "
                                         "save the module with torch.save(model, 'model.pt') instead")
    g = b.graph
    g.metadata["source"] = source
    g.verify()
    return g
