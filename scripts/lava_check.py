#!/usr/bin/env python3
"""Cross-check snnc's Loihi simulator against real Lava (lava-dl 0.6.0 netx, ``Loihi2SimCfg('fixed_pt')``).

    python scripts/lava_check.py --setup            # create the cached Lava venv (once; ~5 min, ~5.6 GB)
    python scripts/lava_check.py                    # build 4 demo nets, lower them, compare every layer
    python scripts/lava_check.py OUT_DIR --inputs x.npy   # compare an existing Loihi artifact

Lava needs Python 3.10 (lava-nc 0.10 / lava-dl 0.6 pin ``>=3.10,<3.11``), so it lives in its own venv
(``.lava-venv/`` at the repository root, or ``$LAVA_VENV``), made with the first Python 3.10 found
(``$LAVA_PYTHON``, ``python3.10`` on PATH, pyenv's ``~/.pyenv/versions/3.10.*``). Without one the script
says so and exits 0 with ``SKIPPED`` (exit 3 with ``--require``). The snnc side runs in this
interpreter; the same file re-runs itself inside the venv with ``--lava-run`` (that mode imports only
numpy, h5py and lava). Every netx layer's spikes are recorded in Lava and compared, step by step, with
the simulator's, without any re-alignment of the per-layer delays. Exit 0 = all equal, 1 = mismatch.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("LAVA_VENV", ROOT / ".lava-venv"))
READY = VENV / ".snnc-lava-ready"
LAVA_REQUIREMENT = "lava-dl==0.6.0"
SKIPPED = 0


# --- the Lava venv ---------------------------------------------------------------------------------

def find_python310() -> str | None:
    candidates = [os.environ.get("LAVA_PYTHON"), shutil.which("python3.10")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python")), reverse=True)
    for c in candidates:
        if not c or not os.path.exists(c):
            continue
        try:
            out = subprocess.run([c, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.stdout.strip() == "True":
            return c
    return None


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(verbose: bool = True) -> Path | None:
    """The venv's python, creating and installing it once (cached by a stamp file); None if impossible."""
    if READY.exists() and venv_python().exists():
        return venv_python()
    if venv_python().exists():          # created before (maybe by hand): accept it if netx imports
        probe = subprocess.run([str(venv_python()), "-c", "import lava.lib.dl.netx"], capture_output=True)
        if probe.returncode == 0:
            READY.write_text(LAVA_REQUIREMENT + "\n")
            return venv_python()
    py = find_python310()
    if py is None:
        if verbose:
            print("lava_check: SKIPPED - no Python 3.10 interpreter found (Lava needs >=3.10,<3.11); set "
                  "LAVA_PYTHON or install one (e.g. pyenv install 3.10.13)")
        return None
    if verbose:
        print(f"lava_check: creating {VENV} with {py} and installing {LAVA_REQUIREMENT} "
              "(first time only: about 5 minutes and 5.6 GB)", flush=True)
    t0 = time.time()
    subprocess.run([py, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(venv_python()), "-m", "pip", "install", "-q", LAVA_REQUIREMENT], check=True)
    READY.write_text(LAVA_REQUIREMENT + "\n")
    if verbose:
        print(f"lava_check: venv ready in {time.time() - t0:.0f} s", flush=True)
    return venv_python()


# --- inside the Lava venv --------------------------------------------------------------------------

