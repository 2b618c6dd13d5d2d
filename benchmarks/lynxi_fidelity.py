"""Where a 16-bit deployment loses a deep spiking network: decision agreement with the float32 model
of (a) float64 arithmetic, (b) float32 arithmetic with the weights rounded to float16 (after batch-norm
folding), (c) the lynxi profile (float16 weights, activations and state), on a Spiking ResNet-18
(``compile_scale.resnet18``, random init, batch-norm gains x``--gain`` so every layer fires).

    python benchmarks/lynxi_fidelity.py [--widths 0.25 1] [--samples 64] [--steps 4] [--gain 4]

Prints the agreement per variant and, per neuron layer, the mean absolute spike-rate error against
float32: what each source of rounding costs, layer by layer.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from compile_scale import resnet18
from snnc.compiler import prepare
from snnc.ir import interpret


def _decisions(values, out):
    return values[out].sum(0).argmax(-1)


def _rate_error(a, b, name):
    return float(((a[name] != 0).double().mean((0, 1)) - (b[name] != 0).double().mean((0, 1))).abs().mean())


def measure(width: float, samples: int, steps: int, gain: float):
    net = resnet18(width)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.mul_(gain)
    x = torch.rand((steps, samples, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    _, float_graph, lynxi_graph, _ = prepare(net, "lynxi", example_input=x)
    half_weights = float_graph.copy()
    for node in half_weights.nodes:
        node.params = {k: v.astype(np.float16).astype(np.float32) for k, v in node.params.items()}
    runs = {"float64": interpret(float_graph, x.double(), numerics="float64", record=True)[1].values,
            "float16 weights": interpret(half_weights, x, numerics="float32", record=True)[1].values,
            "lynxi": interpret(lynxi_graph, x, numerics="lynxi", record=True)[1].values}
    ref = interpret(float_graph, x, numerics="float32", record=True)[1].values
    out = float_graph.outputs[0].name
    agreement = {k: float((_decisions(v, out) == _decisions(ref, out)).double().mean()) for k, v in runs.items()}
    layers = [n.name for n in float_graph.nodes if n.op == "Neuron"]
    errors = {name: {k: _rate_error(ref, v, name) for k, v in runs.items()} for name in layers}
    rates = {name: float((ref[name] != 0).double().mean()) for name in layers}
    return agreement, errors, rates


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=float, nargs="*", default=[0.25, 1.0])
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--gain", type=float, default=4.0)
    args = p.parse_args(argv)
    for width in args.widths:
        agreement, errors, rates = measure(width, args.samples, args.steps, args.gain)
        variants = list(agreement)
        print(f"\n### width {width}: decision agreement with float32 ({args.samples} samples, T={args.steps})\n")
        print("| " + " | ".join(variants) + " |\n|" + " ---: |" * len(variants))
        print("| " + " | ".join(f"{100 * agreement[v]:.1f}%" for v in variants) + " |")
        print(f"\nspike-rate error per neuron layer (mean |rate - rate_float32|)\n")
        print("| layer | rate (float32) | " + " | ".join(variants) + " |\n| --- | ---: |" + " ---: |" * len(variants))
        for name, err in errors.items():
            print(f"| {name} | {rates[name]:.3f} | " + " | ".join(f"{err[v]:.5f}" for v in variants) + " |")


if __name__ == "__main__":
    main()
