"""Device diagnostics for the runtime (numerics of PyTorch's CUDA element-wise ops, compile gradients,
kernel launch parameters). Prints findings; not a test."""
import os
import sys
import time

import numpy as np
import torch
import triton
import triton.language as tl

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from timing import cuda_time  # noqa: E402

DEV = "cuda"
F32, F16, BF16 = torch.float32, torch.float16, torch.bfloat16


def section(name):
    print(f"\n===== {name}", flush=True)


def rnd(a32, dt):
    return torch.from_numpy(np.asarray(a32, dtype=np.float32)).to(dt).float().numpy()


def mism(a, b):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return int((a.view(np.int32) != b.view(np.int32)).sum())


def semantics():
    section("A: scalar semantics of torch CUDA element-wise ops")
    gen = torch.Generator(device=DEV).manual_seed(0)
    for dt in (F32, F16, BF16):
        a = (torch.randn(1 << 20, generator=gen, device=DEV) * 3).to(dt)
        af = a.float().cpu().numpy()
        tau = 1.7
        r = (a / tau).float().cpu().numpy()
        t32 = np.float32(tau)
        inv32 = np.float32(1) / t32
        inv64 = np.float32(1 / tau)
        cands = {
            "round(a*inv32)": rnd(af * inv32, dt),
            "round(a*inv64)": rnd(af * inv64, dt),
            "round(a/t32)": rnd(af / t32, dt),
            "round(a*round(inv32))": rnd(af * rnd(inv32, dt), dt),
            "round(a/round(t))": rnd(af / rnd(t32, dt), dt),
        }
        print(f"{dt} a/1.7:", {k: mism(r, v) for k, v in cands.items()})
        r = (a / torch.tensor(1.7, device=DEV)).float().cpu().numpy()
        print(f"{dt} a/cuda0d(1.7):", {k: mism(r, v) for k, v in cands.items()})
        tau_t = torch.full_like(a, 1.7)
        r = (a / tau_t).float().cpu().numpy()
        print(f"{dt} a/tensor(1.7 in dt):", {"round(a/round(t))": mism(r, rnd(af / rnd(t32, dt), dt)),
                                             "round(a*round(inv32))": mism(r, rnd(af * rnd(inv32, dt), dt))})
        w = torch.tensor(-0.4, device=DEV, requires_grad=True)
        k = w.sigmoid()
        k32 = np.float32(k.item())
        with torch.no_grad():
            r = (a * k).float().cpu().numpy()
            print(f"{dt} a*k(0-d f32 cuda): dtype {(a * k).dtype}", {"round(a*k32)": mism(r, rnd(af * k32, dt)),
                                                                   "round(a*round(k))": mism(r, rnd(af * rnd(k32, dt), dt))})
            r = (a * k.item()).float().cpu().numpy()
            print(f"{dt} a*python k:", {"round(a*k32)": mism(r, rnd(af * k32, dt)),
                                        "round(a*round(k))": mism(r, rnd(af * rnd(k32, dt), dt))})
            c = 0.3
            r = (a - c).float().cpu().numpy()
            print(f"{dt} a-0.3:", {"round(a-c32)": mism(r, rnd(af - np.float32(c), dt)),
                                   "round(a-round(c))": mism(r, rnd(af - rnd(np.float32(c), dt), dt))})
            r = (c * a).float().cpu().numpy()
            print(f"{dt} 0.3*a:", {"round(a*c32)": mism(r, rnd(af * np.float32(c), dt)),
                                   "round(a*round(c))": mism(r, rnd(af * rnd(np.float32(c), dt), dt))})
            b = (torch.randn(1 << 20, generator=gen, device=DEV)).to(dt)
            bf = b.float().cpu().numpy()
            r = (a - b * k).float().cpu().numpy()
            print(f"{dt} a-(b*k):", {"per-op": mism(r, rnd(af - rnd(bf * k32, dt), dt))})
            one = torch.tensor(1.0, device=DEV)
            print(f"{dt} 1-k (0-d) :", (one - k).item(), "f32:", np.float32(1) - k32)


