"""A ``forward`` that loops over time itself (snnTorch's tutorial form) → the body of one step.

torch.fx unrolls a Python loop: ``for step in range(num_steps)`` records the loop body ``num_steps``
times, each neuron module once per step, its state passed from one call to the next::

    mem1 = self.lif1.init_leaky()
    for step in range(num_steps):
        spk1, mem1 = self.lif1(self.fc1(x), mem1)     # or self.fc1(x[step]): a time-major input
        spk_rec.append(spk1); mem_rec.append(mem1)
    return torch.stack(spk_rec), torch.stack(mem_rec)

:func:`fold` checks that the unrolled graph is exactly that loop, and returns the body of its first
step. The IR's neurons carry their state from step to step themselves, so that body, with each
``torch.stack`` of records read as the recorded value of the step, is the per-step graph; nothing is
approximated, and a graph that is not this loop is refused, naming the first node that differs:

- every step's nodes are the first step's, node for node (same op, target and constants; each
  argument the same node of its own step, or the same node from before the loop);
- a neuron's state arguments at step ``k`` are its own state outputs at step ``k - 1`` (argument
  ``j`` is output ``j``: ``lif(cur, mem)`` → ``(spk, mem)``, ``syn(cur, syn, mem)`` →
  ``(spk, syn, mem)``; for a recurrent neuron, whose first state is its spikes, output ``j - 1``:
  ``rlif(cur, spk, mem)`` → ``(spk, mem)``), and at step 0 the initial state (``init_leaky()``,
  ``init_rleaky()``: the module's zeroed state);
- the input is read whole every step (a static input: the same ``x`` is presented at every step) or
  as ``x[step]`` (a time-major ``[T, N, ...]`` input);
- after the loop there are only ``torch.stack(records)`` (dim 0) of one value per step.
"""

from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.fx as fx

from ..ir.errors import UnsupportedError

_BODY_OPS = ("call_module", "call_function", "call_method")


@dataclass
class Folded:
    """The loop's first step: its nodes (in order), what each record stack collects, and how the
    input is read (``"static"``, or ``"per_step"`` for ``x[step]``)."""

    steps: int
    nodes: list[fx.Node]
    #: a ``torch.stack`` of records → the recorded node of the first step
    records: dict[fx.Node, fx.Node]
    #: the state arguments of the first step's neuron calls (the initial state)
    initial_state: set[fx.Node] = field(default_factory=set)
    #: ``x[step]`` reads of the first step
    input_reads: set[fx.Node] = field(default_factory=set)


class _Mismatch(Exception):
    """A step of the unrolled graph that differs from the first (the message says where)."""


def fold(graph: fx.Graph, neurons: dict[str, int]) -> Folded | None:
    """The first step of ``graph``'s time loop, or None when no neuron module (of the targets
    ``neurons``, each with the index of the output its first state argument is) is called more than once. Raises :class:`UnsupportedError` for a graph that calls a
    neuron more than once but is not a time loop of identical steps."""
    body = [n for n in graph.nodes if n.op in _BODY_OPS]
    calls = [i for i, n in enumerate(body) if n.op == "call_module" and n.target in neurons]
    counts = Counter(body[i].target for i in calls)
    if not counts or max(counts.values()) == 1:
        return None
    if len(set(counts.values())) != 1:
        raise UnsupportedError(None, "the neuron modules are called different numbers of times "
                                     f"({dict(counts)}); snnc folds a forward that loops over time, each neuron "
                                     "called once per step")
    steps = next(iter(counts.values()))
    first = body[calls[0]].target
    positions = [i for i in calls if body[i].target == first]
    period = positions[1] - positions[0]
    inputs = [n for n in graph.nodes if n.op == "placeholder"][:1]
    error = None
    for start in range(max(0, positions[0] - period + 1), positions[0] + 1):
        if start + steps * period > len(body):
            break
        try:
            return _fold_at(body, start, period, steps, neurons, inputs)
        except _Mismatch as e:
            error = error or str(e)
    raise UnsupportedError(None, f"the forward calls each neuron {steps} times, but not as a loop of identical "
                                 f"steps: {error}")


def _fold_at(body, start, period, steps, neurons, inputs) -> Folded:
    index = {n: i for i, n in enumerate(body)}
    step_of = lambda i: (i - start) // period if start <= i < start + steps * period else None  # noqa: E731
    folded = Folded(steps, body[:start + period], {})
    for k in range(steps):
        for j in range(period):
            _same_node(body[start + j], body[start + k * period + j], k, index, step_of, period, neurons,
                       inputs, folded)
    for n in body[start + steps * period:]:
        folded.records[n] = _record(n, index, step_of, start, period, steps)
    return folded


