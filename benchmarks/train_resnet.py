"""One training iteration of a Spiking ResNet-18 (CIFAR-size input, batch 64): time and peak memory,
snnc (LIF on the fused Triton kernel) vs SpikingJelly 2.0's LIFNode (its own CUDA dispatch).

    python benchmarks/train_resnet.py [--steps 4 8 16 32] [--batch 64] [--repeat 20] [--amp] [--no-compact-spikes]
                                      [--layouts contiguous channels_last]

Same network for both (torch conv/BN layers with T folded into the batch; only the neuron differs).
snnc's forward runs inside ``snnc.nn.compact_spikes()`` (the spikes the convs save for backward kept as
uint8; gradients unchanged) unless ``--no-compact-spikes``; SpikingJelly runs as it is.
Each net runs in each of ``--layouts``: ``contiguous`` (NCHW) and ``channels_last`` (conv weights in
NHWC, so the activations are NHWC and the ``[T, B, C, H, W]`` sequences the neurons get are NHWC steps;
snnc's kernels read those in place, see ``runtime/layout.py``).
Prints a markdown table: median ms of ``--repeat`` CUDA-event timed iterations and peak memory, and each
net's best layout against the other's.
"""

from __future__ import annotations

import argparse
import contextlib

import torch
from torch import nn

from snnc.nn import SeqToANNContainer, compact_spikes
from timing import cuda_time


class Block(nn.Module):
    def __init__(self, cin, cout, stride, neuron):
        super().__init__()
        self.c1 = SeqToANNContainer(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))
        self.n1 = neuron()
        self.c2 = SeqToANNContainer(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.down = (SeqToANNContainer(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())
        self.n2 = neuron()

    def forward(self, x):
        return self.n2(self.c2(self.n1(self.c1(x))) + self.down(x))


def resnet18(neuron, classes=10):
    layers = [SeqToANNContainer(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)), neuron()]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride, neuron), Block(cout, cout, 1, neuron)]
        cin = cout
    layers += [SeqToANNContainer(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes))]
    return nn.Sequential(*layers)


def snnc_neuron():
    from snnc.nn import LIF
    return LIF(tau=2.0, step_mode="m", backend="triton", detach_reset=True)


def sj_neuron():
    from spikingjelly.activation_based import neuron
    return neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=True)


def reset(net):
    for m in net.modules():
        if hasattr(m, "reset") and m is not net and callable(m.reset) and not isinstance(m, nn.BatchNorm2d):
            m.reset()


#: kernel-name keywords of each part of the step in the profile (first match wins)
PARTS = (("neuron", ("neuron", "_forward_kernel", "_backward_kernel", "lif")),
         ("batch norm", ("batch_norm", "batchnorm", "bn_", "welford")),
         ("convolution", ("conv", "cudnn", "xmma", "gemm", "cutlass", "implicit", "wgrad", "dgrad")))


def profile(factory, steps, batch, amp, compact, layout):
    """Self device time of one training step by part (convolution, batch norm, neuron, the rest), ms."""
    step = make_step(factory, steps, batch, amp, compact, layout)
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    parts = dict.fromkeys([name for name, _ in PARTS] + ["other"], 0.0)
    kernels = []
    for event in prof.key_averages():
        name = event.key.lower()
        part = next((p for p, words in PARTS if any(w in name for w in words)), "other")
        parts[part] += event.self_device_time_total / 1e3
        kernels.append((event.self_device_time_total / 1e3, part, event.key))
    return parts, sorted(kernels, reverse=True)[:LARGEST]


#: kernels listed by name under ``--profile``
LARGEST = 10


#: ``--layouts`` choices: the memory format the nets' parameters (and so their activations) take
LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def make_step(factory, steps, batch, amp, compact, layout):
    torch.manual_seed(0)
    net = resnet18(factory).cuda().to(memory_format=LAYOUTS[layout])
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(steps, batch, 3, 32, 32, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        reset(net)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp), \
                compact_spikes() if compact else contextlib.nullcontext():
            loss = nn.functional.cross_entropy(net(x).mean(0).float(), y)
        loss.backward()
        opt.step()
    return step


