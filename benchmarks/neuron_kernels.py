"""Multi-step LIF layer: forward and forward+backward time, snnc's fused kernels vs peers.

    python benchmarks/neuron_kernels.py [--steps 4 8 16 32 64] [--neurons 4194304] [--dtypes float32 float16]
                                        [--gradient dense|rate]

Prints markdown tables (milliseconds, median of ``--repeat`` CUDA-event timings after warm-up). Each
timed call is queued behind a GPU sleep, so the tables hold device time, the same way for every row
(``timing.cuda_time``); the host time per call, which matters for small layers, is a table of its own
(``--host-neurons`` per step, T=4). The ceiling is a device-to-device copy of the input (the bytes a
forward must at least read and write); the ``fwd`` table also gives each forward's time as a fraction of
it (copy time / kernel time). Peers that are not installed, or that fail, are reported as such.
"""

from __future__ import annotations

import argparse
import sys

import torch
from timing import cuda_time, host_time


# contenders: name -> factory(dtype) returning a callable module-like object taking x_seq [T, N]
def snnc_lif(backend, compiled=False):
    """snnc's LIF module (``compiled``: under ``torch.compile``, default mode; warm-up compiles it)."""
    def make(dtype):
        from snnc.nn import LIF
        module = LIF(tau=2.0, step_mode="m", backend=backend).cuda()
        forward = torch.compile(module) if compiled else module

        def run(x):
            module.reset()
            return forward(x)
        return run
    return make


def sj_lif(dtype):
    """SpikingJelly 2.0's LIFNode: it picks its CUDA implementation itself (triton first; the environment
    variable SJ_LIF_CUDA_IMPLEMENTATION=auto|cuda|triton|torch overrides, read at import)."""
    from spikingjelly.activation_based import neuron as sjn
    module = sjn.LIFNode(tau=2.0, step_mode="m").cuda()

    def run(x):
        module.reset()
        return module(x)
    return run


def sj_lif_functional(dtype):
    """SpikingJelly 2.0's ``lif_multi_step`` with its membrane in float32, the state dtype its fused kernels
    require: with float16/bfloat16 input this is its Triton path, where the LIFNode module (state in the
    input's dtype) falls back to its PyTorch loop."""
    from spikingjelly.activation_based.functional import lif_multi_step

    def run(x):
        v = torch.zeros(x.shape[1:], device=x.device, dtype=torch.float32)
        return lif_multi_step(x, v, tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0)[0]
    return run


def snntorch_leaky(dtype):
    import snntorch
    module = snntorch.Leaky(beta=0.5).cuda()

    def run(x):
        mem = module.init_leaky()
        out = []
        for xt in x:
            spk, mem = module(xt, mem)
            out.append(spk)
        return torch.stack(out)
    return run


def norse_lif(dtype):
    """Norse's LIF: its sequence module where it has one, else its cell (current-based feed-forward LIF in
    Norse 0.0.x) looped over T."""
    import norse.torch as nt
    if hasattr(nt, "LIF"):
        module = nt.LIF().cuda()
        return lambda x: module(x)[0]
    if hasattr(nt, "LIFCell"):
        cell = nt.LIFCell().cuda()
    else:
        from norse.torch.module.lif import LIFFeedForwardCell
        cell = LIFFeedForwardCell().cuda()

    def run(x):
        state, out = None, []
        for xt in x:
            z, state = cell(xt, state)
            out.append(z)
        return torch.stack(out)
    return run


CONTENDERS = {
    "snnc-triton": snnc_lif("triton"),
    "snnc-triton, torch.compile": snnc_lif("triton", compiled=True),
    "snnc-cupy": snnc_lif("cupy"),
    "snnc-torch": snnc_lif("torch"),
    "SpikingJelly 2.0 LIFNode": sj_lif,
    "SpikingJelly 2.0 lif_multi_step (fp32 state)": sj_lif_functional,
    "snnTorch Leaky": snntorch_leaky,
    "Norse LIF": norse_lif,
}


#: SpikingJelly's rows, the anchor of the ratio row
SPIKINGJELLY = ("SpikingJelly 2.0 LIFNode", "SpikingJelly 2.0 lif_multi_step (fp32 state)")


