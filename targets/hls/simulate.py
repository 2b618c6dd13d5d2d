"""Run an hls artifact: build its C++ testbench with the machine's C++ compiler and run it.

The sources (:data:`SOURCES`) and the flags (:data:`CXXFLAGS`) are snnc's own: ``model.json``'s
``cxxflags`` and ``sources`` only describe the artifact, nothing in it is passed to the compiler.
The parameters are not compiled: the testbench loads ``firmware/weights.bin`` when it runs. (The
driver, ``snnc.simulate`` and ``snnc.verify``, checks every file against ``snnc.json``'s SHA-256 before
this builds anything.) The build is cached by the SHA-256 of the sources, the compiler's identity and
the flags (under ``$SNNC_CACHE`` or ``~/.cache/snnc/hls/<hash>/``), so simulating the same artifact
again costs only the run. Reads nothing but the artifact's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from ...ir.errors import SnncError
from ...ir.progress import phase
from ..fit import Fit, LayerFit, Resource
from .lower import CXXFLAGS, FORMAT_VERSION, SOURCES, WEIGHTS_FILE, lower

COMPILE_TIMEOUT_S = 600


def _cxx() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if not cxx:
        raise SnncError("hls: no C++ compiler found (set CXX, or install g++)")
    return cxx


def cache_dir() -> Path:
    root = os.environ.get("SNNC_CACHE")
    return Path(root) / "hls" if root else Path.home() / ".cache" / "snnc" / "hls"


def _model(out_dir: Path) -> dict:
    path = out_dir / "model.json"
    try:
        model = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SnncError(f"hls: cannot read {path}: {e}") from None
    if model.get("format") != "snnc-hls" or model.get("version") != FORMAT_VERSION:
        raise SnncError(f"hls: {path} is not an snnc-hls v{FORMAT_VERSION} model description (version "
                        f"{model.get('version')!r}; re-compile the model with this snnc)")
    return model


def build(out_dir, cxx: str | None = None, record: bool = False) -> tuple[Path, dict]:
    """Compile the artifact's testbench (cached); returns ``(binary, {"cached", "seconds"})``.
    ``record``: the variant built with ``-DSNNC_RECORD`` that also writes every layer's outputs."""
    import time
    out_dir = Path(out_dir)
    _model(out_dir)
    cxx = cxx or _cxx()
    flags = CXXFLAGS.split() + (["-DSNNC_RECORD"] if record else [])
    h = hashlib.sha256()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    h.update(f"{cxx}\n{version}\n{' '.join(flags)}\n".encode())
    for rel in sorted(p.relative_to(out_dir).as_posix() for d in ("firmware", "tb") for p in (out_dir / d).rglob("*")
                      if p.is_file() and p.suffix in (".h", ".cpp") and p.name != "weights_rom.h"):
        h.update(rel.encode() + b"\0" + (out_dir / rel).read_bytes() + b"\0")
    target = cache_dir() / h.hexdigest()[:32]
    binary = target / "testbench"
    if binary.exists():
        return binary, {"cached": True, "seconds": 0.0}
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f"testbench.{os.getpid()}.tmp"
    cmd = [cxx, *flags, f"-I{out_dir / 'firmware'}", "-o", str(tmp),
           *(str(out_dir / s) for s in SOURCES)]
    t0 = time.perf_counter()
    with phase(f"hls: compiling the C++ simulator ({Path(cxx).name})"):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SnncError(f"hls: compiling {out_dir} failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")
    os.replace(tmp, binary)
    return binary, {"cached": False, "seconds": seconds}


