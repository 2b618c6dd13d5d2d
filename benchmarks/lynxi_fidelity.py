"""Where a 16-bit deployment loses a deep spiking network: decision agreement with the float32 model
of (a) float64 arithmetic, (b) float32 arithmetic with the weights rounded to float16 (after batch-norm
folding), (c) the lynxi profile (float16 weights, activations and state), on a Spiking ResNet-18 or
SEW-ResNet-18 (``compile_scale.resnet18``, ``--archs``): random init with batch-norm gains x``--gain`` so every layer fires, or
(``--trained N``) trained for ``N`` Adam steps on a synthetic 10-class CIFAR-size task (a smooth
random template per class plus uniform noise, the image repeated over T) and measured on held-out
samples of it.

    python benchmarks/lynxi_fidelity.py [--widths 0.25 1] [--archs spiking sew] [--samples 64] [--steps 4] [--gain 4]
    python benchmarks/lynxi_fidelity.py --trained 150 --widths 0.25 --samples 256

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


def synthetic_task(samples: int, steps: int, seed: int):
    """``(x [T, N, 3, 32, 32], labels)``: class ``c``'s image is ``0.6·template_c + 0.4·noise`` in [0, 1]
    (templates: 4x4 random colours upsampled bilinearly; fixed), repeated over the ``steps``."""
    templates = torch.nn.functional.interpolate(torch.rand((10, 3, 4, 4), generator=torch.Generator().manual_seed(1)),
                                                size=32, mode="bilinear")
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (samples,), generator=g)
    x = (0.6 * templates[labels] + 0.4 * torch.rand((samples, 3, 32, 32), generator=g)).clamp(0, 1)
    return x.unsqueeze(0).expand(steps, *x.shape).contiguous(), labels


def trained_resnet18(width: float, iterations: int, steps: int, batch: int = 32, device: str = "cpu",
                     arch: str = "spiking"):
    """``resnet18(width, arch=arch)`` trained on :func:`synthetic_task` (Adam, lr 2e-3, the rate-coded logits'
    cross-entropy) on ``device``, returned on the CPU in eval mode."""
    from snnc.nn import reset_net

    net = resnet18(width, arch=arch).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for it in range(iterations):
        x, labels = synthetic_task(batch, steps, seed=100 + it)
        reset_net(net)
        loss = torch.nn.functional.cross_entropy(net(x.to(device)).mean(0), labels.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    reset_net(net)
    return net.cpu().eval()


def random_resnet18(width: float, gain: float, arch: str = "spiking"):
    """``resnet18(width, arch=arch)`` at random init, batch-norm gains x``gain``."""
    net = resnet18(width, arch=arch)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.mul_(gain)
    return net


def measure(net, x):
    """Agreement with float32 per variant, the spike-rate error per neuron layer and variant, the float32
    spike rate per layer, and the float32 model's decisions."""
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
    return agreement, errors, rates, _decisions(ref, out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=float, nargs="*", default=[0.25, 1.0])
    p.add_argument("--archs", nargs="+", default=["spiking"], choices=["spiking", "sew"])
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--gain", type=float, default=4.0, help="batch-norm gain of the random-init net")
    p.add_argument("--trained", type=int, metavar="N", help="train N steps on the synthetic task instead")
    p.add_argument("--train-device", default="cpu", help="where to train (e.g. cuda); measured on the CPU")
    args = p.parse_args(argv)
    for arch, width in ((a, w) for a in args.archs for w in args.widths):
        if args.trained:
            net = trained_resnet18(width, args.trained, args.steps, device=args.train_device, arch=arch)
            x, labels = synthetic_task(args.samples, args.steps, seed=0)
        else:
            net = random_resnet18(width, args.gain, arch)
            x = torch.rand((args.steps, args.samples, 3, 32, 32), generator=torch.Generator().manual_seed(0))
        agreement, errors, rates, decisions = measure(net, x)
        variants = list(agreement)
        kind = f"trained {args.trained} steps" if args.trained else f"random init, gain {args.gain}"
        print(f"\n### {arch} ResNet-18, width {width}, {kind}: decision agreement with float32 ({args.samples} "
              f"samples, T={args.steps})\n")
        if args.trained:
            print(f"float32 accuracy on held-out samples: {100 * float((decisions == labels).double().mean()):.1f}%\n")
        print("| " + " | ".join(variants) + " |\n|" + " ---: |" * len(variants))
        print("| " + " | ".join(f"{100 * agreement[v]:.1f}%" for v in variants) + " |")
        print("\nspike-rate error per neuron layer (mean |rate - rate_float32|)\n")
        print("| layer | rate (float32) | " + " | ".join(variants) + " |\n| --- | ---: |" + " ---: |" * len(variants))
        for name, err in errors.items():
            print(f"| {name} | {rates[name]:.3f} | " + " | ".join(f"{err[v]:.5f}" for v in variants) + " |")


if __name__ == "__main__":
    main()
