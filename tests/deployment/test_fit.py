"""The fit section against the artifacts themselves: Loihi's numbers against the netx file's own
layers (read with h5py), a model beyond a Loihi core limit reported as not fitting (naming the layer),
and the HLS cycle estimate against the loop trip counts of the emitted C++ (parsed here)."""

import json
import re

import h5py
import numpy as np
import torch

import snnc
from snnc.ir import Graph

F32 = np.float32


def _chain(sizes, conv=False, readout=False) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph()
    src = "x"
    if conv:
        g.add_node("x", "Input", shape=(2, 6, 6))
        g.add_node("conv", "Conv2d", ["x"], {"weight": (rng.integers(-4, 9, (3, 2, 3, 3)) / 8).astype(F32)},
                   padding=1)
        g.add_node("nc", "Neuron", ["conv"], {"v_threshold": np.array(0.5, F32), "v_reset": np.array(0.0, F32)},
                   charge="if")
        g.add_node("pool", "SumPool2d", ["nc"], kernel_size=2)
        g.add_node("flat", "Flatten", ["pool"])
        src, sizes = "flat", [27] + list(sizes)
    else:
        g.add_node("x", "Input", shape=(sizes[0],))
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        g.add_node(f"fc{i}", "Linear", [src], {"weight": (rng.integers(-4, 9, (n_out, n_in)) / 8).astype(F32)})
        g.add_node(f"n{i}", "Neuron", [f"fc{i}"], {"v_threshold": np.array(0.5, F32), "tau": np.array(2.0, F32),
                                                  "v_reset": np.array(0.0, F32)}, charge="lif")
        src = f"n{i}"
    if readout:
        src = g.add_node("r", "Readout", [src]).name
    g.add_node("y", "Output", [src])
    return g.verify()


def _spikes(g, T=6, N=2):
    return (torch.rand((T, N) + tuple(g.input_shape), generator=torch.Generator().manual_seed(0)) < 0.5).float()


def test_loihi_fit_equals_the_netx_file_s_layers(tmp_path):
    g = _chain([12, 20, 7])
    art = snnc.compile(g, "loihi", tmp_path / "art")
    rep = snnc.report(g, "loihi", inputs=_spikes(g))
    assert rep.fits and rep.verified
    with h5py.File(art.path / "network.net", "r") as f:
        layers = [f["layer"][str(i)] for i in range(len(f["layer"]))]
        dense = [(int(np.prod(layer["shape"][()])), layer["weight"].shape[1]) for layer in layers
                 if layer["type"][0].decode() == "dense"]
    fitted = [(lf.usage["neurons"], lf.usage["fan_in"]) for lf in rep.fit.layers]
    assert fitted == dense == [(20, 12), (7, 20)]
    assert [lf.usage["synapses"] for lf in rep.fit.layers] == [n * k for n, k in dense]
    assert rep.fit.totals["fan_in"] == 20 and rep.fit.totals["cores"] == 2


def test_a_layer_beyond_a_loihi_core_s_fan_in_does_not_fit_and_is_named():
    g = _chain([5000, 3])
    rep = snnc.report(g, "loihi", inputs=_spikes(g, T=2, N=1))
    assert not rep.fits and rep.verified is None and "fan-in" in rep.refusal
    (problem,) = rep.fit.problems
    assert "layer 'fc0'" in problem and "5,000" in problem and "4,096" in problem
    assert rep.cost.synapses[0].dense == 2 * 5000 * 3  # the sections that need no artifact are there
    assert "DOES NOT FIT: layer 'fc0'" in rep.summary()


def _functions(source: str) -> dict[str, str]:
    """``void name(...) { body }`` of a C++ file, by name (braces matched)."""
    out = {}
    for m in re.finditer(r"^void (\w+)\([^)]*\) \{", source, re.M):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(source[i], 0)
            i += 1
        out[m.group(1)] = source[m.end():i - 1]
    return out


def _cycles(body: str) -> int:
    """Cycles of one step by the loops as written: a PIPELINE II=k costs k times the trip counts of
    the loops around it, an UNROLLed loop 1, a loop without pragma its trip count."""
    total, stack = 0, []   # stack: [trip count, pipelined inside, unrolled] of the open loops
    lines = body.strip().splitlines()
    if lines and (m := re.match(r"#pragma HLS PIPELINE II=(\d+)", lines[0].strip())):
        return int(m.group(1))  # the function is pipelined as a whole
    for line in lines:
        line = line.strip()
        if m := re.match(r"for \(int \w+ = (\d+); \w+ < (\d+)", line):
            trip = int(m.group(2)) - int(m.group(1))
            if line.endswith("{"):
                stack.append([trip, False, False])
            elif not stack:
                total += trip   # a one-line loop at the top
        elif m := re.match(r"#pragma HLS PIPELINE II=(\d+)", line):
            total += int(m.group(1)) * int(np.prod([s[0] for s in stack]))
            for s in stack:
                s[1] = True
        elif line.startswith("#pragma HLS UNROLL"):
            stack[-1][2] = True
        elif line == "}" and stack:
            trip, pipelined, unrolled = stack.pop()
            if not stack and not pipelined:
                total += 1 if unrolled else trip
    return total


def test_hls_cycle_estimate_equals_the_emitted_loop_trip_counts(tmp_path):
    g = _chain([10, 4], conv=True, readout=True)
    art = snnc.compile(g, "hls", tmp_path / "art")
    rep = snnc.report(g, "hls", inputs=_spikes(g))
    assert rep.verified
    model = json.loads((art.path / "model.json").read_text())
    source = "\n".join(p.read_text() for p in (art.path / "firmware").glob("*.cpp"))
    functions = _functions(source)
    emitted = {layer["name"]: _cycles(functions[layer["function"]]) for layer in model["layers"]}
    estimated = {lf.layer: lf.usage["cycles"] for lf in rep.fit.layers}
    assert estimated == emitted
    assert emitted["conv"] == 3 * 6 * 6 and emitted["pool"] == 3 * 3 * 3 and emitted["r"] == 3 * 4 - 1