def _same_node(n0: fx.Node, nk: fx.Node, k, index, step_of, period, neurons, inputs, folded) -> None:
    where = f"node '{nk.name}' of step {k} (first step: '{n0.name}')"
    if (n0.op, n0.target) != (nk.op, nk.target):
        raise _Mismatch(f"{where} is {nk.op} {nk.target}, not {n0.op} {n0.target}")
    if n0.op == "call_module" and n0.target in neurons:
        _same_state_chain(n0, nk, k, index, step_of, where, folded, neurons[n0.target])
        args0, argsk = (n0.args[:1], n0.kwargs), (nk.args[:1], nk.kwargs)
    elif _is_step_read(nk, inputs, k):
        if not _is_step_read(n0, inputs, 0):
            raise _Mismatch(f"{where} reads the input at step {k}, the first step does not read x[0]")
        folded.input_reads.add(n0)
        return
    else:
        args0, argsk = (n0.args, n0.kwargs), (nk.args, nk.kwargs)
    if not _same_args(args0, argsk, k, index, step_of, period):
        raise _Mismatch(f"{where}: arguments {nk.args} differ from the first step's {n0.args}")


def _same_state_chain(n0, nk, k, index, step_of, where, folded, first_output: int) -> None:
    """``nk``'s state arguments are its previous call's state outputs (argument j ← output
    ``j - 1 + first_output``)."""
    if nk.kwargs or n0.kwargs:
        raise _Mismatch(f"{where}: pass the neuron's state positionally (lif(cur, mem))")
    if len(nk.args) != len(n0.args):
        raise _Mismatch(f"{where} passes {len(nk.args) - 1} state arguments, the first step {len(n0.args) - 1}")
    for j, (a0, ak) in enumerate(zip(n0.args[1:], nk.args[1:]), start=1):
        if k == 0:
            if not (a0 is None or isinstance(a0, fx.Node) and a0.op == "get_attr"):
                raise _Mismatch(f"{where}: its initial state argument {j} is {a0}, not the module's own "
                                "initial state (init_leaky() / init_synaptic())")
            if a0 is not None:
                folded.initial_state.add(a0)
            continue
        ok = (isinstance(ak, fx.Node) and ak.op == "call_function" and ak.target is operator.getitem
              and ak.args[1] == j - 1 + first_output
              and isinstance(ak.args[0], fx.Node) and ak.args[0].target == nk.target
              and step_of(index.get(ak.args[0], -1)) == k - 1)
        if not ok:
            raise _Mismatch(f"{where}: its state argument {j} is not the previous step's state output "
                            f"{j - 1 + first_output}")


def _is_step_read(n: fx.Node, inputs, k: int) -> bool:
    """``n`` is ``x[k]`` (or ``x[k, ...]``) of the model input."""
    if n.op != "call_function" or n.target is not operator.getitem or n.args[0] not in inputs:
        return False
    key = n.args[1]
    head = key[0] if isinstance(key, tuple) and key else key
    rest = key[1:] if isinstance(key, tuple) else ()
    return isinstance(head, int) and head == k and all(r in (slice(None), Ellipsis) for r in rest)


def _same_args(a0, ak, k, index, step_of, period) -> bool:
    if isinstance(ak, fx.Node):
        i = index.get(ak)
        if i is not None and step_of(i) is not None:  # a node of some step: the same node of its own step
            return step_of(i) == k and isinstance(a0, fx.Node) and index.get(a0) == i - k * period
        return a0 is ak
    if isinstance(ak, (tuple, list)):
        return type(a0) is type(ak) and len(a0) == len(ak) and all(
            _same_args(x, y, k, index, step_of, period) for x, y in zip(a0, ak))
    if isinstance(ak, dict):
        return isinstance(a0, dict) and a0.keys() == ak.keys() and all(
            _same_args(a0[key], ak[key], k, index, step_of, period) for key in ak)
    if isinstance(ak, torch.Tensor) or isinstance(a0, torch.Tensor):
        return a0 is ak
    return type(a0) is type(ak) and a0 == ak


def _record(n: fx.Node, index, step_of, start, period, steps) -> fx.Node:
    """The first step's node that ``n`` (after the loop), a ``torch.stack`` of one value per step,
    collects."""
    items = n.args[0] if n.args else None
    dim = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0)
    if n.op != "call_function" or n.target is not torch.stack or dim != 0 or not isinstance(items, (list, tuple)):
        raise UnsupportedError(n.name, f"'{n.format_node()}' after the time loop: only torch.stack(records, dim=0) "
                                       "of per-step values is supported (a reduction over time is a Readout)")
    slots = [index.get(a) if isinstance(a, fx.Node) else None for a in items]
    first = slots[0]
    if (len(items) != steps or first is None or step_of(first) != 0
            or any(s is None or s != first + k * period for k, s in enumerate(slots))):
        raise UnsupportedError(n.name, f"'{n.name}' stacks {len(items)} values that are not the same value of "
                                       f"each of the {steps} steps")
    return items[0]


__all__ = ["Folded", "fold"]
