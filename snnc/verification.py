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
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import numpy as np
import torch

from .compiler import (CALIBRATION, IR_DIR, Artifact, artifact_files, as_inputs, prepare, resolve_target,
                       simulate_recorded, tensor_hash, write_artifact)
from .ir import Graph, interpret
from .ir.budget import check_elements
from .ir.atomic import atomic_output, files_below, write_file
from .ir.errors import SnncError
from .ir.interpreter import window_of
from .ir.npy import read_npy
from .ir.numerics import get_profile
from .ir.progress import bar as progress_bar


@dataclass
class Divergence:
    """The first element where target and reference differ."""

    node: str
    step: int
    batch: int
    index: tuple  # neuron index within the per-step shape
    reference: float
    target: float

    def __str__(self) -> str:
        idx = ",".join(map(str, self.index))
        return (f"node '{self.node}', step {self.step}, batch {self.batch}, neuron [{idx}]: "
                f"reference {_fmt(self.reference)}, target {_fmt(self.target)}")


@dataclass
class LayerResult:
    """Comparison of one node's values over all steps: ``mismatches`` of ``elements``."""

    node: str
    op: str
    kind: str  # "output" or "layer"
    elements: int
    mismatches: int
    first: Divergence | None = None
    shape_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.shape_error is None


@dataclass
class Drift:
    """Quantized reference vs float32 model on the same inputs."""

    decision_agreement: float | None  # fraction of equal decisions (None: no decisions)
    decisions: int
    spike_rate_error: dict  # neuron node -> mean |rate_float - rate_quant|
    spike_rate_float: dict
    spike_rate_quant: dict

    @property
    def worst(self) -> float:
        """The largest of ``1 - decision_agreement`` and every layer's spike-rate error."""
        values = list(self.spike_rate_error.values())
        if self.decision_agreement is not None:
            values.append(1.0 - self.decision_agreement)
        return max(values) if values else 0.0