def lif_nodecay_trace():
    section("B: lif soft nodecay tau=1.7 fp32, first divergence")
    from snnc.nn import neuron
    gen = torch.Generator(device=DEV).manual_seed(0)
    x = torch.randn((8, 16, 4097), generator=gen, device=DEV) * 1.5
    for backend in ("triton", "cupy"):
        ref = neuron.LIF(tau=1.7, decay_input=False, v_reset=None, step_mode="m", store_v_seq=True)
        fus = neuron.LIF(tau=1.7, decay_input=False, v_reset=None, step_mode="m", store_v_seq=True, backend=backend)
        with torch.no_grad():
            ref(x)
            try:
                fus(x)
            except Exception as e:
                print(backend, "failed", e)
                continue
        a, b = ref.v_seq.cpu().numpy(), fus.v_seq.cpu().numpy()
        bad = np.argwhere(a.view(np.int32) != b.view(np.int32))
        print(backend, "v_seq mismatches", len(bad))
        if len(bad):
            t, *idx = bad[0]
            idx = tuple(idx)
            xs = x.cpu().numpy()
            vp = np.float32(0) if t == 0 else a[(t - 1,) + idx]
            xv = xs[(t,) + idx]
            inv32 = np.float32(1) / np.float32(1.7)
            inv64 = np.float32(1 / 1.7)
            for name, d in (("inv32", (vp - np.float32(0)) * inv32), ("inv64", (vp - np.float32(0)) * inv64),
                            ("div", (vp - np.float32(0)) / np.float32(1.7))):
                h = np.float32(np.float32(vp - np.float32(d)) + xv)
                print(f"  t={t} v_prev={vp!r} x={xv!r} cand {name}: h={h!r}")
            print(f"  ref v={a[(t,) + idx]!r} fused v={b[(t,) + idx]!r}")


def compile_grads():
    section("C: torch.compile gradients (per parameter)")
    from snnc.nn import neuron, reset_net

    def net(backend, kinds):
        layers = []
        for kind in kinds:
            layers += [torch.nn.Linear(64, 64), (neuron.LIF if kind == "lif" else neuron.PLIF)(step_mode="m", backend=backend)]
        return torch.nn.Sequential(*layers).cuda()

    for kinds in (("lif",), ("plif",), ("lif", "plif")):
        for mode in ("default", "fullgraph", "reduce-overhead"):
            torch._dynamo.reset()
            torch.manual_seed(0)
            m = net("triton", kinds)
            r = net("torch", kinds)
            r.load_state_dict(m.state_dict())
            kw = {"fullgraph": True} if mode == "fullgraph" else ({"mode": mode} if mode != "default" else {})
            c = torch.compile(m, **kw)
            try:
                for step in range(3):
                    g = torch.Generator(device=DEV).manual_seed(step)
                    x = (torch.randn((8, 32, 64), generator=g, device=DEV) * 1.5).requires_grad_()
                    reset_net(m)
                    reset_net(r)
                    o = c(x)
                    e = r(x)
                    o.sum().backward()
                    eg = torch.autograd.grad(e.sum(), list(r.parameters()))
                    errs = {n: (None if p.grad is None else f"{(p.grad - q).abs().max().item():.2e}")
                            for (n, p), q in zip(m.named_parameters(), eg)}
                    print(kinds, mode, "step", step, "fwd equal", torch.equal(o, e), errs, flush=True)
                    m.zero_grad()
            except Exception as ex:
                print(kinds, mode, "FAILED", type(ex).__name__, str(ex)[:300])


def _settings(variable, default):
    """``STEPS:BLOCKxWARPS,...`` from the environment: a list of (steps, block, warps)."""
    return [(int(c), *(int(v) for v in bw.split("x"))) for c, bw in
            (item.split(":") for item in os.environ.get(variable, default).split(","))]


