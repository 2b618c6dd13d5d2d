"""Run ``model.onnx`` in onnxruntime one time step at a time, feeding the state outputs back as the
next step's state inputs, with ``reset = true`` on the first step of every window. Reads only the
model file (its ``snnc.*`` metadata says which inputs and outputs are state)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch

from ...ir.errors import SnncError
from ..common import check_inputs

FORMAT = "snnc-onnx-step"
SUPPORTED_VERSIONS = ("1",)


def _fail(msg: str):
    raise SnncError(f"model.onnx: {msg}")


def read_model(out_dir) -> tuple[onnx.ModelProto, dict]:
    path = Path(out_dir) / "model.onnx"
    if not path.is_file():
        _fail(f"not found in {out_dir}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # onnx raises several unrelated types for damaged files
        _fail(f"not a valid ONNX model ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("snnc.format") != FORMAT:
        _fail(f"metadata snnc.format is {meta.get('snnc.format')!r}, expected {FORMAT!r}")
    if meta.get("snnc.version") not in SUPPORTED_VERSIONS:
        _fail(f"metadata snnc.version {meta.get('snnc.version')!r} is not supported (supports {list(SUPPORTED_VERSIONS)})")
    try:
        info = {"window": int(meta["snnc.window"]), "input": meta["snnc.input"], "reset": meta["snnc.reset"],
                "outputs": json.loads(meta["snnc.outputs"]), "states": json.loads(meta["snnc.states"]),
                "values": json.loads(meta.get("snnc.values", "[]"))}
    except (KeyError, ValueError) as e:
        _fail(f"snnc metadata is incomplete or malformed ({e})")
    inputs = {i.name for i in model.graph.input}
    outputs = {o.name for o in model.graph.output}
    for s in info["states"]:
        if s["input"] not in inputs or s["output"] not in outputs:
            _fail(f"state {s['name']!r}: {s['input']!r}/{s['output']!r} are not graph input/output")
    missing = [n for n in [info["input"], info["reset"]] if n not in inputs] + \
              [n for n in info["outputs"] if n not in outputs]
    if missing:
        _fail(f"metadata names {missing}, which the graph does not have")
    return model, info


def session(model: onnx.ModelProto, extra_outputs: list[str] = ()):
    """An onnxruntime session with graph optimizations off (fusions such as Conv+Mul would change
    roundings); ``extra_outputs`` exposes internal values (for recording)."""
    import onnxruntime as ort

    if extra_outputs:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        have = {o.name for o in model.graph.output}
        for name in extra_outputs:
            if name not in have:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run(out_dir, inputs, record: bool = False):
    """Outputs ``[T, N, *out_shape]`` (float32); with ``record=True`` also ``{value: [T, N, ...]}``
    for every IR node's value and every neuron's ``<name>.h``."""
    model, info = read_model(out_dir)
    x = np.asarray(torch.as_tensor(inputs).to(torch.float32).numpy())
    declared = next(i for i in model.graph.input if i.name == info["input"])
    shape = tuple(d.dim_value for d in declared.type.tensor_type.shape.dim[1:])
    check_inputs(x, shape)
    recorded = [v for v in info["values"] if v not in info["outputs"]] if record else []
    sess = session(model, recorded)
    names = info["outputs"] + [s["output"] for s in info["states"]] + recorded
    n = x.shape[1]
    state = {s["input"]: np.zeros((n, *s["shape"]), dtype=s["dtype"]) for s in info["states"]}
    window = info["window"]
    steps, trace = [], {v: [] for v in info["outputs"] + recorded}
    for t in range(x.shape[0]):
        feed = {info["input"]: x[t], info["reset"]: np.array(t == 0 or (window > 0 and t % window == 0)), **state}
        result = dict(zip(names, sess.run(names, feed)))
        steps.append([result[o] for o in info["outputs"]])
        state = {s["input"]: result[s["output"]] for s in info["states"]}
        for v in trace:
            trace[v].append(result[v])
    outs = [torch.from_numpy(np.stack([s[i] for s in steps])) for i in range(len(info["outputs"]))]
    out = outs[0] if len(outs) == 1 else tuple(outs)
    if record:
        return out, {v: torch.from_numpy(np.stack(vals)) for v, vals in trace.items()}
    return out


def run_sequence(out_dir, inputs):
    """Run ``model_sequence.onnx`` (the Scan over time) once on the whole ``[T, N, ...]`` input."""
    path = Path(out_dir) / "model_sequence.onnx"
    if not path.is_file():
        raise SnncError(f"model_sequence.onnx: not found in {out_dir}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        raise SnncError(f"model_sequence.onnx: not a valid ONNX model ({type(e).__name__})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("snnc.format") != "snnc-onnx-sequence" or meta.get("snnc.version") not in SUPPORTED_VERSIONS:
        raise SnncError(f"model_sequence.onnx: format/version {meta.get('snnc.format')!r}/{meta.get('snnc.version')!r} "
                        "is not supported")
    x = np.asarray(torch.as_tensor(inputs).to(torch.float32).numpy())
    (declared,) = [i for i in model.graph.input if i.name == meta["snnc.input"]]
    check_inputs(x, tuple(d.dim_value for d in declared.type.tensor_type.shape.dim[2:]))
    window = int(meta["snnc.window"])
    steps = np.arange(x.shape[0])
    reset = (steps == 0) | ((steps % window == 0) if window > 0 else False)
    outputs = json.loads(meta["snnc.outputs"])
    result = session(model).run(outputs, {meta["snnc.input"]: x, meta["snnc.reset"]: reset})
    outs = [torch.from_numpy(r) for r in result]
    return outs[0] if len(outs) == 1 else tuple(outs)


def simulate(out_dir, inputs, record: bool = False):
    """The Target's ``simulate``. ``record=True`` also returns the per-step values of the stateful
    nodes (neuron spikes, readout decisions), the values claimed equal to the float32 interpreter;
    Gemm/Conv outputs are left out since they agree only within rounding (``run(record=True)`` has
    every value)."""
    if not record:
        return run(out_dir, inputs)
    out, values = run(out_dir, inputs, record=True)
    _, info = read_model(out_dir)
    stateful = {s["name"].rsplit(".", 1)[0] for s in info["states"]}
    return out, {k: v for k, v in values.items() if k in stateful}


def describe(out_dir) -> str:
    model, info = read_model(out_dir)
    ops: dict[str, int] = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    return (f"ONNX step model (opset {model.opset_import[0].version}): {len(model.graph.node)} nodes, "
            f"{params} initializer elements, {len(info['states'])} state tensors, window {info['window']}\n"
            f"  ops: {', '.join(f'{k}×{v}' for k, v in sorted(ops.items()))}")