def lava_run(net_path: str, x_path: str, out_path: str, window: int) -> None:
    """Run the netx network on every sample (and window) of ``x`` ``[T, N, *shape]``; save each layer's
    spikes ``layer<i>`` ``[T, N, *lava shape]`` (Lava's XYZ order) to ``out_path`` (npz)."""
    import numpy as np
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    x = np.load(x_path)
    steps, batch = x.shape[:2]
    chunk = window or steps
    per_layer: dict[int, list] = {}
    for n in range(batch):
        pieces: dict[int, list] = {}
        for start in range(0, steps, chunk):
            xs = x[start:start + chunk, n]
            t = xs.shape[0]
            data = xs.transpose(tuple(range(xs.ndim - 1, 0, -1)) + (0,))    # [T, C, H, W] -> [W, H, C, T]
            net = netx.hdf5.Network(net_config=net_path)
            src = io.source.RingBuffer(data=data.astype(np.int32))
            sinks = [io.sink.RingBuffer(shape=layer.out.shape, buffer=t) for layer in net.layers]
            src.s_out.connect(net.inp)
            for layer, sink in zip(net.layers, sinks):
                layer.out.connect(sink.a_in)
            net.run(condition=RunSteps(num_steps=t), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            for i, sink in enumerate(sinks):
                pieces.setdefault(i, []).append(np.moveaxis(sink.data.get(), -1, 0))   # [t, *shape]
            net.stop()
        for i, p in pieces.items():
            per_layer.setdefault(i, []).append(np.concatenate(p, 0))
    np.savez(out_path, **{f"layer{i}": np.stack(v, 1) for i, v in per_layer.items()})


# --- the snnc side ---------------------------------------------------------------------------------

def run_lava(artifact: Path, x, python: Path) -> dict:
    """Lava's spikes per netx layer that has neurons, in snnc's layout ``[T, N, *HDF5 shape]``."""
    import numpy as np
    from snnc.ir.progress import phase
    from snnc.targets.loihi.simulate import read_host

    host = read_host(artifact)
    x = np.asarray(x)
    if host.get("input_flattened"):
        x = x.reshape(x.shape[:2] + (-1,))
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        cmd = [str(python), str(Path(__file__).resolve()), "--lava-run", str(artifact / host["network"]),
               str(Path(tmp) / "x.npy"), str(Path(tmp) / "out.npz"), "--window", str(host.get("window_size") or 0)]
        with phase(f"lava: running {x.shape[1]} samples x {x.shape[0]} steps in Lava (fixed_pt)"):
            proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"Lava run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
        out = np.load(Path(tmp) / "out.npz")
        layers = [out[f"layer{i}"] for i in range(len(out.files))]
    result = {}
    neuron_layers = [e["index"] for e in host["layers"] if e["type"] in ("dense", "conv")]
    for index, spikes in zip(neuron_layers, layers):
        # Lava's XYZ (W, H, C) back to CHW
        result[index] = spikes.transpose((0, 1) + tuple(range(spikes.ndim - 1, 1, -1))).astype(np.int64)
    return result


def compare(artifact, x, python: Path) -> dict:
    """Compare every layer's spikes, every step; returns counts and the first divergence (or None)."""
    import numpy as np
    from snnc.targets.loihi.simulate import run

    artifact = Path(artifact)
    _, ours = run(artifact, x, apply_readout=False, record=True)
    t0 = time.time()
    theirs = run_lava(artifact, x, python)
    report = {"layers": len(ours), "steps": int(x.shape[0]), "samples": int(x.shape[1]), "values": 0,
              "spikes": 0, "lava_seconds": round(time.time() - t0, 1), "first_divergence": None}
    for index, mine in ours.items():
        mine = mine.numpy()
        lava = theirs[index]
        report["values"] += mine.size
        report["spikes"] += int(mine.sum())
        if mine.shape != lava.shape or not np.array_equal(mine, lava):
            if mine.shape != lava.shape:
                report["first_divergence"] = f"netx layer {index}: shape {mine.shape} vs Lava {lava.shape}"
            else:
                t, *where = np.argwhere(mine != lava)[0]
                report["first_divergence"] = (f"netx layer {index}, step {t}, index {tuple(where)}: snnc "
                                              f"{mine[(t, *where)]} vs Lava {lava[(t, *where)]}")
            break
    report["equal"] = report["first_divergence"] is None
    return report


def demo_nets(seed: int = 0):
    """Four small float nets: dense (IF/LIF/CUBA + bias), conv (stride 2, non-square), pooling (sum and
    avg with their own neurons, pool→flatten→linear merged), and an overflow net (24-bit current wrap,
    voltage saturation)."""
    import numpy as np
    from snnc.ir import Graph

    rng = np.random.default_rng(seed)

    def neuron(g, name, src, kind, th=1.0, **extra):
        params = {"v_threshold": np.asarray(th), "v_reset": np.asarray(0.0)}
        attrs = {"charge": kind, "reset": "hard", "compare": "gt"}
        if kind == "lif":
            params["tau"] = np.asarray(2.0)
        if kind == "cuba":
            params["alpha"] = np.asarray(extra.get("alpha", 0.75))
            params["beta"] = np.asarray(extra.get("beta", 0.875))
        g.add_node(name, "Neuron", [src], params, **attrs)

    nets = {}
    g = Graph()
    g.add_node("x", "Input", shape=(16,))
    g.add_node("fc0", "Linear", ["x"], {"weight": rng.normal(0, 0.6, (12, 16)), "bias": rng.normal(0.05, 0.1, 12)})
    neuron(g, "if0", "fc0", "if")
    g.add_node("fc1", "Linear", ["if0"], {"weight": rng.normal(0.1, 0.7, (10, 12))})
    neuron(g, "lif1", "fc1", "lif", th=0.6)
    g.add_node("fc2", "Linear", ["lif1"], {"weight": rng.normal(0.1, 0.7, (6, 10))})
    neuron(g, "cuba2", "fc2", "cuba", alpha=0.5, beta=0.75)
    g.add_node("y", "Output", ["cuba2"])
    nets["dense"] = g

    g = Graph()
    g.add_node("x", "Input", shape=(2, 9, 7))
    g.add_node("c0", "Conv2d", ["x"], {"weight": rng.normal(0.1, 0.6, (4, 2, 3, 3))}, stride=(2, 1), padding=1)
    neuron(g, "n0", "c0", "cuba")
    g.add_node("c1", "Conv2d", ["n0"], {"weight": rng.normal(0.1, 0.6, (3, 4, 3, 2))}, padding=(1, 0))
    neuron(g, "n1", "c1", "if")
    g.add_node("flat", "Flatten", ["n1"])
    g.add_node("fc", "Linear", ["flat"], {"weight": rng.normal(0.05, 0.4, (5, 3 * 5 * 6))})
    neuron(g, "out", "fc", "cuba")
    g.add_node("y", "Output", ["out"])
    nets["conv"] = g

    g = Graph()
    g.add_node("x", "Input", shape=(2, 8, 8))
    g.add_node("c0", "Conv2d", ["x"], {"weight": rng.normal(0.15, 0.6, (3, 2, 3, 3))}, padding=1)
    neuron(g, "n0", "c0", "cuba")
    g.add_node("sum", "SumPool2d", ["n0"], kernel_size=2)
    neuron(g, "np0", "sum", "if", th=1.0)
    g.add_node("avg", "AvgPool2d", ["np0"], kernel_size=2)
    neuron(g, "np1", "avg", "cuba", th=0.2, alpha=0.5, beta=0.5)
    g.add_node("pool2", "SumPool2d", ["np1"], kernel_size=2)
    g.add_node("flat", "Flatten", ["pool2"])
    g.add_node("fc", "Linear", ["flat"], {"weight": rng.normal(0.2, 0.5, (4, 3))})
    neuron(g, "out", "fc", "if", th=0.5)
    g.add_node("y", "Output", ["out"])
    nets["pool"] = g

    g = Graph()
    g.add_node("x", "Input", shape=(256,))
    g.add_node("fc0", "Linear", ["x"], {"weight": rng.normal(1.0, 1.0, (8, 256))})
    neuron(g, "acc", "fc0", "cuba", th=2000.0, alpha=1.0, beta=1.0)      # no leak: u wraps, v saturates
    g.add_node("fc1", "Linear", ["acc"], {"weight": rng.normal(0.0, 1.0, (4, 8))})
    neuron(g, "out", "fc1", "cuba", th=0.5)
    g.add_node("y", "Output", ["out"])
    nets["overflow"] = g
    return {k: v.verify() for k, v in nets.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifact", nargs="?", help="an existing Loihi artifact directory (default: demo nets)")
    ap.add_argument("--inputs", help="[T, N, *input_shape] .npy spikes for ARTIFACT")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--rate", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nets", default="dense,conv,pool,overflow", help="demo nets to run (comma-separated)")
    ap.add_argument("--setup", action="store_true", help="only create the Lava venv")
    ap.add_argument("--require", action="store_true", help="exit 3 instead of 0 when Lava is unavailable")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--lava-run", nargs=3, metavar=("NET", "X", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--window", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.lava_run:
        lava_run(*args.lava_run, window=args.window)
        return 0
    python = ensure_venv()
    if python is None:
        return 3 if args.require else SKIPPED
    if args.setup:
        print(f"lava_check: Lava venv ready at {VENV}")
        return 0

    import numpy as np
    from snnc.targets.loihi import TARGET

    rng = np.random.default_rng(args.seed)
    results = {}
    if args.artifact:
        x = np.load(args.inputs)
        results[args.artifact] = compare(Path(args.artifact), x, python)
    else:
        root = Path(tempfile.mkdtemp(prefix="snnc-lava-check-"))
        wanted = args.nets.split(",")
        for name, graph in demo_nets(args.seed).items():
            if name not in wanted:
                continue
            out = root / name                       # a fresh path per net: netx never closes the file
            out.mkdir()
            qgraph = TARGET.prepare(graph, {})
            TARGET.check(qgraph, {})
            TARGET.lower(qgraph, out, {})
            x = (rng.random((args.steps, args.batch) + graph.input_shape) < args.rate).astype(np.float32)
            results[name] = compare(out, x, python)
    ok = True
    for name, r in results.items():
        ok &= r["equal"]
        print(f"{name:<10} {'EQUAL' if r['equal'] else 'MISMATCH'}: {r['layers']} layers x {r['steps']} steps x "
              f"{r['samples']} samples, {r['values']} spike values ({r['spikes']} spikes) compared; Lava took "
              f"{r['lava_seconds']} s" + ("" if r["equal"] else f"; first divergence: {r['first_divergence']}"))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
