"""IR ⇄ NIR (``nir`` package), with an explicit time step ``dt``.

NIR nodes are continuous-time ODEs; snnc reads and writes them with the forward-Euler convention
that snnTorch uses (see FORMAT.md): for ``τ v̇ = (v_leak − v) + R·I``,
one step is ``v ← (1 − dt/τ)·v + (dt/τ)·v_leak + (R·dt/τ)·I``, then ``z = [v > v_threshold]`` and a
spiking neuron is reset to ``v_reset`` in the same step. Per IR charge, with gains chosen to be 1:

======================  ===========================================================================
IR ``Neuron`` charge    NIR node
======================  ===========================================================================
``beta``                ``LIF``  τ = dt/(1−β), R = τ/dt, v_leak = 0
``lif`` (decay_input)   ``LIF``  τ = tau·dt, R = 1 (not decay_input: R = tau), v_leak
``plif``                ``LIF``  τ = dt/k, R = 1 (not decay_input: R = 1/k), v_leak
``if``                  ``IF``   R = 1/dt
``cuba``                ``CubaLIF`` τ_syn = dt/(1−α), τ_mem = dt/(1−β), R = τ_mem/dt, w_in = τ_syn/dt
======================  ===========================================================================

Every neuron parameter is written as a per-neuron array (NIR's type inference fails on scalars) in
float64, computed from the IR's values; reading back computes the inverse in float64 and rounds to
float32, which returns every float32 parameter exactly, and collapses constant arrays to scalars, so
snnc → NIR → snnc interprets identically. Equivalent but differently-rounded forms (which charge,
``decay_input``, the reset timing, an absent conv bias, an ``Add``) are kept as per-node metadata
``snnc.*``; a file without it (snnTorch's ``export_to_nir``, other tools) is read by the rules above
(``LIF`` with v_leak = 0 → ``beta``; otherwise ``lif``; a gain ≠ 1 becomes a ``Scale`` before the
neuron).

``>=`` firing is written exactly as ``>`` at :func:`threshold_below` (node metadata
``snnc.compare``), and a readout feeding an output is left out and recorded (:func:`strip_readouts`,
graph metadata ``snnc.readout``); snnc's import restores both. What NIR cannot express — reset by
subtraction, no reset, snnTorch's delayed subtraction, max pooling, initial state, a reset window —
is refused by ``constraints.check`` naming the node; ``prepare`` with ``allow_approximate`` rewrites
the first ones into their nearest NIR form and records each change in
``graph.metadata["nir_approximations"]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...ir import Graph, Node
from ...ir.budget import check_elements
from ...ir.errors import GraphError, SnncError, UnsupportedError
from ...ir.ops import op_def
from .constraints import is_leaky_integrator

DEFAULT_DT = 1e-4  # snnTorch's export_to_nir value: files it writes read back with the default
META = "snnc."
#: written into every file: how to read it with the same discretisation
DT_CONVENTION = ("one snnc step is dt = {dt:g} s of NIR's continuous time, forward Euler "
                 "(v <- (1 - dt/tau) v + (dt/tau) v_leak + (R dt/tau) I); read it with the same dt "
                 "(snnTorch and SpikingJelly: 1e-4 by default; Norse: from_nir(graph, dt={dt:g}))")
#: graph metadata key of the readouts a NIR export leaves out (restored by snnc's own import)
READOUT_KEY = "nir_readout"
GAIN_TOL = 1e-6  # a foreign file's R·dt/τ within this of 1 is the unit gain (rounding in the writer)


def _nir():
    try:
        import nir
    except ImportError:  # pragma: no cover - nir is in the interop extra
        raise SnncError("the NIR target and importer need the 'nir' package (pip install snnc[interop])") from None
    return nir


# ----------------------------------------------------------------------------------------------
# IR → NIR
# ----------------------------------------------------------------------------------------------
def _full(value, shape) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64), shape).copy()


def _neuron_to_nir(node, shape, dt: float):
    nir = _nir()
    a, p = node.attrs, node.params
    f = lambda key, default=0.0: _full(p.get(key, default), shape)  # noqa: E731
    thr = f("v_threshold")
    v_reset = f("v_reset") if a["reset"] == "hard" else np.zeros(shape)
    meta = {META + "charge": a["charge"], META + "decay_input": int(a["decay_input"]),
            META + "reset_timing": a["reset_timing"]}
    if a["compare"] == "ge":  # v >= θ is exactly v > nextafter(θ, -inf) for float32 v and θ
        thr = threshold_below(p["v_threshold"], shape)
        meta[META + "compare"] = "ge"
    charge = a["charge"]
    with np.errstate(divide="ignore"):
        if charge in ("beta", "lif", "plif"):
            tau, r, v_leak = _leak(node, f, dt)
            if is_leaky_integrator(node):
                return nir.LI(tau=tau, r=r, v_leak=v_leak, metadata=meta)
            return nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=thr, v_reset=v_reset, metadata=meta)
        if charge == "if":
            return nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=thr, v_reset=v_reset, metadata=meta)
        if charge == "cuba":
            tau_syn, tau_mem = dt / (1.0 - f("alpha")), dt / (1.0 - f("beta"))
            return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=np.zeros(shape),
                               v_threshold=thr, v_reset=v_reset, w_in=tau_syn / dt, metadata=meta)
    raise UnsupportedError(node.name, f"charge '{charge}' has no NIR node", target="nir")


def _leak(node, f, dt: float) -> tuple:
    """``(τ, R, v_leak)`` of a ``beta``/``lif``/``plif`` charge (the table above); ``f(key)`` is the
    parameter as a per-neuron array."""
    charge = node.attrs["charge"]
    if charge == "beta":
        tau = dt / (1.0 - f("beta"))
        return tau, tau / dt, np.zeros_like(tau)
    tau_ir = f("tau") if charge == "lif" else 1.0 / f("k")
    tau = tau_ir * dt if charge == "lif" else dt / f("k")
    r = np.ones_like(tau) if node.attrs["decay_input"] else tau_ir
    return tau, r, f("v_leak")


def threshold_below(v_threshold, shape) -> np.ndarray:
    """``nextafter(θ, -inf)`` in float32 (as float64): the threshold at which NIR's ``v > θ'`` fires
    exactly when snnc's ``v >= θ`` does, for every float32 potential ``v``."""
    theta = np.broadcast_to(np.asarray(v_threshold, np.float32), shape)
    return np.nextafter(theta, np.float32(-np.inf)).astype(np.float64)