@dataclass
class Report:
    target: str
    numerics: str
    artifact: str | None
    inputs_shape: list
    ok: bool = True
    first_divergence: Divergence | None = None
    layers: list = field(default_factory=list)  # LayerResult, outputs first then exposed layers
    drift: Drift | None = None
    max_drift: float | None = None
    drift_ok: bool = True
    ir_hash: str | None = None
    artifact_ir_hash: str | None = None
    changed_files: list = field(default_factory=list)  # vs the SHA-256 recorded in snnc.json
    differs_from_fresh: list = field(default_factory=list)  # files unlike a fresh lowering of the model
    suspects: list = field(default_factory=list)  # nodes whose parameters sit in changed artifact bytes
    notes: list = field(default_factory=list)
    # kept for plots; not serialized
    _traces: dict = field(default_factory=dict, repr=False)  # node -> (reference, target, kind)

    @property
    def outputs(self) -> list:
        """The target's outputs ``[T, N, *shape]`` per graph output, as its simulator returned them."""
        return [self._traces[layer.node][1] for layer in self.layers
                if layer.kind == "output" and layer.node in self._traces]

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def bit_exact(self) -> bool:
        return all(layer.ok for layer in self.layers) and self.ir_hash_matches

    @property
    def artifact_matches(self) -> bool:
        """The checked artifact's files equal a fresh lowering of the model (always, without one)."""
        return not self.differs_from_fresh

    @property
    def ir_hash_matches(self) -> bool:
        return self.artifact_ir_hash is None or self.artifact_ir_hash == self.ir_hash

    @property
    def mismatches(self) -> dict:
        """Per compared node: number of differing elements."""
        return {layer.node: layer.mismatches for layer in self.layers}

    # text -------------------------------------------------------------------------------------
    def summary(self) -> str:
        lines = [f"snnc verify: target {self.target} (numerics {self.numerics}), inputs {self.inputs_shape}"
                 + (f", artifact {self.artifact}" if self.artifact else "")]
        if not self.ir_hash_matches:
            lines.append(f"  FAIL artifact was compiled from a different graph: ir_hash {self.artifact_ir_hash[:12]} "
                         f"in snnc.json, {self.ir_hash[:12]} re-derived from the model")
        for layer in self.layers:
            status = "ok" if layer.ok else "FAIL"
            detail = layer.shape_error or f"{layer.mismatches}/{layer.elements} elements differ"
            lines.append(f"  {status:<4} {layer.kind:<6} {layer.node:<20} {layer.op:<8} {detail}")
        if self.first_divergence is not None:
            lines.append(f"  first divergence: {self.first_divergence}")
        if self.changed_files:
            lines.append(f"  artifact files changed since compile (snnc.json hashes): {', '.join(self.changed_files)}")
        if self.differs_from_fresh:
            where = f"; the differing bytes belong to node(s) {', '.join(self.suspects)}" if self.suspects else ""
            lines.append(f"  FAIL artifact differs from a fresh lowering of the model in "
                         f"{', '.join(self.differs_from_fresh)}{where}")
        if self.drift is not None:
            d = self.drift
            agree = "n/a" if d.decision_agreement is None else f"{100 * d.decision_agreement:.2f}% of {d.decisions}"
            lines.append(f"  drift from float32: decision agreement {agree}")
            for node, err in d.spike_rate_error.items():
                lines.append(f"    spike rate {node:<20} float {d.spike_rate_float[node]:.4f} "
                             f"quantized {d.spike_rate_quant[node]:.4f} error {err:.4f}")
            if self.max_drift is not None:
                lines.append(f"  {'ok' if self.drift_ok else 'FAIL'} drift {d.worst:.4f} (max {self.max_drift})")
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.append("  result: " + ("OK, bit-exact" if self.ok else "MISMATCH"))
        return "\n".join(lines)

    __str__ = summary

    def to_dict(self) -> dict:
        d = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if not f.name.startswith("_")}
        d["bit_exact"] = self.bit_exact
        d["artifact_matches"] = self.artifact_matches
        d["ir_hash_matches"] = self.ir_hash_matches
        d["mismatches"] = self.mismatches
        if self.drift is not None:
            d["drift"]["worst"] = self.drift.worst
        return _clean(d)

    def to_json(self, path=None, overwrite: bool = False) -> str:
        """The full report as JSON (written to ``path`` too when given; an existing file there is
        replaced only with ``overwrite``)."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            write_file(path, text + "\n", overwrite)
        return text

    def write_junit(self, path, overwrite: bool = False) -> None:
        """A JUnit XML file: one test case per compared node, one for the IR hash, one for drift."""
        from xml.etree import ElementTree as ET

        suite = ET.Element("testsuite", name=f"snnc.verify.{self.target}")
        cases = []
        if self.artifact_ir_hash is not None:
            cases.append(("ir_hash", None if self.ir_hash_matches else
                          f"artifact ir_hash {self.artifact_ir_hash} != re-derived {self.ir_hash}"))
            cases.append(("artifact_files", None if self.artifact_matches else
                          f"differs from a fresh lowering in {', '.join(self.differs_from_fresh)}; "
                          f"node(s): {', '.join(self.suspects) or 'unknown'}"))
        for layer in self.layers:
            msg = None
            if not layer.ok:
                msg = layer.shape_error or f"{layer.mismatches}/{layer.elements} elements differ; first: {layer.first}"
            cases.append((f"bit_exact[{layer.node}]", msg))
        if self.drift is not None:
            msg = None
            if not self.drift_ok:
                msg = f"drift {self.drift.worst:.4f} exceeds {self.max_drift}"
            cases.append(("drift", msg))
        failures = 0
        for name, msg in cases:
            case = ET.SubElement(suite, "testcase", classname=f"snnc.verify.{self.target}", name=name)
            if msg is not None:
                failures += 1
                ET.SubElement(case, "failure", message=msg).text = self.summary()
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        ET.SubElement(suite, "system-out").text = self.summary()
        write_file(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True), overwrite)

    def plot(self, directory, overwrite: bool = False) -> list[Path]:
        """The :meth:`figures` as PNGs, written atomically as the directory ``directory`` (an
        existing one of plots is replaced only with ``overwrite``). Returns the PNG paths."""
        import matplotlib.pyplot as plt

        directory = Path(directory)
        with atomic_output(directory, overwrite=overwrite, owned=plot_files) as tmp:
            figures = self.figures()
            for name, fig in figures.items():
                fig.savefig(tmp / name, dpi=80)
                plt.close(fig)
        return [directory / name for name in figures]

    def figures(self) -> dict:
        """Matplotlib figures by file name: per compared node, reference vs target (sample 0) as a
        spike raster (spikes), a heat map (values) or the decision per step (decisions), and a
        divergence map (differing elements per node and step). Where nothing differs, a figure
        says so in words."""
        import matplotlib
        matplotlib.use("Agg")

        figures = {}
        for node, (ref, tgt, kind) in self._traces.items():
            if ref.shape == tgt.shape:
                draw = _decision_figure if kind == "decisions" else _raster_figure
                figures[f"raster_{_safe(node)}.png"] = draw(node, self.target, ref, tgt, kind)
        if self._traces:
            figures["divergence_map.png"] = self._divergence_figure()
        return figures

    def _divergence_figure(self):
        import matplotlib.pyplot as plt

        names = list(self._traces)
        steps = max(ref.shape[0] for ref, _, _ in self._traces.values())
        grid = np.zeros((len(names), steps))
        for i, node in enumerate(names):
            ref, tgt, _ = self._traces[node]
            if ref.shape == tgt.shape:
                grid[i, :ref.shape[0]] = (ref != tgt).reshape(ref.shape[0], -1).sum(dim=1).numpy()
        fig, ax = plt.subplots(figsize=(10, 1 + 0.4 * len(names)))
        ax.set_title(f"differing elements per node and step ({self.target})")
        ax.set_xlabel("step")
        if grid.any():
            im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="Reds", vmin=0)
            ax.set_yticks(range(len(names)), names)
            fig.colorbar(im, ax=ax, label="differing elements")
        else:
            ax.set_xlim(0, steps)
            ax.set_yticks([])
            ax.text(0.5, 0.5, f"no divergence: {len(names)} node(s) equal at every one of {steps} steps",
                    transform=ax.transAxes, ha="center", va="center")
        fig.tight_layout()
        return fig


def _raster_figure(node: str, target: str, ref: torch.Tensor, tgt: torch.Tensor, kind: str | None):
    """Reference | target | where they differ, one row per neuron (sample 0), one column per step."""
    import matplotlib.pyplot as plt

    r = ref[:, 0].reshape(ref.shape[0], -1).double().numpy()
    t = tgt[:, 0].reshape(tgt.shape[0], -1).double().numpy()
    differs = r != t
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharey=True)
    cmap = "Greys" if kind == "spikes" else "viridis"
    low, high = float(min(r.min(), t.min())), float(max(r.max(), t.max()))
    for ax, data, title in ((axes[0], r, "reference"), (axes[1], t, f"target {target}")):
        ax.imshow(data.T, aspect="auto", interpolation="nearest", cmap=cmap, vmin=low, vmax=high)
        ax.set_title(f"{node}: {title}")
    axes[2].set_title(f"{node}: differs")
    if differs.any():
        axes[2].imshow(differs.T, aspect="auto", interpolation="nearest", cmap="Reds", vmin=0, vmax=1)
    else:
        axes[2].text(0.5, 0.5, "no difference", transform=axes[2].transAxes, ha="center", va="center")
    for ax in axes:
        ax.set_xlabel("step")
    axes[0].set_ylabel("neuron (sample 0)" if kind == "spikes" else "element (sample 0)")
    fig.tight_layout()
    return fig


def _decision_figure(node: str, target: str, ref: torch.Tensor, tgt: torch.Tensor, kind: str | None):
    """The decision (class index) at every step, reference and target, per sample (up to four),
    with the steps where they differ marked."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    samples = min(ref.shape[1], 4)
    fig, axes = plt.subplots(samples, 1, figsize=(10, 1.2 + 1.3 * samples), sharex=True, squeeze=False)
    steps = np.arange(ref.shape[0])
    for s, ax in enumerate(axes[:, 0]):
        r = ref[:, s].reshape(ref.shape[0]).double().numpy()
        t = tgt[:, s].reshape(tgt.shape[0]).double().numpy()
        ax.step(steps, r, where="mid", color="black", label="reference")
        ax.step(steps, t, where="mid", color="tab:blue", linestyle="--", label=f"target {target}")
        bad = r != t
        if bad.any():
            ax.plot(steps[bad], t[bad], "x", color="red", label="differs")
        ax.set_ylabel(f"class (sample {s})")
        ax.set_ylim(min(r.min(), t.min(), 0) - 0.5, max(r.max(), t.max(), 1) + 0.5)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_title(f"{node}: decision per step" + ("" if (ref != tgt).any() else " (no difference)"))
    axes[0, 0].legend(loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    return fig


def plot_files(directory: Path) -> set[str]:
    """The files of a plots directory that :meth:`Report.plot` writes."""
    return {f for f in files_below(directory) if re.fullmatch(r"(raster_[\w.-]+|divergence_map)\.png", f)}


def _plain(value):
    """Dataclasses (and lists of them) as dicts, without copying the report's traces."""
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _fmt(v) -> str:
    return repr(int(v)) if float(v).is_integer() else repr(float(v))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _clean(value):
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


# --------------------------------------------------------------------------------------------------
# inputs


def sample_inputs(input_shape, samples: int = 4, timesteps: int = 16, seed: int = 0,
                  kind: str = "spikes", rate: float = 0.3) -> torch.Tensor:
    """Random inputs ``[timesteps, samples, *input_shape]``: Bernoulli spikes (0/1, probability
    ``rate``) or values uniform in ``[0, 1)`` (``kind="values"``), reproducible from ``seed``."""
    if samples <= 0 or timesteps <= 0:
        raise SnncError(f"need samples > 0 and timesteps > 0, got samples={samples}, timesteps={timesteps}")
    gen = torch.Generator().manual_seed(int(seed))
    shape = (int(timesteps), int(samples)) + tuple(input_shape)
    check_elements(shape, 4, f"--samples {samples} x --timesteps {timesteps} random inputs")
    u = torch.rand(shape, generator=gen)
    if kind == "spikes":
        return (u < rate).to(torch.float32)
    if kind == "values":
        return u
    raise SnncError(f"input kind must be 'spikes' or 'values', got {kind!r}")


def _is_float_profile(name: str) -> bool:
    try:
        return get_profile(name).dtype.is_floating_point and name in ("float32", "float64", "float16", "bfloat16")
    except SnncError:
        return False


# --------------------------------------------------------------------------------------------------
# comparison


def _as_list(out) -> list:
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def _compare(node: str, op: str, kind: str, ref: torch.Tensor, tgt) -> LayerResult:
    ref = torch.as_tensor(ref).detach().cpu()
    try:
        tgt = torch.as_tensor(tgt).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as e:
        return LayerResult(node, op, kind, ref.numel(), ref.numel(), shape_error=f"target value is not a tensor: {e}")
    if tuple(ref.shape) != tuple(tgt.shape):
        return LayerResult(node, op, kind, ref.numel(), ref.numel(),
                           shape_error=f"target shape {list(tgt.shape)} != reference {list(ref.shape)}")
    r, t = ref.to(torch.float64), tgt.to(torch.float64)
    differ = (r != t) & ~(torch.isnan(r) & torch.isnan(t))
    count = int(differ.sum())
    first = None
    if count:
        step = int(differ.reshape(differ.shape[0], -1).any(dim=1).nonzero()[0])
        flat = differ[step].reshape(-1).nonzero()[0].item()
        per_step = tuple(differ.shape[2:])
        batch, rest = divmod(flat, max(1, math.prod(per_step)))
        index = tuple(int(i) for i in np.unravel_index(rest, per_step)) if per_step else ()
        first = Divergence(node, step, int(batch), index, float(r[step].reshape(-1)[flat]),
                           float(t[step].reshape(-1)[flat]))
    return LayerResult(node, op, kind, ref.numel(), count, first)


def _first_divergence(layers: list[LayerResult], order: dict[str, int]) -> Divergence | None:
    """The earliest step's divergence, at the earliest node in topological order (the cause rather
    than its consequences downstream), then the first batch and neuron index."""
    firsts = [layer.first for layer in layers if layer.first is not None]
    if not firsts:
        return None
    return min(firsts, key=lambda d: (d.step, order.get(d.node, len(order)), d.batch, d.index))


# --------------------------------------------------------------------------------------------------
# drift


def _decision_steps(T: int, window: int) -> list[int]:
    if window and window > 0:
        ends = [t for t in range(T) if (t + 1) % window == 0]
        return ends or [T - 1]
    return [T - 1]


def _decisions(graph: Graph, out_node, values: torch.Tensor, window: int) -> torch.Tensor:
    """Decisions ``[windows, N]`` from one output's values ``[T, N, *shape]``."""
    src = graph[out_node.inputs[0]] if out_node.inputs else None
    steps = _decision_steps(values.shape[0], window)
    if src is not None and src.op == "Readout":
        v = values[steps, :, 0]
        return (v > 0).to(torch.int64) if src.attrs["rule"] == "binary_logit" else v.round().to(torch.int64)
    flat = values.reshape(values.shape[0], values.shape[1], -1).to(torch.float64)
    out, start = [], 0
    for end in steps:
        out.append(flat[start:end + 1].sum(dim=0).argmax(dim=1))
        start = end + 1
    return torch.stack(out)


def measure_drift(float_graph: Graph, prepared: Graph, float_trace: dict, quant_trace: dict) -> Drift:
    window = window_of(prepared)
    agree, total = 0, 0
    for f_out, q_out in zip(float_graph.outputs, prepared.outputs):
        if f_out.name not in float_trace or q_out.name not in quant_trace:
            continue
        df = _decisions(float_graph, f_out, float_trace[f_out.name], window_of(float_graph))
        dq = _decisions(prepared, q_out, quant_trace[q_out.name], window)
        if df.shape != dq.shape:
            continue
        agree += int((df == dq).sum())
        total += df.numel()
    err, rf, rq = {}, {}, {}
    for node in prepared.nodes:
        if node.op != "Neuron" or node.name not in float_trace or node.name not in quant_trace:
            continue
        f, q = float_trace[node.name].to(torch.float64), quant_trace[node.name].to(torch.float64)
        if f.shape != q.shape:
            continue
        rate_f = (f != 0).to(torch.float64).mean(dim=(0, 1))
        rate_q = (q != 0).to(torch.float64).mean(dim=(0, 1))
        err[node.name] = float((rate_f - rate_q).abs().mean())
        rf[node.name] = float(rate_f.mean())
        rq[node.name] = float(rate_q.mean())
    return Drift(agree / total if total else None, total, err, rf, rq)


# --------------------------------------------------------------------------------------------------
# localisation of changed artifact bytes


def _content_marks(data: bytes) -> object:
    """A comparable description of a file's content: the members of a zip archive (by name, without
    their timestamps), lines of text, or bytes."""
    if data[:4] == b"PK\x03\x04":
        import io
        import zipfile
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return {info.filename: _content_marks(zf.read(info)) for info in zf.infolist()}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            pass
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return data


def _file_marks(path: Path) -> object:
    return _content_marks(path.read_bytes())


def _changed_positions(fresh: dict, other: dict, prefix: tuple = ()) -> set:
    """Positions ``(file, [member,] where)`` at which ``other`` differs from ``fresh``: same-length
    binaries by byte, text by line, archives member by member, anything else as the whole file."""
    import difflib

    out = set()
    for name in set(fresh) | set(other):
        a, b = fresh.get(name), other.get(name)
        key = prefix + (name,)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out |= _changed_positions(a, b, key)
        elif a is None or b is None:
            out.add(key + ("*",))
        elif isinstance(a, bytes) and isinstance(b, bytes) and len(a) == len(b):
            x = np.frombuffer(a, np.uint8) != np.frombuffer(b, np.uint8)
            out.update(key + (int(i),) for i in np.flatnonzero(x))
        elif isinstance(a, list) and isinstance(b, list):
            sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
            for tag, i1, i2, _, _ in sm.get_opcodes():
                if tag != "equal":
                    out.update(key + (i,) for i in range(i1, max(i2, i1 + 1)))
        else:
            out.add(key + ("*",))
    return out


def _snapshot(directory: Path) -> dict:
    return {str(f): _file_marks(directory / f) for f in artifact_files(directory)}


def _perturbed(value: np.ndarray) -> np.ndarray:
    """An array of the same dtype and shape whose every element differs from ``value``'s."""
    value = np.asarray(value)
    if value.dtype == np.bool_:
        return ~value
    if value.dtype.kind in "iu" or (value.dtype.kind == "f" and np.all(value == np.round(value))):
        # integers (or integer-valued floats: quantized weights) move one step toward zero, 0 to 1,
        # so the result stays inside the range the target accepts
        nonzero = value != 0
        out = np.where(nonzero, value - np.sign(value).astype(value.dtype), np.ones_like(value))
        return np.asarray(out, value.dtype)
    step = np.maximum(np.abs(value), 1).astype(value.dtype) * np.asarray(0.375, value.dtype)
    return np.asarray(value + step, value.dtype)  # never equal to value (a positive step)


def _perturbed_quant(value):
    """The numeric entries of a ``quant`` annotation perturbed like parameters (targets lower the
    integer representation written there, e.g. Loihi's threshold mantissa)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value - (1 if value > 0 else -1) if value else 1
    if isinstance(value, float):
        return value + 0.375 * max(abs(value), 1.0)
    if isinstance(value, (list, tuple)):
        return type(value)(_perturbed_quant(v) for v in value)
    if isinstance(value, dict):
        return {k: _perturbed_quant(v) for k, v in value.items()}
    return value


def locate_changes(target, prepared: Graph, artifact_dir: Path, options: dict,
                   max_lowerings: int = 256) -> tuple[list, list]:
    """``(changed_files, suspects)``: the target files of ``artifact_dir`` that differ from a fresh
    lowering of ``prepared``, and the nodes whose parameters are lowered into the differing places
    (found by lowering again with one node's parameters perturbed at a time)."""
    with tempfile.TemporaryDirectory(prefix="snnc-locate-") as tmp:
        tmp = Path(tmp)
        fresh_dir = tmp / "fresh"
        fresh_dir.mkdir()
        target.lower(prepared.copy(), fresh_dir, options)
        fresh = _snapshot(fresh_dir)
        again_dir = tmp / "again"
        again_dir.mkdir()
        target.lower(prepared.copy(), again_dir, options)
        noise = _changed_positions(fresh, _snapshot(again_dir))  # non-deterministic bytes (timestamps)
        changed = _changed_positions(fresh, _snapshot(Path(artifact_dir))) - noise
        files = sorted({p[0] for p in changed})
        if not changed:
            return files, []
        touched_by: dict[str, set] = {}
        lowerings = 0
        for node in prepared.nodes:
            entries = [("params", k) for k in node.params] + \
                      [("quant", k) for k, v in node.quant.items() if _perturbed_quant(v) != v]
            for where, key in entries:
                if lowerings >= max_lowerings:
                    break
                variant = prepared.copy()
                vnode = variant[node.name]
                if where == "params":
                    vnode.params[key] = _perturbed(vnode.params[key])
                else:
                    vnode.quant[key] = _perturbed_quant(vnode.quant[key])
                vdir = tmp / f"v{lowerings}"
                vdir.mkdir()
                lowerings += 1
                try:
                    target.lower(variant, vdir, options)
                except Exception:  # noqa: BLE001 - a perturbed graph the target refuses tells nothing
                    continue
                touched = {p for p in _changed_positions(fresh, _snapshot(vdir)) - noise if p[-1] != "*"}
                touched_by.setdefault(node.name, set()).update(touched)
        # positions that several nodes' parameters reach (a checksum, a header) say nothing about
        # which node changed: attribute the change through the positions of one node only
        owners: dict = {}
        for name, positions in touched_by.items():
            for p in positions:
                owners.setdefault(p, []).append(name)
        suspects = [name for name in touched_by
                    if any(len(owners[p]) == 1 for p in touched_by[name] & changed)]
        if not suspects:
            suspects = [name for name in touched_by if touched_by[name] & changed]
        return files, suspects


# --------------------------------------------------------------------------------------------------
# the check


def verify(model_or_graph, target, inputs=None, artifact=None, samples=None, seed=0, max_drift=None,
           progress=False, example_input=None, timesteps=None, input_kind=None, chunk=None,
           allow_changed=False, **options) -> Report:
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
    progress bar on stderr. Other ``options`` go to the target as in :func:`snnc.compile`.

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
    trace_input = None
    if inputs is not None and example_input is None and not isinstance(model_or_graph, Graph):
        trace_input = as_inputs(inputs)  # a module is traced with the verification inputs (not calibrated)
    target, float_graph, prepared, options = prepare(model_or_graph, target, example_input, trace_input,
                                                     **options)
    window = window_of(prepared)

    if inputs is not None:
        x = as_inputs(inputs, prepared.input_shape)
    else:
        steps = timesteps or (2 * window if window else 16)
        kind = input_kind or ("values" if _is_float_profile(target.numerics) else "spikes")
        x = sample_inputs(prepared.input_shape, samples or 4, steps, seed, kind)

    report = Report(target.name, target.numerics, str(art.path) if art else None, list(x.shape),
                    max_drift=max_drift, ir_hash=prepared.content_hash())
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
            _run(report, target, float_graph, prepared, art_dir, x, progress, chunk)
        else:
            report.notes.append("the artifact was not run: its files are not the ones this model compiles to, "
                                "and nothing of an unverified artifact is built or executed (allow_changed / "
                                "--allow-changed runs it to find the first divergence)")
    if max_drift is not None and report.drift is not None:
        report.drift_ok = report.drift.worst <= max_drift
    report.ok = report.bit_exact and report.artifact_matches and report.drift_ok
    return report


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
         progress: bool, chunk) -> None:
    n = x.shape[1]
    size = chunk or (max(1, math.ceil(n / 8)) if progress else n)  # 8 chunks give the bar something to show
    starts = list(range(0, n, size)) or [0]
    bar = progress_bar(3 * len(starts), f"verify {target.name}", "run", show=bool(progress))
    parts = {"ref_out": [], "ref": [], "tgt_out": [], "tgt": [], "flt": []}
    try:
        for s in starts:
            xc = x[:, s:s + size]
            ref_out, ref_trace = interpret(prepared, xc, numerics=target.numerics, record=True)
            bar.update(1)
            tgt_out, tgt_layers = simulate_recorded(target, art_dir, xc)
            bar.update(1)
            _, flt_trace = interpret(float_graph, xc, numerics="float32", record=True)
            bar.update(1)
            parts["ref_out"].append(_as_list(ref_out))
            parts["ref"].append(ref_trace.values)
            parts["tgt_out"].append(_as_list(tgt_out))
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
        report.layers.append(_compare(node.name, node.op, "output", ref, tgt))
        report._traces[node.name] = (ref, torch.as_tensor(tgt).detach().cpu(), prepared.value_kind(node.name))
    exposed = [k for k in parts["tgt"][0] if k not in {o.name for o in outputs}]
    for name in sorted(exposed, key=lambda k: order.get(k, len(order))):
        if name not in ref_trace:
            report.notes.append(f"target exposes '{name}', which is not a node of the prepared graph")
            continue
        tgt = cat([p[name] for p in parts["tgt"]])
        report.layers.append(_compare(name, prepared[name].op, "layer", ref_trace[name], tgt))
        report._traces[name] = (ref_trace[name], torch.as_tensor(tgt).detach().cpu(), prepared.value_kind(name))
    if not exposed:
        report.notes.append(f"target '{target.name}' exposes no per-layer state; outputs compared")
    report.first_divergence = _first_divergence(report.layers, order)
    report.drift = measure_drift(float_graph, prepared, flt_trace, ref_trace)


__all__ = ["verify", "Report", "plot_files", "Divergence", "LayerResult", "Drift", "sample_inputs", "measure_drift",
           "locate_changes"]
