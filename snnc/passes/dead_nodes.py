"""Dead-node elimination: drop every node no Output depends on.

A node is live if an ``Output`` node reaches it through inputs; the graph's single ``Input`` is always
kept (it defines the input shape). Removing a node that nothing observes cannot change any output,
so the pass preserves the graph's semantics exactly, state included (a dead neuron's state is never
read).
"""

from __future__ import annotations

from snnc.ir import Graph


def eliminate_dead_nodes(graph: Graph) -> Graph:
    live = {n.name for n in graph.nodes if n.op in ("Output", "Input")}
    for node in reversed(graph.nodes):
        if node.name in live:
            live.update(node.inputs)
    out = graph.copy()
    out.replace_nodes([n for n in out.nodes if n.name in live])
    return out


__all__ = ["eliminate_dead_nodes"]