def to_nir(graph: Graph, dt: float = DEFAULT_DT):
    """The NIR graph of an IR graph that ``constraints.check`` accepts."""
    from .constraints import check

    nir = _nir()
    graph = graph.copy().verify()
    check(graph, {})
    shapes = {n.name: n.shape for n in graph.nodes}
    nodes, edges = {}, []
    for node in graph.nodes:
        a, p = node.attrs, node.params
        shape = np.array(node.shape)
        op = node.op
        if op == "Input":
            nodes[node.name] = nir.Input(input_type={"input": shape})
        elif op == "Output":
            nodes[node.name] = nir.Output(output_type={"output": shape})
        elif op == "Linear":
            w = p["weight"]
            nodes[node.name] = (nir.Affine(weight=w, bias=p["bias"]) if "bias" in p else nir.Linear(weight=w))
        elif op == "Conv2d":
            in_shape = shapes[node.inputs[0]]
            bias = p.get("bias", np.zeros(p["weight"].shape[0], p["weight"].dtype))
            nodes[node.name] = nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=p["weight"],
                                          stride=a["stride"], padding=a["padding"], dilation=a["dilation"],
                                          groups=a["groups"], bias=bias,
                                          metadata={META + "bias": int("bias" in p)})
        elif op in ("AvgPool2d", "SumPool2d"):
            from ...ir.ops import Pool2d
            k, s, pad = Pool2d.geometry(node)
            cls = nir.AvgPool2d if op == "AvgPool2d" else nir.SumPool2d
            nodes[node.name] = cls(kernel_size=np.array(k), stride=np.array(s), padding=np.array(pad))
        elif op == "Flatten":
            in_shape = shapes[node.inputs[0]]
            # negative dims index the per-sample shape from the end: the same flattening whether a
            # reader adds a batch dimension (snnTorch, SpikingJelly, Norse) or not
            nodes[node.name] = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=-len(in_shape),
                                           end_dim=-1)
        elif op == "Scale":
            nodes[node.name] = nir.Scale(scale=_full(p["scale"], node.shape))
        elif op == "Add":
            nodes[node.name] = nir.Scale(scale=np.ones(node.shape), metadata={META + "op": "Add"})
        elif op == "Neuron":
            nodes[node.name] = _neuron_to_nir(node, node.shape, dt)
        else:  # check() refused it already
            raise UnsupportedError(node.name, f"op {op} has no NIR node", target="nir")
        edges += [(src, node.name) for src in node.inputs]
    metadata = {META + "dt": float(dt), META + "format": "snnc-nir-1",
                META + "time_step": DT_CONVENTION.format(dt=float(dt))}
    approx = graph.metadata.get("nir_approximations")
    if approx:
        metadata[META + "approximations"] = "; ".join(approx)
    readouts = graph.metadata.get(READOUT_KEY)
    if readouts:
        metadata[META + "readout"] = json.dumps(readouts, sort_keys=True)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


