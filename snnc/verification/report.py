"""The verification report: per-layer results, first divergence, drift; rendered as text, JSON,
JUnit XML and figures."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import numpy as np
import torch

from ..ir.atomic import atomic_output, files_below, write_file


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
    equality: str = ""  # what "equal" means here: bit for bit under the target's numerics, in words
    deployment: object = None  # snnc.deployment.DeploymentReport, with verify(deployment=True)
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
        if self.equality:
            lines.append(f"  equality: {self.equality}")
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
        d = {f.name: _plain(getattr(self, f.name)) for f in fields(self)
             if not f.name.startswith("_") and f.name != "deployment"}
        if self.deployment is not None:
            d["deployment"] = self.deployment.to_dict()
        d["bit_exact"] = self.bit_exact
        d["artifact_matches"] = self.artifact_matches
        d["ir_hash_matches"] = self.ir_hash_matches
        d["mismatches"] = self.mismatches
        if self.drift is not None:
            d["drift"]["worst"] = self.drift.worst
        return jsonable(d)

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


def jsonable(value):
    """``value`` with every key a string, non-finite floats as strings and numpy scalars as Python's."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


