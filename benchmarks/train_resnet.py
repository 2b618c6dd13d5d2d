"""One training iteration of a Spiking ResNet-18 or SEW-ResNet-18: time, throughput and peak memory,
snnc (LIF on the fused Triton kernel) vs SpikingJelly 2.0's LIFNode (its own CUDA dispatch).

    python benchmarks/train_resnet.py [--archs spiking sew] [--sizes cifar imagenet] [--steps 4 8 16 32]
                                      [--dtypes float32 bfloat16] [--modes eager captured] [--repeat 20]
                                      [--layouts channels_last] [--no-compact-spikes] [--profile]

Same network for both (torch conv/BN layers with T folded into the batch; only the neuron differs).
``--archs``: ``spiking`` (Spiking ResNet: the block's second neuron after the residual sum) and ``sew``
(SEW-ResNet with the ADD connect function: the residual added to the block's output spikes, the
downsample path ending in a neuron). ``--sizes``: ``cifar`` (32², 3×3 stem, batch 64, 10 classes) and
``imagenet`` (224², 7×7/2 stem + 3×3/2 max pooling, batch 32, 1000 classes); ``--batch`` overrides.
``--dtypes``: float32, or autocast to bfloat16/float16 (no gradient scaler). ``--modes``: ``eager``, and
``captured`` (the whole step — forward, loss, backward, SGD step — replayed from one CUDA graph by
``snnc.runtime.CapturedStep``, for both nets; a net whose step cannot be captured is reported as such).
snnc's forward runs inside ``snnc.nn.compact_spikes()`` (the spikes the convs save for backward kept as
uint8; gradients unchanged) unless ``--no-compact-spikes``; SpikingJelly runs as it is.
Each net runs in each of ``--layouts``: ``contiguous`` (NCHW) and ``channels_last`` (conv weights in
NHWC, so the activations are NHWC and the ``[T, B, C, H, W]`` sequences the neurons get are NHWC steps;
snnc's kernels read those in place, see ``runtime/layout.py``).
Prints a markdown table: median ms of ``--repeat`` CUDA-event timed iterations, samples per second
(batch / step time) and peak memory, and snnc's ratios to SpikingJelly (time, memory; below 1: snnc
takes less).
"""

from __future__ import annotations

import argparse
import contextlib

import torch
from torch import nn

from snnc.nn import SeqToANNContainer, compact_spikes
from snnc.runtime import CapturedStep
from timing import cuda_time


def conv_bn(cin, cout, kernel, stride):
    return SeqToANNContainer(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    """A basic block. ``spiking``: ``SN(BN(conv(SN(BN(conv(x))))) + down(x))``; ``sew`` (ADD):
    ``SN(BN(conv(SN(BN(conv(x)))))) + down(x)`` with ``down`` = ``SN(BN(conv1×1(x)))`` where the shape
    changes, else ``x``."""

    def __init__(self, cin, cout, stride, neuron, arch):
        super().__init__()
        self.arch = arch
        self.c1, self.n1 = conv_bn(cin, cout, 3, stride), neuron()
        self.c2, self.n2 = conv_bn(cout, cout, 3, 1), neuron()
        reshape = stride != 1 or cin != cout
        self.down = nn.Identity()
        if reshape:
            self.down = nn.Sequential(conv_bn(cin, cout, 1, stride), neuron()) if arch == "sew" else conv_bn(cin, cout, 1, stride)

    def forward(self, x):
        y = self.c2(self.n1(self.c1(x)))
        return self.n2(y) + self.down(x) if self.arch == "sew" else self.n2(y + self.down(x))


#: input side, classes and default batch of each ``--sizes`` choice
SIZES = {"cifar": (32, 10, 64), "imagenet": (224, 1000, 32)}


def resnet18(neuron, arch="spiking", size="cifar"):
    side, classes, _ = SIZES[size]
    if size == "imagenet":
        layers = [conv_bn(3, 64, 7, 2), neuron(), SeqToANNContainer(nn.MaxPool2d(3, 2, 1))]
    else:
        layers = [conv_bn(3, 64, 3, 1), neuron()]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride, neuron, arch), Block(cout, cout, 1, neuron, arch)]
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


def profile(factory, config, compact):
    """Self device time of one training step by part (convolution, batch norm, neuron, the rest), ms."""
    step = make_step(factory, config, compact)
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


AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def make_step(factory, config, compact):
    """One training step of a fresh net, as a function of no arguments. ``config``: arch, size, steps, batch,
    dtype, layout, mode."""
    torch.manual_seed(0)
    side, classes, _ = SIZES[config["size"]]
    net = resnet18(factory, config["arch"], config["size"]).cuda().to(memory_format=LAYOUTS[config["layout"]])
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(config["steps"], config["batch"], 3, side, side, device="cuda")
    y = torch.randint(0, classes, (config["batch"],), device="cuda")
    dtype = AUTOCAST[config["dtype"]]

    def train_step(x, y):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None, cache_enabled=False), \
                compact_spikes() if compact else contextlib.nullcontext():
            loss = nn.functional.cross_entropy(net(x).mean(0).float(), y)
        loss.backward()
        opt.step()
        return loss

    if config["mode"] == "captured":
        captured = CapturedStep(train_step, reset=lambda: reset(net))
        return lambda: captured(x, y)

    def step():
        reset(net)
        return train_step(x, y)
    return step