# ----------------------------------------------------------------------------------------------
# NIR → IR
# ----------------------------------------------------------------------------------------------
def _meta(node, key, default=None):
    value = (getattr(node, "metadata", None) or {}).get(META + key, default)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
        if isinstance(value, bytes):
            value = value.decode()
    return value


def _f32(value, name: str, key: str) -> np.ndarray:
    """A parameter as float32, a constant array collapsed to a 0-d scalar."""
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise GraphError(name, f"NIR parameter '{key}' is not finite after discretisation: {arr.flat[0]}")
    arr = arr.astype(np.float32)
    if arr.size and np.all(arr == arr.flat[0]):
        return np.asarray(arr.flat[0], np.float32)
    return arr


def _gain(r, tau, dt):
    r, tau = np.asarray(r, np.float64), np.asarray(tau, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(np.isinf(r) & np.isinf(tau), 1.0, r * dt / tau)
    return g


def _is_unit(g) -> bool:
    return bool(np.all(np.abs(np.asarray(g) - 1.0) <= GAIN_TOL))


def _topological(nodes: dict, edges: list) -> tuple[list[str], dict[str, list[str]], set]:
    """The nodes in an order where every edge points forward except the returned back edges
    ``(src, dst)``, one per cycle (found depth-first from the outputs back): a recurrent connection,
    which carries the previous step's value."""
    preds = {n: [] for n in nodes}
    for src, dst in edges:
        if src not in nodes or dst not in nodes:
            raise SnncError(f"NIR edge {src} -> {dst} names a node that does not exist (nested subgraphs / "
                            "recurrent snnTorch layers are not supported)")
        preds[dst].append(src)
    order, state, back = [], {}, set()

    def visit(n):
        state[n] = 1
        for s in preds[n]:
            if state.get(s) == 1:
                back.add((s, n))
            elif state.get(s) != 2:
                visit(s)
        state[n] = 2
        order.append(n)

    for n in nodes:
        if n not in state:
            visit(n)
    return order, preds, back


def from_nir(nir_graph, dt: float | None = None, input_shape=None, readout: bool = True) -> Graph:
    """The IR graph of a NIR graph (``nir.NIRGraph``), discretised with ``dt`` (default: the value
    snnc wrote into the file's metadata, else :data:`DEFAULT_DT`). ``readout``: put back the readout
    that snnc's export recorded in the metadata (``False``: the network as NIR tools run it)."""
    nir = _nir()
    if not isinstance(nir_graph, nir.NIRGraph):
        raise SnncError(f"expected a nir.NIRGraph, got {type(nir_graph).__name__}")
    if dt is None:
        dt = nir_graph.metadata.get(META + "dt", DEFAULT_DT) if isinstance(nir_graph.metadata, dict) else DEFAULT_DT
        dt = float(np.asarray(dt))
    if not dt > 0:
        raise SnncError(f"dt must be > 0, got {dt}")
    nodes = nir_graph.nodes
    order, preds, back = _topological(nodes, [tuple(e) for e in nir_graph.edges])
    inputs = [n for n in order if isinstance(nodes[n], nir.Input)]
    if len(inputs) != 1:
        fed = {i: sorted(d for s, d in nir_graph.edges if s == i) for i in inputs}
        raise SnncError(f"the NIR graph must have exactly one Input node, found {len(inputs)}: "
                        + ", ".join(f"'{i}' (feeding {', '.join(fed[i]) or 'nothing'})" for i in inputs)
                        + "; NIR adds an Input for every node that no edge reaches, so an edge is missing")
    g = Graph(metadata={"source": "nir", "nir_dt": dt})
    shapes: dict[str, tuple] = {}
    out_of: dict[str, str] = {}  # NIR node -> IR node holding its output

    def add(op, name, ins, params=None, **attrs):
        name = g.unique_name(name)
        node = g.add_node(name, op, ins, params or {}, **attrs)
        d = op_def(name, op)
        d.validate(node)
        node.shape = tuple(int(x) for x in d.infer_shape(node, [g[s].shape for s in ins]))
        shapes[name] = node.shape
        return name

    feedback: dict[tuple, Node] = {}  # a back edge → the Delay that carries its previous step's value
    for src, dst in sorted(back):
        shape = tuple(int(d) for d in np.asarray(nodes[src].output_type["output"]).reshape(-1))
        feedback[(src, dst)] = g.add_node(g.unique_name(f"{src}_to_{dst}_delay"), "Delay", ["(later)"], shape=shape)
        feedback[(src, dst)].shape = shape
    for name in order:
        n = nodes[name]
        kind = type(n).__name__
        srcs = [feedback[(s, name)].name if (s, name) in feedback else out_of[s] for s in preds[name]]
        if isinstance(n, nir.Input):
            shape = tuple(int(d) for d in np.asarray(n.input_type["input"]).reshape(-1))
            if input_shape is not None:
                shape = tuple(input_shape)
            else:
                shape = _without_batch(shape, [nodes[d] for s, d in nir_graph.edges if s == name], nir)
            out_of[name] = add("Input", name, [], shape=shape)
            continue
        if not srcs:
            raise UnsupportedError(name, f"NIR {kind} node has no input edge")
        if _meta(n, "op") == "Add" and isinstance(n, nir.Scale):
            out_of[name] = add("Add", name, srcs) if len(srcs) > 1 else srcs[0]
            continue
        x = add("Add", name + "_sum", srcs) if len(srcs) > 1 else srcs[0]
        out_of[name] = _import_node(nir, n, kind, name, x, shapes, add, dt)
    for (src, _), delay in feedback.items():
        delay.inputs = [out_of[src]]
    if not g.outputs:
        raise SnncError("the NIR graph has no Output node")
    recorded = nir_graph.metadata.get(META + "readout") if isinstance(nir_graph.metadata, dict) else None
    if readout and recorded is not None:
        restore_readouts(g, json.loads(_text(recorded)))
    g.verify()
    return g


def _text(value) -> str:
    value = value.item() if isinstance(value, np.ndarray) else value
    return value.decode() if isinstance(value, bytes) else str(value)


def strip_readouts(graph: Graph) -> dict:
    """Remove, in place, every ``Readout`` that feeds an ``Output`` (the output then carries the
    readout's input spikes); returns what :func:`restore_readouts` needs to put them back."""
    removed = {}
    for out in graph.outputs:
        src = graph[out.inputs[0]]
        if src.op == "Readout":
            removed[out.name] = {"name": src.name, "attrs": dict(src.attrs),
                                 "params": {k: float(v) for k, v in src.params.items()}}
            out.inputs = [src.inputs[0]]
    if removed:
        gone = {r["name"] for r in removed.values()}
        graph.replace_nodes([n for n in graph.nodes if n.name not in gone])
    return removed


def restore_readouts(graph: Graph, removed: dict) -> None:
    """Put back, in place, the readouts :func:`strip_readouts` removed (before their outputs)."""
    nodes = []
    for node in graph.nodes:
        if node.op == "Output" and node.name in removed:
            r = removed[node.name]
            readout = Node(graph.unique_name(r["name"]), "Readout", list(node.inputs),
                           {k: np.asarray(v, np.float32) for k, v in r["params"].items()}, r["attrs"])
            nodes.append(readout)
            node.inputs = [readout.name]
        nodes.append(node)
    graph.replace_nodes(nodes)


def _import_node(nir, n, kind, name, x, shapes, add, dt) -> str:
    if isinstance(n, nir.Output):
        return add("Output", name, [x])
    if isinstance(n, nir.Affine):
        return add("Linear", name, [x], {"weight": np.asarray(n.weight), "bias": np.asarray(n.bias)})
    if isinstance(n, nir.Linear):
        return add("Linear", name, [x], {"weight": np.asarray(n.weight)})
    if isinstance(n, nir.Conv2d):
        padding = n.padding
        if isinstance(padding, str):
            if padding == "valid":
                padding = 0
            else:
                k = np.asarray(n.weight.shape[2:])
                d = np.broadcast_to(np.asarray(n.dilation), (2,))
                tot = d * (k - 1)
                if np.any(tot % 2):
                    raise UnsupportedError(name, "NIR Conv2d padding='same' with an even kernel is not supported")
                padding = tuple(int(t) // 2 for t in tot)
        params = {"weight": np.asarray(n.weight)}
        if n.bias is not None and not (_meta(n, "bias", 1) == 0 and not np.any(n.bias)):
            params["bias"] = np.asarray(n.bias)
        pair = lambda v: tuple(int(e) for e in np.broadcast_to(np.asarray(v), (2,)))  # noqa: E731
        return add("Conv2d", name, [x], params, stride=pair(n.stride), padding=pair(padding),
                   dilation=pair(n.dilation), groups=int(n.groups))
    if isinstance(n, (nir.AvgPool2d, nir.SumPool2d)):
        pair = lambda v: tuple(int(e) for e in np.broadcast_to(np.asarray(v), (2,)))  # noqa: E731
        op = "AvgPool2d" if isinstance(n, nir.AvgPool2d) else "SumPool2d"
        return add(op, name, [x], kernel_size=pair(n.kernel_size), stride=pair(n.stride), padding=pair(n.padding))
    if isinstance(n, nir.Flatten):
        in_shape = shapes[x]
        ndim = len(in_shape)
        start, end = int(n.start_dim), int(n.end_dim)
        # NIR indexes the batch-less shape; snnTorch writes torch's batched start_dim=1, snnc -ndim:
        # all mean "all"
        if (start in (0, 1, -ndim) if ndim > 1 else True) and end in (-1, ndim - 1, ndim):
            return add("Flatten", name, [x]) if ndim > 1 else x
        raise UnsupportedError(name, f"NIR Flatten(start_dim={start}, end_dim={end}) of {in_shape}: only "
                                     "flattening every dim is supported")
    if isinstance(n, nir.Scale):
        return add("Scale", name, [x], {"scale": _f32(n.scale, name, "scale")})
    if isinstance(n, (nir.LIF, nir.IF, nir.CubaLIF)):
        return _import_neuron(nir, n, name, x, shapes, add, dt)
    if isinstance(n, nir.LI):
        return _import_leaky_integrator(n, name, x, add, dt)
    if isinstance(n, nir.Delay):
        return add("Delay", name, [x], shape=shapes[x], steps=_delay_steps(name, n.delay, dt))
    raise UnsupportedError(name, f"NIR {kind} is not supported; supported: Input, Output, Affine, Linear, "
                                 "Conv2d, AvgPool2d, SumPool2d, Flatten, Scale, IF, LIF, CubaLIF, LI, Delay")


def _delay_steps(name: str, delay, dt: float) -> int:
    """NIR ``Delay``'s ``delay`` (time) as a whole number of steps of ``dt``, the same for every neuron."""
    steps = np.asarray(delay, np.float64).reshape(-1) / dt
    whole = np.round(steps)
    if steps.size == 0 or np.any(np.abs(steps - whole) > 1e-6 * np.maximum(whole, 1)) or np.any(whole != whole[0]) \
            or whole[0] < 1:
        raise UnsupportedError(name, f"NIR Delay of {np.unique(steps).tolist()[:4]} steps of dt = {dt:g}: snnc "
                                     "delays by one whole number (>= 1) of steps, the same for every neuron")
    return int(whole[0])


def _check_time_constant(name: str, key: str, tau, dt: float) -> None:
    """A time constant shorter than ``dt`` makes ``1 - dt/tau`` negative: the discretised neuron would
    overshoot instead of leaking. Refuse it with the ``dt`` that would make it sane."""
    tau = np.asarray(tau, np.float64)
    if np.any(tau < dt):
        short = float(tau[tau < dt].reshape(-1)[0]) if tau.ndim else float(tau)
        raise UnsupportedError(name, f"NIR {key} = {short:g} s is shorter than dt = {dt:g} s, so the decay "
                                     f"1 - dt/{key} = {1 - dt / short:g} is outside [0, 1] (the file may hold "
                                     f"dt/{key} or 1/{key} instead of {key}); read it with dt <= {float(tau.min()):g} "
                                     "(--dt), or fix the file")


def _without_batch(shape: tuple, consumers: list, nir) -> tuple:
    """An Input type written with a leading batch dimension of 1 (``[1, F]`` before an Affine/Linear
    taking ``F``, ``[1, C, H, W]`` before a Conv2d taking ``C``), as exporters that trace with a batched
    sample write it: the per-step shape without it. Any other shape is kept as it is."""
    if len(shape) < 2 or shape[0] != 1:
        return shape
    for c in consumers:
        if isinstance(c, (nir.Affine, nir.Linear)) and len(shape) == 2 and np.asarray(c.weight).shape[-1] == shape[1]:
            return shape[1:]
        if isinstance(c, nir.Conv2d) and len(shape) == 4 and np.asarray(c.weight).shape[1] * _groups(c) == shape[1]:
            return shape[1:]
    return shape


def _groups(conv) -> int:
    return int(np.asarray(getattr(conv, "groups", 1)))


def _leaky_charge(n, name, attrs, params, charge_hint, decay_input, dt):
    """A NIR ``LIF``/``LI``'s leak (τ, R, v_leak) as the ``beta`` charge (v_leak = 0 and no other
    charge recorded) or ``lif``/``plif``; sets ``attrs``/``params`` and returns the input gain."""
    tau = np.asarray(n.tau, np.float64)
    _check_time_constant(name, "tau", tau, dt)
    v_leak = np.asarray(n.v_leak, np.float64)
    g = _gain(n.r, tau, dt)
    if charge_hint in (None, "beta") and not np.any(v_leak):
        attrs["charge"] = "beta"
        params["beta"] = _f32(1.0 - dt / tau, name, "beta")
        return g
    attrs["charge"] = "plif" if charge_hint == "plif" else "lif"
    attrs["decay_input"] = decay_input if charge_hint in ("lif", "plif") else True
    if attrs["charge"] == "plif":
        params["k"] = _f32(dt / tau, name, "k")
    else:
        params["tau"] = _f32(tau / dt, name, "tau")
    if np.any(v_leak):
        params["v_leak"] = _f32(v_leak, name, "v_leak")
    # decay_input: X enters as X/tau_ir, Euler as R·dt/τ·I = R·I/tau_ir → X = R·I;
    # not decay_input: X enters with gain 1 → X = R·dt/τ·I
    return np.asarray(n.r, np.float64) if attrs["decay_input"] else g


def _import_leaky_integrator(n, name, x, add, dt) -> str:
    """NIR ``LI`` (``τ v̇ = (v_leak − v) + R·I``, no threshold): a ``Neuron`` without reset that outputs
    its potential (``output="v"``); its threshold decides only its spikes, which nothing reads, and is 1."""
    attrs = {"compare": "gt", "reset": "none", "reset_timing": "immediate", "output": "v"}
    params = {"v_threshold": np.asarray(1.0, np.float32)}
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = _leaky_charge(n, name, attrs, params, _meta(n, "charge"), bool(_meta(n, "decay_input", 1)), dt)
    if not _is_unit(gain):
        x = add("Scale", name + "_gain", [x], {"scale": _f32(gain, name, "input gain")})
    return add("Neuron", name, [x], params, **attrs)


def _import_neuron(nir, n, name, x, shapes, add, dt) -> str:
    charge_hint = _meta(n, "charge")
    timing = _meta(n, "reset_timing", "immediate")
    decay_input = bool(_meta(n, "decay_input", 1))
    v_reset = n.v_reset if n.v_reset is not None else 0.0
    params = {"v_threshold": _f32(n.v_threshold, name, "v_threshold"), "v_reset": _f32(v_reset, name, "v_reset")}
    compare = "ge" if _meta(n, "compare") == "ge" else "gt"
    if compare == "ge":  # snnc's own '>=' neuron, written as '>' at nextafter(θ, -inf): θ back exactly
        params["v_threshold"] = np.nextafter(params["v_threshold"], np.float32(np.inf))
    attrs = {"compare": compare, "reset": "hard",
             "reset_timing": timing if timing in ("immediate", "delayed", "compensated") else "immediate"}
    gain = None
    with np.errstate(divide="ignore", invalid="ignore"):
        if isinstance(n, nir.IF):
            attrs["charge"], attrs["reset_timing"] = "if", "immediate"
            gain = np.asarray(n.r, np.float64) * dt
        elif isinstance(n, nir.CubaLIF):
            if np.any(np.asarray(n.v_leak) != 0):
                raise UnsupportedError(name, "NIR CubaLIF with v_leak != 0 is not supported")
            if not _is_unit(_gain(n.r, n.tau_mem, dt)):
                raise UnsupportedError(name, "NIR CubaLIF with R·dt/τ_mem != 1 is not supported (snnc's CUBA "
                                             "neuron adds the current to the voltage with gain 1)")
            attrs["charge"] = "cuba"
            _check_time_constant(name, "tau_syn", n.tau_syn, dt)
            _check_time_constant(name, "tau_mem", n.tau_mem, dt)
            params["alpha"] = _f32(1.0 - dt / np.asarray(n.tau_syn, np.float64), name, "alpha")
            params["beta"] = _f32(1.0 - dt / np.asarray(n.tau_mem, np.float64), name, "beta")
            gain = _gain(n.w_in, n.tau_syn, dt)
        else:  # LIF
            gain = _leaky_charge(n, name, attrs, params, charge_hint, decay_input, dt)
            if attrs["charge"] != "beta":
                attrs["reset_timing"] = "immediate"
    if attrs["charge"] in ("if", "lif", "plif"):
        attrs["reset_timing"] = "immediate"
    if gain is not None and not _is_unit(gain):
        x = add("Scale", name + "_gain", [x], {"scale": _f32(gain, name, "input gain")})
    return add("Neuron", name, [x], params, **attrs)


def _prescan(path) -> None:
    """Before ``nir.read`` inflates anything: every dataset's declared size within the memory budget,
    and every node of a type that NIR knows (``nir.read`` fails on others with a bare assertion)."""
    import h5py

    nir = _nir()
    known = {c.__name__ for c in vars(nir).values() if isinstance(c, type) and issubclass(c, nir.NIRNode)} - {"NIRNode"}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                check_elements(obj.shape or (), max(obj.dtype.itemsize, 1), f"{path}: dataset {name}")
        f.visititems(visit)
        nodes = f.get("node/nodes")
        for name in (nodes.keys() if isinstance(nodes, h5py.Group) else ()):
            kind = nodes[name].get("type")
            kind = kind[()] if isinstance(kind, h5py.Dataset) else None
            kind = kind.decode(errors="replace") if isinstance(kind, bytes) else str(kind)
            if kind not in known and kind != "NIRGraph":
                raise SnncError(f"{path}: node '{name}' has the type {kind!r}, which NIR "
                                f"{getattr(nir, '__version__', '')} does not define; known: {', '.join(sorted(known))}")


def read(path, dt: float | None = None, input_shape=None, readout: bool = True) -> Graph:
    """Read a ``.nir`` file into an IR graph (see :func:`from_nir`)."""
    nir = _nir()
    if not Path(path).is_file():
        raise SnncError(f"{path}: no such file")
    try:
        _prescan(path)
        nir_graph = nir.read(str(path))
    except SnncError:
        raise
    except Exception as e:  # h5py/NIR errors on truncated or foreign files
        first = str(e).splitlines()[0] if str(e) else "no detail"
        raise SnncError(f"{path}: not a readable NIR file ({type(e).__name__}: {first})") from None
    return from_nir(nir_graph, dt=dt, input_shape=input_shape, readout=readout)


__all__ = ["to_nir", "from_nir", "read", "DEFAULT_DT"]