def tune():
    section("D: kernel launch parameters (LIF tau=2, 2^22 neurons): BLOCK, warps, CHUNK, checkpoint span")
    from snnc.runtime.triton import ops

    steps = [int(t) for t in os.environ.get("TUNE_T", "32").split(",")]
    dtypes = [getattr(torch, d) for d in os.environ.get("TUNE_DTYPES", "float32,float16").split(",")]
    # forward (CHUNK:BLOCKxWARPS, for "infer" and "train") and backward (SPAN:BLOCKxWARPS) settings to try
    forwards = _settings("TUNE_SET", "4:128x1,4:256x1,4:512x4,8:64x1,8:128x1,8:256x2,16:128x2")
    backwards = _settings("TUNE_SPAN", "8:128x2,16:64x2,16:128x2,32:64x2,32:128x2,32:128x4,64:128x2")
    scal = [0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0]
    saved = dict(ops.LAUNCH)
    base = dict(charge=1, decay_input=1, tau_recip=1, hard=1, detach=0, surrogate=0, window=1 << 30, steps0=0,
                store_ckpt=0, store_v=0, v0_mode=0, i0_mode=0, vth_mode=0, p1_mode=0, p2_mode=0, round_k=0, exact16=1)
    infer = [base[k] for k in ops.CONFIG]
    train = [dict(base, store_ckpt=1)[k] for k in ops.CONFIG]
    ops._DIRECT.on = True

    def timed(fn):
        ops._CONSTEXPRS.clear()
        return cuda_time(fn, 20)

    try:
        for dt in dtypes:
            for T in steps:
                x = torch.randn(T, 1 << 22, device=DEV).to(dt)
                gs = torch.randn_like(x)
                y = torch.empty_like(x)
                cp = cuda_time(lambda: y.copy_(x), 20)
                print(f"{dt} T={T} copy {cp:.3f} ms; forward (CHUNK:BLOCKxWARPS), train at span "
                      f"{saved[dt, 'backward'][2]}")
                for chunk, block, warps in forwards:
                    ops.LAUNCH.update(saved)
                    ops.LAUNCH[dt, "infer"] = ops.LAUNCH[dt, "train"] = (block, warps, chunk)
                    fi = timed(lambda: ops._forward_impl(x, None, None, None, None, None, scal, infer))
                    ft = timed(lambda: ops._forward_impl(x, None, None, None, None, None, scal, train)) \
                        if ops._span(dt, T) % chunk == 0 else float("nan")
                    print(f"   {chunk:2d}:{block}x{warps}: fwd {fi:.3f} ({cp / fi:.0%})  fwd+ckpt {ft:.3f}")
                print(f"   backward (SPAN:BLOCKxWARPS), forward at the table's settings")
                for span, block, warps in backwards:
                    ops.LAUNCH.update(saved)
                    ops.LAUNCH[dt, "backward"] = (block, warps, span)
                    chunk = ops.LAUNCH[dt, "train"][2]
                    if span % chunk:
                        ops.LAUNCH[dt, "train"] = (*ops.LAUNCH[dt, "train"][:2], span)
                    ft = timed(lambda: ops._forward_impl(x, None, None, None, None, None, scal, train))
                    out = ops._forward_impl(x, None, None, None, None, None, scal, train)
                    bw = timed(lambda: ops._backward_impl(gs, None, None, None, x, out[4], out[5], None, None,
                                                          None, None, None, scal, train, [0, 0]))
                    kernel = list(ops._COMPILED.values())[-1]  # the backward just compiled
                    print(f"   {span:2d}:{block}x{warps}: fwd+ckpt {ft:.3f}  bwd {bw:.3f}  train {ft + bw:.3f} "
                          f"({(ft + bw) / cp:.2f} copies; bwd {kernel.n_regs} registers, {kernel.n_spills} spills)")
                del x, gs, y
    finally:
        ops._DIRECT.on = False
        ops.LAUNCH.clear(), ops.LAUNCH.update(saved)
        ops._CONSTEXPRS.clear()
    # host overhead per call at small size
    from snnc.nn import neuron
    m = neuron.LIF(step_mode="m", backend="triton").cuda()
    x = torch.randn(4, 4096, device=DEV)
    with torch.no_grad():
        for _ in range(20):
            m.reset(); m(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(200):
            m.reset(); m(x)
        torch.cuda.synchronize()
    print(f"host time per no-grad call (T=4, 4096 neurons): {(time.perf_counter() - t0) / 200 * 1e6:.1f} us")
    xg = x.clone().requires_grad_()
    for _ in range(20):
        m.reset(); m(xg).sum().backward()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(200):
        m.reset(); m(xg).sum().backward()
    torch.cuda.synchronize()
    print(f"host time per fwd+bwd call: {(time.perf_counter() - t0) / 200 * 1e6:.1f} us")


@triton.jit
def _rows_copy(x_ptr, y_ptr, N, T: tl.constexpr, CHUNK: tl.constexpr, BLOCK: tl.constexpr):
    """``y = x`` for ``[T, N]`` in the neuron forward's order: BLOCK neurons per program, all T rows."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    n = tl.cast(N, tl.int64)
    for c in range(T // CHUNK):
        values = ()
        for k in tl.static_range(CHUNK):
            values = values + (tl.load(x_ptr + n * (c * CHUNK + k) + offs, mask=mask),)
        for k in tl.static_range(CHUNK):
            tl.store(y_ptr + n * (c * CHUNK + k) + offs, values[k], mask=mask)


@triton.jit
def _flat_copy(x_ptr, y_ptr, M, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=offs < M), mask=offs < M)


def pattern():
    """Is the forward's plateau (~95 % of copy bandwidth in float32) its access pattern? A Triton copy of
    ``[T, N]`` in the forward's order (each program BLOCK neurons, all T rows, CHUNK rows loaded at once)
    against a flat Triton copy and ``Tensor.copy_``, same bytes."""
    section("E: access pattern of the forward: row-blocked copy vs flat copy (float32, T=32, 2^22)")
    T, N = 32, 1 << 22
    x = torch.randn(T, N, device=DEV)
    y = torch.empty_like(x)
    cp = cuda_time(lambda: y.copy_(x), 20)
    print(f"Tensor.copy_ {cp:.3f} ms")
    for block, warps in ((1024, 4), (2048, 8), (4096, 8)):
        ms = cuda_time(lambda: _flat_copy[(triton.cdiv(T * N, block),)](x, y, T * N, BLOCK=block, num_warps=warps), 20)
        print(f"flat Triton copy {block}x{warps}: {ms:.3f} ms ({cp / ms:.0%})")
    for chunk, block, warps in ((8, 256, 2), (8, 512, 4), (4, 1024, 4), (16, 256, 2), (8, 128, 1)):
        ms = cuda_time(lambda: _rows_copy[(triton.cdiv(N, block),)](x, y, N, T=T, CHUNK=chunk, BLOCK=block,
                                                                      num_warps=warps), 20)
        print(f"row-blocked copy chunk {chunk} {block}x{warps}: {ms:.3f} ms ({cp / ms:.0%})")
    assert torch.equal(x, y)


def once():
    """One launch of each kernel (infer, train, backward) per dtype at the default settings, T=32, 2^22
    neurons: the thing to run under ``ncu``."""
    from snnc.runtime.triton import ops

    scal = [0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0]
    base = dict(charge=1, decay_input=1, tau_recip=1, hard=1, detach=0, surrogate=0, window=1 << 30, steps0=0,
                store_ckpt=0, store_v=0, v0_mode=0, i0_mode=0, vth_mode=0, p1_mode=0, p2_mode=0, round_k=0, exact16=1)
    infer = [base[k] for k in ops.CONFIG]
    train = [dict(base, store_ckpt=1)[k] for k in ops.CONFIG]
    ops._DIRECT.on = True
    for dt in (F32, F16):
        x = torch.randn(32, 1 << 22, device=DEV).to(dt)
        gs = torch.randn_like(x)
        torch.empty_like(x).copy_(x)
        for _ in range(2):
            ops._forward_impl(x, None, None, None, None, None, scal, infer)
            out = ops._forward_impl(x, None, None, None, None, None, scal, train)
            ops._backward_impl(gs, None, None, None, x, out[4], out[5], None, None, None, None, None, scal, train,
                               [0, 0])
        torch.cuda.synchronize()
    ops._DIRECT.on = False


def host():
    section("E: host time per call (T=4, 4096 neurons), fast launch on/off, and a profile")
    import cProfile
    import pstats

    from snnc.nn import neuron
    from snnc.runtime.triton import ops

    m = neuron.LIF(step_mode="m", backend="triton").cuda()
    x = torch.randn(4, 4096, device=DEV)
    xg = x.clone().requires_grad_()
    g = torch.randn_like(x)

    def train():
        m.reset()
        xg.grad = None
        m(xg).backward(g)

    def infer():
        with torch.no_grad():
            m.reset()
            m(x)

    for fast in (True, False):
        ops.FAST_LAUNCH = fast
        for name, fn in (("fwd+bwd", train), ("fwd no-grad", infer)):
            for _ in range(30):
                fn()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(300):
                fn()
            torch.cuda.synchronize()
            print(f"fast launch {fast}: {name} {(time.perf_counter() - t0) / 300 * 1e6:.1f} us per call")
    ops.FAST_LAUNCH = True
    print("fast launches taken:", ops.FAST_HITS[0], "cached kernels:", len(ops._COMPILED),
          "enter hook:", ops._knobs.runtime.launch_enter_hook if ops._knobs else None)
    for name, fn in (("fwd+bwd", train), ("fwd no-grad", infer)):
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(300):
            fn()
        prof.disable()
        print(f"--- profile {name} (300 calls)")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    which = sys.argv[1:] or ["semantics", "trace", "compile", "tune"]
    for name in which:
        try:
            {"semantics": semantics, "trace": lif_nodecay_trace, "compile": compile_grads, "tune": tune,
             "host": host, "once": once, "pattern": pattern}[name]()
        except Exception as e:
            import traceback
            traceback.print_exc()
            print(name, "crashed", e)