def measure(factory, config, repeat, compact):
    step = make_step(factory, config, compact)
    for _ in range(5):  # (a captured step records on its 4th call)
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
    parser.add_argument("--archs", nargs="+", default=["spiking", "sew"], choices=["spiking", "sew"])
    parser.add_argument("--sizes", nargs="+", default=["cifar", "imagenet"], choices=list(SIZES))
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--batch", type=int, help="default: 64 (cifar), 32 (imagenet)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=list(AUTOCAST))
    parser.add_argument("--modes", nargs="+", default=["eager", "captured"], choices=["eager", "captured"])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--profile", action="store_true",
                        help="then, for the first arch/size/dtype at the largest T, each net's device time by part")
    parser.add_argument("--compact-spikes", action=argparse.BooleanOptionalAction, default=True,
                        help="snnc: saved spikes as uint8 (snnc.nn.compact_spikes; default on)")
    parser.add_argument("--layouts", nargs="+", default=["channels_last"],
                        choices=list(LAYOUTS), help="memory formats to run each net in")
    args = parser.parse_args(argv)
    print(f"ResNet-18 training step, {torch.cuda.get_device_name(0)}; median of {args.repeat} iterations; snnc saved "
          f"spikes: {'uint8 (compact_spikes)' if args.compact_spikes else 'as computed (--no-compact-spikes)'}\n")
    nets = (("snnc", snnc_neuron, args.compact_spikes), ("SpikingJelly", sj_neuron, False))
    print("| net | size | T | dtype | mode | layout | snnc ms | SJ ms | time ratio | snnc samples/s | SJ samples/s "
          "| snnc peak GiB | SJ peak GiB | memory ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for arch in args.archs:
        for size in args.sizes:
            batch = args.batch or SIZES[size][2]
            for t in args.steps:
                for dtype in args.dtypes:
                    for mode in args.modes:
                        for layout in args.layouts:
                            config = dict(arch=arch, size=size, steps=t, batch=batch, dtype=dtype, mode=mode,
                                          layout=layout)
                            row = {}
                            for name, factory, compact in nets:
                                try:
                                    row[name] = measure(factory, config, args.repeat, compact)
                                except Exception as e:  # OOM, a step that cannot be captured, a missing peer
                                    row[name] = None
                                    print(f"<!-- {name} {config}: {type(e).__name__}: {str(e)[:200]} -->")
                                    torch.cuda.empty_cache()
                            print(f"| {arch} | {size} (batch {batch}) | {t} | {dtype} | {mode} | {layout} | "
                                  + _cells(row["snnc"], row["SpikingJelly"], batch) + " |")
    if args.profile:
        config = dict(arch=args.archs[0], size=args.sizes[0], steps=max(args.steps),
                      batch=args.batch or SIZES[args.sizes[0]][2], dtype=args.dtypes[0], mode="eager")
        rows = {f"{name} ({layout})": profile(factory, dict(config, layout=layout), compact)
                for layout in args.layouts for name, factory, compact in nets}
        parts = list(next(iter(rows.values()))[0])
        print(f"\n### device time of one step by part, {config}, ms (torch.profiler, self time of kernels)\n")
        print("| net | " + " | ".join(parts) + " | total |")
        print("|---|" + "---|" * (len(parts) + 1))
        for name, (row, _) in rows.items():
            print(f"| {name} | " + " | ".join(f"{row[p]:.1f}" for p in parts) + f" | {sum(row.values()):.1f} |")
        for name, (_, largest) in rows.items():
            print(f"\n{name}: the {LARGEST} largest kernels (ms, part, name)")
            for ms, part, kernel in largest:
                print(f"    {ms:7.2f}  {part:12s} {kernel[:100]}")


def _cells(snnc, sj, batch) -> str:
    """``ms | ms | ratio | samples/s | samples/s | GiB | GiB | ratio`` of two ``(ms, GiB)`` measurements
    (either may be missing)."""
    na = "n/a"
    cells = [na if r is None else f"{r[0]:.2f}" for r in (snnc, sj)]
    cells.append(f"{snnc[0] / sj[0]:.2f}" if snnc and sj else na)
    cells += [na if r is None else f"{batch / r[0] * 1e3:.0f}" for r in (snnc, sj)]
    cells += [na if r is None else f"{r[1]:.2f}" for r in (snnc, sj)]
    cells.append(f"{snnc[1] / sj[1]:.2f}" if snnc and sj else na)
    return " | ".join(cells)


if __name__ == "__main__":
    main()
