"""Fixed-window readout: one window for the whole network, owned by its ``Readout`` node.

``fixed_window_readout(graph, window)`` configures the graph's Readout (or, with ``insert=True`` and
none present, inserts one between the last layer and the first Output, adding a ``Flatten`` when the
last layer's per-step shape is not ``(C,)``), then sets ``window_size`` on every stateful node, so the
neurons and the readout all reset after each ``window`` steps (the interpreter and every target
reset at the same boundary). ``window=None`` keeps the Readout's own window and propagates it;
``window=0`` means never reset. Neurons and a readout that already agree are left as they are, so
the pass is idempotent and, when nothing had to change, semantics-preserving.
"""

from __future__ import annotations

from snnc.ir import Graph, GraphError


def fixed_window_readout(graph: Graph, window: int | None = None, insert: bool = False,
                         output_mode: str | None = None, rule: str | None = None,
                         class_threshold: int | None = None, beta: float | None = None) -> Graph:
    if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 0):
        raise GraphError(None, f"readout window must be an int >= 0, got {window!r}")
    out = graph.copy().verify()
    readouts = [n for n in out.nodes if n.op == "Readout"]
    if len(readouts) > 1:
        raise GraphError(readouts[1].name, "a graph may have at most one Readout for a fixed window")
    if not readouts and insert:
        readouts = [_insert_readout(out)]
    if readouts:
        node = readouts[0]
        attrs = dict(node.attrs)
        if output_mode is not None:
            attrs["output_mode"] = output_mode
            if rule is None and attrs["rule"] not in _rules(output_mode):
                attrs["rule"] = _rules(output_mode)[0]
        for key, value in (("rule", rule), ("class_threshold", class_threshold)):
            if value is not None:
                attrs[key] = value
        if window is not None:
            attrs["window_size"] = window
        node.attrs = node.definition.complete_attrs(node.name, attrs)
        if beta is not None:
            import numpy as np
            node.params["beta"] = np.asarray(beta, dtype=np.float64)
        window = node.attrs["window_size"]
    if window is not None:
        for node in out.nodes:
            if node.stateful:
                node.attrs["window_size"] = window
    return out.verify()


def _rules(mode: str) -> tuple[str, ...]:
    from snnc.ir.ops import READOUT_RULES
    return READOUT_RULES[mode]


def _insert_readout(graph: Graph):
    from snnc.ir import Node

    outputs = graph.outputs
    target = outputs[0]
    last = graph[target.inputs[0]]
    nodes = list(graph.nodes)
    pos = nodes.index(last) + 1
    new = []
    src = last.name
    if len(last.shape) != 1:
        flat = Node(graph.unique_name(f"{last.name}_flat"), "Flatten", [src])
        new.append(flat)
        src = flat.name
    readout = Node(graph.unique_name("readout"), "Readout", [src], {}, {})
    readout.attrs = readout.definition.complete_attrs(readout.name, {})
    new.append(readout)
    target.inputs = [readout.name]
    nodes[pos:pos] = new
    for n in new:
        n.attrs = n.definition.complete_attrs(n.name, n.attrs)
    graph.replace_nodes(nodes)
    return graph[readout.name]


__all__ = ["fixed_window_readout"]
