"""The graph: nodes in topological order with named edges, shapes inferred and checked. The one edge
that may point forward is a Delay's input (it is read at the end of the step), so every cycle passes
through a Delay.

A :class:`Node` has a unique name, an op (see ``ops.py``), the names of its inputs, its parameters
(numpy arrays), its attributes and its inferred per-step output ``shape``. A :class:`Graph` keeps the
nodes in topological order; :meth:`Graph.verify` checks every node and infers every shape, raising a
:class:`GraphError` that names the node on the first problem.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .errors import GraphError
from .ops import OPS, Shape, emits_spikes, op_def, reads_after_step


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    shape: Shape | None = None
    #: numerics annotations written by a quantization pass (profile-specific: formats, scales,
    #: exponents); empty for a float graph. Serialized with the node; not checked by the op.
    quant: dict = field(default_factory=dict)

    @property
    def definition(self):
        return op_def(self.name, self.op)

    @property
    def stateful(self) -> bool:
        return self.definition.stateful


class Graph:
    """A spiking network: nodes in topological order; the outputs are the ``Output`` nodes."""

    def __init__(self, nodes: list[Node] | None = None, metadata: dict | None = None):
        self.nodes: list[Node] = []
        self.metadata: dict = dict(metadata or {})
        for node in nodes or []:
            self.add(node)

    # construction -------------------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        """Append a node; its inputs must already be in the graph (a Delay's may come later).
        Attributes get their defaults."""
        if not isinstance(node.name, str) or not node.name:
            raise GraphError(None, f"node names must be non-empty strings, got {node.name!r}")
        if node.name in self._index():
            raise GraphError(node.name, "duplicate node name")
        definition = op_def(node.name, node.op)
        node.inputs = list(node.inputs)
        for src in node.inputs:
            if src not in self._index() and not reads_after_step(node):
                raise GraphError(node.name, f"input '{src}' is not an earlier node of the graph")
        node.params = {k: np.asarray(v) for k, v in node.params.items()}
        node.attrs = definition.complete_attrs(node.name, node.attrs)
        self.nodes.append(node)
        self._by_name = None
        return node

    def add_node(self, name: str, op: str, inputs=(), params=None, quant=None, **attrs) -> Node:
        return self.add(Node(name, op, list(inputs), dict(params or {}), attrs, quant=dict(quant or {})))

    def unique_name(self, base: str) -> str:
        names = self._index()
        if base not in names:
            return base
        i = 1
        while f"{base}_{i}" in names:
            i += 1
        return f"{base}_{i}"

    # access ---------------------------------------------------------------------------------------
    _by_name: dict[str, Node] | None = None

    def _index(self) -> dict[str, Node]:
        if self._by_name is None:
            self._by_name = {n.name: n for n in self.nodes}
        return self._by_name

    def __getitem__(self, name: str) -> Node:
        try:
            return self._index()[name]
        except KeyError:
            raise GraphError(name, "no such node") from None

    def __contains__(self, name: str) -> bool:
        return name in self._index()

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "Input"]

    @property
    def outputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "Output"]

    def output_kinds(self) -> list[str]:
        """What each output carries (:meth:`value_kind`), for the dtype ``snnc.simulate`` returns it in."""
        return [self.value_kind(out.name) for out in self.outputs]

    def value_kind(self, name: str) -> str:
        """What node ``name``'s value carries: ``"spikes"`` (a ``Neuron``'s 0/1, also flattened or as
        an output), ``"decisions"`` (a ``Readout``'s class index) or ``"values"`` (anything else: a
        membrane, a linear readout, pooled spikes)."""
        source = self[name]
        while source.op in ("Output", "Flatten"):
            source = self[source.inputs[0]]
        if source.op == "Readout":
            return "decisions"
        return "spikes" if emits_spikes(source) else "values"

    def users(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    @property
    def input_shape(self) -> Shape:
        (inp,) = self.inputs
        return tuple(inp.attrs["shape"])

    def copy(self) -> "Graph":
        return copy.deepcopy(self)

    def replace_nodes(self, nodes: list[Node]) -> None:
        """Replace the node list (used by passes); re-verifies."""
        self.nodes = list(nodes)
        self._by_name = None
        self.verify()

    # checking -----------------------------------------------------------------------------------
    def verify(self) -> "Graph":
        """Check every node and infer every per-step shape, in order."""
        seen: dict[str, Node] = {}
        if len(self.inputs) != 1:
            raise GraphError(None, f"a graph needs exactly one Input node, found {len(self.inputs)}")
        if not self.outputs:
            raise GraphError(None, "a graph needs at least one Output node")
        for node in self.nodes:
            definition = op_def(node.name, node.op)
            if not isinstance(node.inputs, list) or not all(isinstance(s, str) for s in node.inputs):
                raise GraphError(node.name, f"inputs must be a list of node names, got {node.inputs!r}")
            if not isinstance(node.quant, dict):
                raise GraphError(node.name, f"quant must be a dict, got {type(node.quant).__name__}")
            if node.name in seen:
                raise GraphError(node.name, "duplicate node name")
            for src in node.inputs:
                if src not in seen and not reads_after_step(node):
                    raise GraphError(node.name, f"input '{src}' is not an earlier node (graph not in topological order)")
            node.attrs = definition.complete_attrs(node.name, node.attrs)
            definition.validate(node)
            in_shapes = [seen[s].shape if s in seen else None for s in node.inputs]
            node.shape = tuple(int(d) for d in definition.infer_shape(node, in_shapes))
            seen[node.name] = node
        for node in self.nodes:  # a Delay's input from a later node (a cycle): it must exist, shapes agree
            if reads_after_step(node):
                if node.inputs[0] not in seen:
                    raise GraphError(node.name, f"input '{node.inputs[0]}' is not a node of the graph")
                node.definition.infer_shape(node, [seen[node.inputs[0]].shape])
        self._by_name = seen
        return self

    # identity -----------------------------------------------------------------------------------
    def content_hash(self) -> str:
        """A stable SHA-256 of the graph's structure, attributes and parameter bytes (not metadata)."""
        h = hashlib.sha256()
        for node in self.nodes:
            h.update(json.dumps(node_record(node), sort_keys=True).encode())
            for key in sorted(node.params):
                arr = np.asarray(node.params[key], order="C")  # keeps 0-d arrays 0-d
                h.update(f"{key}:{arr.dtype.str}:{arr.shape}".encode())
                h.update(arr.tobytes())
        return h.hexdigest()

    def save(self, path, overwrite: bool = False) -> None:
        from .serialize import save
        save(self, path, overwrite)

    def summary(self) -> str:
        rows = [f"{n.name:<20} {n.op:<10} {str(n.shape):<16} " +
                " ".join(f"{k}{list(v.shape)}" for k, v in n.params.items()) for n in self.nodes]
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes)\n{self.summary()}"


def node_record(node: Node) -> dict:
    """The JSON-able description of a node without its parameters (used by the hash and the file); an
    attribute that is not ``recorded_at_default`` is left out while it has its default."""
    defined = OPS[node.op].attrs if node.op in OPS else {}
    attrs = {key: value for key, value in node.attrs.items()
             if key not in defined or defined[key].recorded_at_default or value != defined[key].default}
    try:
        return {"name": node.name, "op": node.op, "inputs": list(node.inputs),
                "attrs": _jsonable(attrs), "quant": _jsonable(node.quant)}
    except GraphError as e:
        raise GraphError(node.name, str(e)) from None


def _jsonable(value):
    """``value`` as plain JSON data (tuples become lists, numpy scalars and arrays Python values);
    anything JSON cannot hold exactly (NaN, objects) is an error rather than a silent change."""
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise GraphError(None, f"dictionary keys must be strings, got {sorted(map(repr, value))}")
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        raise GraphError(None, f"non-finite number {value} cannot be stored")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise GraphError(None, f"{type(value).__name__} value {value!r} cannot be stored in the graph (JSON only)")


__all__ = ["Graph", "Node", "OPS"]