def measure(factory, steps, batch, repeat, amp, compact, layout):
    step = make_step(factory, steps, batch, amp, compact, layout)
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    ms = cuda_time(step, repeat, warmup=0)
    peak = torch.cuda.max_memory_allocated() / 2**30
    del step
    torch.cuda.empty_cache()
    return ms, peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--amp", action="store_true", help="float16 autocast")
    parser.add_argument("--profile", action="store_true",
                        help="then, at the largest T, each net's device time by part (torch.profiler)")
    parser.add_argument("--compact-spikes", action=argparse.BooleanOptionalAction, default=True,
                        help="snnc: saved spikes as uint8 (snnc.nn.compact_spikes; default on)")
    parser.add_argument("--layouts", nargs="+", default=["contiguous", "channels_last"],
                        choices=list(LAYOUTS), help="memory formats to run each net in")
    args = parser.parse_args(argv)
    print(f"Spiking ResNet-18, CIFAR-size, batch {args.batch}, {'fp16 autocast' if args.amp else 'float32'}, "
          f"{torch.cuda.get_device_name(0)}; median of {args.repeat} iterations; snnc saved spikes: "
          f"{'uint8 (compact_spikes)' if args.compact_spikes else 'as computed (--no-compact-spikes)'}\n")
    nets = (("snnc", snnc_neuron, args.compact_spikes), ("SpikingJelly", sj_neuron, False))
    print("| T | layout | snnc ms | SpikingJelly ms | ratio | snnc peak GiB | SpikingJelly peak GiB | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    best = {}
    for t in args.steps:
        for layout in args.layouts:
            row = {}
            for name, factory, compact in nets:
                try:
                    row[name] = measure(factory, t, args.batch, args.repeat, args.amp, compact, layout)
                    best[name, t] = min(best.get((name, t), row[name]), row[name])
                except Exception as e:  # OOM or a missing peer: reported in the table
                    row[name] = None
                    print(f"<!-- {name} T={t} {layout}: {type(e).__name__}: {str(e)[:200]} -->")
                    torch.cuda.empty_cache()
            print(f"| {t} | {layout} | " + _cells(row["snnc"], row["SpikingJelly"]) + " |")
        if len(args.layouts) > 1:
            print(f"| {t} | best of each | " + _cells(best.get(("snnc", t)), best.get(("SpikingJelly", t))) + " |")
    if args.profile:
        t = max(args.steps)
        rows = {f"{name} ({layout})": profile(factory, t, args.batch, args.amp, compact, layout)
                for layout in args.layouts for name, factory, compact in nets}
        parts = list(next(iter(rows.values()))[0])
        print(f"\n### device time of one step by part, T={t}, ms (torch.profiler, self time of kernels)\n")
        print("| net | " + " | ".join(parts) + " | total |")
        print("|---|" + "---|" * (len(parts) + 1))
        for name, (row, _) in rows.items():
            print(f"| {name} | " + " | ".join(f"{row[p]:.1f}" for p in parts) + f" | {sum(row.values()):.1f} |")
        for name, (_, largest) in rows.items():
            print(f"\n{name}: the {LARGEST} largest kernels (ms, part, name)")
            for ms, part, kernel in largest:
                print(f"    {ms:7.2f}  {part:12s} {kernel[:100]}")


def _cells(snnc, sj) -> str:
    """``ms | ms | ratio | GiB | GiB | ratio`` of two ``(ms, GiB)`` measurements (either may be missing)."""
    cells = []
    for i in (0, 1):
        cells += ["n/a" if r is None else f"{r[i]:.2f}" for r in (snnc, sj)]
        cells.append(f"{snnc[i] / sj[i]:.2f}" if snnc and sj else "n/a")
    return " | ".join(cells)


if __name__ == "__main__":
    main()