def simulate(out_dir, inputs, record: bool = False):
    """Run the artifact on ``[T, N, *input_shape]`` inputs; returns ``[T, N, *output_shape]`` float64
    (a tuple if the model has several outputs). The N sequences run one after another, each from the
    reset state, exactly as the reference interpreter runs them side by side. ``record=True`` returns
    ``(outputs, {node: [T, N, *shape]})`` with every layer's output (a second, cached build)."""
    out_dir = Path(out_dir)
    model = _model(out_dir)
    x = torch.as_tensor(inputs).detach().to("cpu", torch.float64)
    shape = tuple(model["input"]["shape"])
    if x.dim() != len(shape) + 2 or tuple(x.shape[2:]) != shape:
        raise SnncError(f"hls: input must have shape [T, N, {', '.join(map(str, shape))}], got {list(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise SnncError(f"hls: input must have at least one step and one sample, got {list(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise SnncError("hls: input contains NaN or Inf")
    binary, _ = build(out_dir, record=record)
    T, N = x.shape[0], x.shape[1]
    with tempfile.TemporaryDirectory(prefix="snnc-hls-") as tmp:
        fin, fout, ftrace = Path(tmp) / "input.bin", Path(tmp) / "output.bin", Path(tmp) / "trace.bin"
        fin.write_bytes(x.numpy().astype("<f8").tobytes())
        cmd = [str(binary), str(out_dir / "firmware" / WEIGHTS_FILE), str(fin), str(fout), str(T), str(N)] + \
            ([str(ftrace)] if record else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            why = (f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}")
            raise SnncError(f"hls: the testbench failed ({why}): {proc.stderr.strip() or 'no message'}")
        y = torch.from_numpy(np.fromfile(fout, dtype="<f8").reshape(T, N, model["n_out_total"]))
        trace = torch.from_numpy(np.fromfile(ftrace, dtype="<f8").reshape(T, N, -1)) if record else None
    outs = [y[:, :, o["offset"]:o["offset"] + o["size"]].reshape(T, N, *o["shape"]) for o in model["outputs"]]
    result = outs[0] if len(outs) == 1 else tuple(outs)
    if not record:
        return result
    layers = {r["name"]: trace[:, :, r["offset"]:r["offset"] + r["size"]].reshape(T, N, *r["shape"])
              for r in model["recorded"]}
    return result, layers


FIT_RESOURCES = [Resource("multipliers", "multipliers"), Resource("weight_bits", "weight memory", "bit"),
                 Resource("state_bits", "state memory", "bit"), Resource("cycles", "cycles per step")]


def fit(graph, out_dir=None) -> Fit:
    """Per layer function of the emitted C++ (from the artifact's model.json; lowered into a temporary
    directory when there is no artifact): multipliers, weight and state memory bits, and the cycles
    per step its loops take (FORMAT.md, *Latency estimate*). No limits: the FPGA part is the user's."""
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="snnc-hls-fit-") as tmp:
            lower(graph, Path(tmp), {})
            return fit(graph, Path(tmp))
    layers = [LayerFit(layer["name"], layer["op"], {r.key: int(layer.get(r.key, 0)) for r in FIT_RESOURCES})
              for layer in _model(Path(out_dir))["layers"]]
    return Fit("hls", FIT_RESOURCES, layers, notes=[
        "cycles: per layer function, the trip counts of the loops around its PIPELINE pragma times its "
        "II (a function pipelined as a whole: its II; unrolled loops: 1; other loops: their trip counts), "
        "summed over the layers called one after another; pipeline depth not included"])


def describe(out_dir) -> str:
    """Per layer: multipliers, weight bits, state bits, formats (from the artifact's model.json)."""
    model = _model(Path(out_dir))
    rows = [f"hls artifact: top {model['top']}(), input {tuple(model['input']['shape'])} "
            f"{model['input']['format']}, window {model['window'] or 'none'}",
            f"{'layer':<20} {'op':<10} {'shape':<16} {'mults':>8} {'weight bits':>12} {'state bits':>11}  formats"]
    total = {"multipliers": 0, "weight_bits": 0, "state_bits": 0}
    for layer in model["layers"]:
        for k in total:
            total[k] += int(layer.get(k, 0))
        extra = f" (reuse {layer['reuse_factor']}" + (", binary input: adders" if layer.get("binary_input") else "") \
            + ")" if "reuse_factor" in layer else ""
        fmts = ", ".join(f"{k}={v}" for k, v in layer["formats"].items())
        rows.append(f"{layer['name']:<20} {layer['op']:<10} {str(tuple(layer['shape'])):<16} "
                    f"{layer.get('multipliers', 0):>8} {layer.get('weight_bits', 0):>12} "
                    f"{layer.get('state_bits', 0):>11}  {fmts}{extra}")
    rows.append(f"{'total':<48} {total['multipliers']:>8} {total['weight_bits']:>12} {total['state_bits']:>11}")
    return "\n".join(rows)


__all__ = ["simulate", "build", "describe", "cache_dir"]