def call(make, dtype, steps, neurons, backward, gradient="dense"):
    """A function running one forward (no grad) or forward+backward of the contender; ``gradient``
    ``"rate"`` is the gradient of a rate-coded loss (``y.mean(0)``), the same at every step (stride 0
    over T), ``"dense"`` one per step."""
    x = torch.randn(steps, neurons, device="cuda").to(dtype)
    run = make(dtype)
    if backward:
        x.requires_grad_(True)
        grad = torch.randn_like(x[0]).expand_as(x) if gradient == "rate" else torch.randn_like(x)

        def fn():
            x.grad = None
            run(x).backward(grad)
    else:
        def fn():
            with torch.no_grad():
                run(x)
    return fn


def host_table(names, neurons):
    print(f"### host time per call, T=4, {neurons} neurons, float32, µs\n")
    print("| implementation | forward (no grad) | forward+backward |")
    print("|---|---|---|")
    for name in names:
        cells = []
        for backward in (False, True):
            try:
                cells.append(f"{host_time(call(CONTENDERS[name], torch.float32, 4, neurons, backward)):.0f}")
            except Exception as e:  # a peer missing or failing is reported, not fatal
                cells.append(f"n/a ({type(e).__name__})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--neurons", type=int, default=1 << 22)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float16"])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--gradient", choices=("dense", "rate"), default="dense",
                        help="the spikes' gradient in forward+backward: one per step, or a rate loss's "
                             "(the same at every step, stride 0 over T)")
    parser.add_argument("--only", nargs="*", default=None, help="contenders to run (names as in the table)")
    parser.add_argument("--host-neurons", type=int, default=4096,
                        help="neurons per step of the host-time table (0: no table)")
    parser.add_argument("--slow-max-steps", type=int, default=64,
                        help="skip the per-step Python loops (torch, snnTorch, Norse) above this T")
    args = parser.parse_args(argv)
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, torch {torch.__version__}, neurons per step {args.neurons}, "
          f"median of {args.repeat} CUDA-event timings\n")
    names = args.only or list(CONTENDERS)
    slow = {"snnc-torch", "snnTorch Leaky", "Norse LIF"}
    if args.host_neurons:
        host_table(names, args.host_neurons)
    for dtype_name in args.dtypes:
        dtype = getattr(torch, dtype_name)
        copy = {}
        for t in args.steps:
            x = torch.randn(t, args.neurons, device="cuda").to(dtype)
            y = torch.empty_like(x)
            copy[t] = cuda_time(lambda: y.copy_(x), args.repeat)
            del x, y
        for backward in (False, True):
            title = f"forward+backward ({args.gradient} gradient)" if backward else "forward (no grad)"
            print(f"### LIF {title}, {dtype_name}, ms\n")
            print("| implementation | " + " | ".join(f"T={t}" for t in args.steps) + " |")
            print("|---|" + "---|" * len(args.steps))
            print("| copy of the input (ceiling) | " + " | ".join(f"{copy[t]:.3f}" for t in args.steps) + " |")
            timed = {}
            for name in names:
                cells = []
                for t in args.steps:
                    if name in slow and t > args.slow_max_steps:
                        cells.append("skipped")
                        continue
                    try:
                        ms = timed[name, t] = cuda_time(call(CONTENDERS[name], dtype, t, args.neurons, backward,
                                                             args.gradient), args.repeat)
                        cells.append(f"{ms:.3f}" + ("" if backward else f" ({copy[t] / ms:.0%})"))
                    except Exception as e:  # a peer missing or failing is reported, not fatal
                        cells.append(f"n/a ({type(e).__name__})")
                        print(f"<!-- {name} T={t}: {type(e).__name__}: {str(e)[:200]} -->", file=sys.stderr)
                    torch.cuda.empty_cache()
                print(f"| {name} | " + " | ".join(cells) + " |")
            print(ratio_row(timed, args.steps))
            print()


def ratio_row(timed: dict, steps: list[int]) -> str:
    """snnc-triton's time over SpikingJelly's fastest fused path (its Triton kernels), per T."""
    cells = []
    for t in steps:
        peers = [timed[name, t] for name in SPIKINGJELLY if (name, t) in timed]
        cells.append(f"{timed['snnc-triton', t] / min(peers):.2f}×" if peers and ("snnc-triton", t) in timed
                     else "n/a")
    return "| **snnc-triton / SpikingJelly (fastest)** | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
