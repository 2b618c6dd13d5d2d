"""Deployment verification: the target's simulator, run on the artifact files, against the reference
interpreter under the target's numerics — equal element for element, every output and step.

    report = snnc.verify(model, "loihi", x)                  # compiles to a temporary artifact
    report = snnc.verify(model, "loihi", artifact="out/")    # checks the artifact about to ship
    report.ok, report.first_divergence, report.layers, report.drift
    report.to_json("report.json"); report.write_junit("junit.xml"); report.plot("plots/")

What is compared: every graph output, and every per-layer value the artifact exposes. A target
exposes layers when it declares ``records_layers``: its ``simulate`` takes ``record=True`` and returns ``(outputs, {node: [T, N,
*shape]})`` keyed by IR node names; the first divergence is the earliest step, and within it the
earliest node in topological order, where any element differs (then the first batch index and neuron
index in C order). When a checked artifact (``artifact=``) differs, the driver also lowers the model
afresh and compares the files: the nodes whose parameters sit in the changed bytes are named as
``suspects`` (found by re-lowering with one node's parameters perturbed at a time), so a tampered
weight or threshold is traced to its node even on targets that expose no layer state.

Drift (a measurement, a failure only with ``max_drift``): the float32 interpreter on the unquantized
graph against the quantized reference: decision agreement (the readout's decision, or the argmax of
output spike counts, at each window end) and, per neuron layer, the mean absolute spike-rate error.

The package, by job: ``report`` (the result types and their rendering), ``sampling`` (random inputs),
``comparison`` (reference against target, first divergence), ``drift``, ``tamper`` (changed artifact
bytes traced to nodes); this module is the driver, :func:`verify`.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch

from ..compiler import (CALIBRATION, IR_DIR, Artifact, as_inputs, prepare, resolve_target, simulate_recorded,
                        tensor_hash, write_artifact)
from ..ir import Graph, interpret
from ..ir.interpreter import Trace, widen_ranges
from ..ir.numerics import get_profile
from ..ir.errors import SnncError
from ..ir.npy import read_npy
from ..ir.progress import bar as progress_bar
from .comparison import as_list, compare, first_divergence
from .drift import measure_drift
from .report import Divergence, Drift, LayerResult, Report, plot_files
from .sampling import choose_inputs, sample_inputs
from .tamper import locate_changes


def verify(model_or_graph, target, inputs=None, artifact=None, samples=None, seed=0, max_drift=None,
           progress=False, example_input=None, timesteps=None, input_kind=None, chunk=None,
           allow_changed=False, deployment=False, **options) -> Report:
    """Check a target bit-exactly against the reference interpreter under its numerics.

    ``model_or_graph``: as :func:`snnc.compile`. ``target``: a name or a ``Target``.
    ``inputs``: ``[T, N, *input_shape]`` (tensor, array or ``.npy`` path); without them ``samples``
    (default 4) random sequences of ``timesteps`` steps (default: the artifact's, else twice the
    window, else 16) are drawn with ``seed``: spikes for integer targets, values in [0, 1) for float
    ones (``input_kind`` overrides). ``artifact``: an existing artifact directory to check (the one
    about to ship) instead of compiling a fresh one; the model is re-derived with the options recorded
    in its ``snnc.json`` (and the calibration input kept in its ``ir/``). Before anything of it runs, its
    files are compared with the hashes in ``snnc.json`` and with a fresh lowering of the model; an
    artifact that differs fails without being run, unless ``allow_changed`` (then it is run to find the
    first divergence, and still fails). ``max_drift``: fail when the
    drift (``1 - decision agreement``, or any layer's spike-rate error) exceeds it. ``progress``: a
    progress bar on stderr. ``deployment``: also the deployment report (fit, cost,
    quantization, drift: ``snnc.deployment``) as ``report.deployment``. Other ``options`` go to the target as in :func:`snnc.compile`.

    Returns a :class:`Report`; ``report.ok`` is False (CLI exit 1) on any mismatch, a different IR hash
    in the artifact, or too much drift. Bad input raises :class:`SnncError` (CLI exit 2).
    """
    target = resolve_target(target)
    art = None
    if artifact is not None:
        art = artifact if isinstance(artifact, Artifact) else Artifact.open(artifact)
        if art.target != target.name:
            raise SnncError(f"{art.path}: artifact was compiled for target '{art.target}', not '{target.name}'")
        for key, value in (art.manifest.get("options") or {}).items():
            options.setdefault(key, value)
        calib = art.path / IR_DIR / CALIBRATION
        if example_input is None and options.get("calibration") is None and calib.is_file():
            example_input = torch.as_tensor(read_npy(calib))
        if timesteps is None:
            timesteps = art.manifest.get("timesteps")
    if timesteps is None:
        timesteps = options.get("timesteps")
    target, float_graph, prepared, options, x = prepare_with_inputs(
        model_or_graph, target, inputs, example_input, samples, timesteps, seed, input_kind, **options)

    profile = get_profile(target.numerics)
    report = Report(target.name, target.numerics, str(art.path) if art else None, list(x.shape),
                    max_drift=max_drift, ir_hash=prepared.content_hash(),
                    equality=f"every element bit for bit against the reference interpreter under numerics "
                             f"'{profile.name}'" + (f" ({profile.description.splitlines()[0]})"
                                                    if profile.description else ""))
    with tempfile.TemporaryDirectory(prefix="snnc-verify-") as tmp:
        if art is None:
            art_dir = Path(tmp) / "artifact"
            write_artifact(target, prepared, art_dir, options, float_graph)
        else:
            art_dir = art.path
            report.artifact_ir_hash = art.manifest.get("ir_hash") or "missing"
            calibration = options.get("calibration")
            if art.manifest.get("calibration") and calibration is not None and \
                    tensor_hash(calibration) != art.manifest["calibration"]:
                report.notes.append("the calibration input differs from the one the artifact was compiled with")
            _check_files(report, art, target, prepared, options)
        if report.artifact_matches or allow_changed:
            reference = _run(report, target, float_graph, prepared, art_dir, x, progress, chunk)
            if deployment:
                from ..deployment import build_report
                report.deployment = build_report(target, float_graph, prepared, reference, x, art_dir, report)
        else:
            report.notes.append("the artifact was not run: its files are not the ones this model compiles to, "
                                "and nothing of an unverified artifact is built or executed (allow_changed / "
                                "--allow-changed runs it to find the first divergence)")
    if max_drift is not None and report.drift is not None:
        report.drift_ok = report.drift.worst <= max_drift
    report.ok = report.bit_exact and report.artifact_matches and report.drift_ok
    if report.deployment is not None:
        report.deployment.verified = report.ok
    return report


def prepare_with_inputs(model_or_graph, target, inputs=None, example_input=None, samples=None, timesteps=None,
                        seed: int = 0, input_kind=None, check: bool = True, **options):
    """``(target, float_graph, prepared, options, x)``: :func:`snnc.compiler.prepare` (a module given
    ``inputs`` and no ``example_input`` is traced at their shape, not calibrated) and the inputs to run
    (``inputs``, else random ones: :func:`choose_inputs`)."""
    trace_input = None
    if inputs is not None and example_input is None and not isinstance(model_or_graph, Graph):
        trace_input = as_inputs(inputs)
    target, float_graph, prepared, options = prepare(model_or_graph, target, example_input, trace_input,
                                                     check=check, **options)
    x = choose_inputs(prepared, target.numerics, inputs, samples, timesteps, seed, input_kind)
    return target, float_graph, prepared, options, x


def _check_files(report: Report, art: Artifact, target, prepared: Graph, options: dict) -> None:
    """Before anything of ``art`` runs: its files against the SHA-256 in its ``snnc.json`` and against a
    fresh lowering of the model (compared as data, bytes that differ between two lowerings of the
    same graph aside). Any difference fails the report, naming the files and the nodes they hold."""
    report.changed_files = art.changed_files()
    try:
        files, suspects = locate_changes(target, prepared, art.path, options)
    except SnncError as e:
        files, suspects = [], []
        report.notes.append(f"could not re-lower the model to compare the artifact files: {e}")
    report.differs_from_fresh = sorted(set(files) | set(report.changed_files))
    report.suspects = suspects if report.differs_from_fresh else []


def _run(report: Report, target, float_graph: Graph, prepared: Graph, art_dir: Path, x: torch.Tensor,
         progress: bool, chunk) -> Trace:
    """Reference, target and float model on ``x`` (in chunks of samples); fills ``report`` and returns
    the reference trace (every node's values, the neurons' state ranges)."""
    n = x.shape[1]
    size = chunk or (max(1, math.ceil(n / 8)) if progress else n)  # 8 chunks give the bar something to show
    starts = list(range(0, n, size)) or [0]
    bar = progress_bar(3 * len(starts), f"verify {target.name}", "run", show=bool(progress))
    parts = {"ref_out": [], "ref": [], "tgt_out": [], "tgt": [], "flt": []}
    state_ranges: dict = {}
    try:
        for s in starts:
            xc = x[:, s:s + size]
            ref_out, ref_trace = interpret(prepared, xc, numerics=target.numerics, record=True)
            bar.update(1)
            tgt_out, tgt_layers = simulate_recorded(target, art_dir, xc)
            bar.update(1)
            _, flt_trace = interpret(float_graph, xc, numerics="float32", record=True)
            bar.update(1)
            parts["ref_out"].append(as_list(ref_out))
            parts["ref"].append(ref_trace.values)
            for name, ranges in ref_trace.state_ranges.items():
                for var, (lo, hi) in ranges.items():
                    widen_ranges(state_ranges, name, var, lo, hi)
            parts["tgt_out"].append(as_list(tgt_out))
            parts["tgt"].append(tgt_layers)
            parts["flt"].append(flt_trace.values)
    finally:
        bar.close()

    def cat(seq):
        seq = [torch.as_tensor(v).detach().cpu() for v in seq]
        try:
            return torch.cat(seq, dim=1)
        except RuntimeError:
            return seq[0]  # inconsistent shapes across chunks: the shape check reports it

    ref_trace = {k: cat([p[k] for p in parts["ref"]]) for k in parts["ref"][0]}
    flt_trace = {k: cat([p[k] for p in parts["flt"]]) for k in parts["flt"][0]}
    order = {node.name: i for i, node in enumerate(prepared.nodes)}
    outputs = prepared.outputs
    n_tgt = len(parts["tgt_out"][0])
    if n_tgt != len(outputs):
        report.layers.append(LayerResult("(outputs)", "Output", "output", 0, 1,
                                         shape_error=f"target returned {n_tgt} outputs, the graph has {len(outputs)}"))
    for i, node in enumerate(outputs[:n_tgt]):
        ref = cat([p[i] for p in parts["ref_out"]])
        tgt = cat([p[i] for p in parts["tgt_out"]])
        report.layers.append(compare(node.name, node.op, "output", ref, tgt))
        report._traces[node.name] = (ref, torch.as_tensor(tgt).detach().cpu(), prepared.value_kind(node.name))
    exposed = [k for k in parts["tgt"][0] if k not in {o.name for o in outputs}]
    for name in sorted(exposed, key=lambda k: order.get(k, len(order))):
        if name not in ref_trace:
            report.notes.append(f"target exposes '{name}', which is not a node of the prepared graph")
            continue
        tgt = cat([p[name] for p in parts["tgt"]])
        report.layers.append(compare(name, prepared[name].op, "layer", ref_trace[name], tgt))
        report._traces[name] = (ref_trace[name], torch.as_tensor(tgt).detach().cpu(), prepared.value_kind(name))
    if not exposed:
        report.notes.append(f"target '{target.name}' exposes no per-layer state; outputs compared")
    report.first_divergence = first_divergence(report.layers, order)
    report.drift = measure_drift(float_graph, prepared, flt_trace, ref_trace)
    return Trace(ref_trace, state_ranges)


__all__ = ["verify", "prepare_with_inputs", "Report", "plot_files", "Divergence", "LayerResult", "Drift", "sample_inputs", "measure_drift",
           "locate_changes"]
