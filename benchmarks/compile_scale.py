"""Compile and verify cost as a network grows: a Spiking ResNet-18 (CIFAR-size input, LIF neurons,
conv + batch norm folded by the passes) at widths x{1/8, 1/4, 1/2, 1} of its channels, on every target.

    python benchmarks/compile_scale.py [--widths 0.125 0.25 0.5 1] [--targets gpu lynxi hls onnx nir loihi]
                                       [--samples 8] [--steps 4]

Each (width, target) runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``, the
process and the compilers it starts) is its own: ``compile`` is trace + passes + lowering + writing
the artifact; ``verify`` is ``snnc.verify(..., artifact=)`` on ``--samples`` random input sequences of
``--steps`` steps (the file check against a fresh lowering, the artifact's simulator — for hls the C++
build, cached on the code — and the reference). Prints a markdown table; a target that refuses the
model says why.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def resnet18(width: float, classes: int = 10, arch: str = "spiking"):
    """A Spiking ResNet-18 for 32x32 inputs with ``64·width`` channels in its first stage; ``arch="sew"``:
    the SEW-ResNet-18 (ADD connect: each block's spikes plus its shortcut's, a neuron on a projection)."""
    import torch
    from torch import nn

    from snnc.nn import LIF, SeqToANNContainer

    def neuron():
        return LIF(tau=2.0, step_mode="m", v_threshold=1.0, v_reset=0.0)

    def conv_bn(cin, cout, k, stride):
        return SeqToANNContainer(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1, self.n1, self.c2 = conv_bn(cin, cout, 3, stride), neuron(), conv_bn(cout, cout, 3, 1)
            self.down = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
            self.n2 = neuron()
            if arch == "sew" and not isinstance(self.down, nn.Identity):
                self.down = nn.Sequential(self.down, neuron())

        def forward(self, x):
            if arch == "sew":
                return self.n2(self.c2(self.n1(self.c1(x)))) + self.down(x)
            return self.n2(self.c2(self.n1(self.c1(x))) + self.down(x))

    torch.manual_seed(0)
    c = [max(1, round(64 * width * m)) for m in (1, 2, 4, 8)]
    layers = [conv_bn(3, c[0], 3, 1), neuron()]
    cin = c[0]
    for cout, stride in zip(c, (1, 2, 2, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [SeqToANNContainer(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))]
    net = nn.Sequential(*layers)
    with torch.no_grad():  # running statistics as a trained net has them (not the identity)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    return net.eval()


def one(width: float, target: str, samples: int, steps: int) -> dict:
    """Runs in the child: compile, then verify the artifact; times and the child's peak memory."""
    import torch

    import snnc

    net = resnet18(width)
    params = sum(p.numel() for p in net.parameters())
    x = torch.rand((steps, 2, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    out = {"width": width, "target": target, "params": params}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:
            art = snnc.compile(net, target, Path(tmp) / "art", example_input=x,
                               **({"allow_approximate": True} if target == "nir" else {}))
        except snnc.SnncError as e:
            return {**out, "refused": str(e).splitlines()[0][:90]}
        out["compile_s"] = time.perf_counter() - t0
        out["compile_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["artifact_mb"] = art.size_bytes / 2**20
        t0 = time.perf_counter()
        report = snnc.verify(net, target, samples=samples, timesteps=steps, artifact=art.path)
        out["verify_s"] = time.perf_counter() - t0
        out["ok"] = report.ok
    out["peak_mb"] = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF,
                                                                          resource.RUSAGE_CHILDREN)) / 1024
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=float, nargs="*", default=[0.125, 0.25, 0.5, 1.0])
    p.add_argument("--targets", nargs="*", default=["gpu", "lynxi", "hls", "onnx", "nir", "loihi"])
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(one(float(args.child[0]), args.child[1], args.samples, args.steps)))
        return
    print(f"Spiking ResNet-18 (32x32, LIF), compile and verify ({args.samples} samples, T={args.steps}); "
          "peak = resident memory of the process and its compilers\n")
    print("| width | params | target | compile s | compile peak MB | artifact MB | verify s | peak MB | bit-exact |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for width in args.widths:
        for target in args.targets:
            proc = subprocess.run([sys.executable, __file__, "--child", str(width), target, "--samples",
                                   str(args.samples), "--steps", str(args.steps)], capture_output=True, text=True)
            try:
                r = json.loads(proc.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                print(f"| {width} | | {target} | failed: {proc.stderr.strip().splitlines()[-1][:80]} | | | | | |")
                continue
            if "refused" in r:
                print(f"| {width} | {r['params']:,} | {target} | refused: {r['refused']} | | | | | |")
                continue
            print(f"| {width} | {r['params']:,} | {target} | {r['compile_s']:.1f} | {r['compile_mb']:.0f} | "
                  f"{r['artifact_mb']:.1f} | {r['verify_s']:.1f} | {r['peak_mb']:.0f} | {'yes' if r['ok'] else 'NO'} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
