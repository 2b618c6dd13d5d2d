"""The deployment report: does the model fit the target, what it costs, where quantization loses,
how far it drifts — from the IR, the artifact and the reference run on the user's inputs.

    rep = snnc.report(model, "loihi", inputs=x)       # or samples=N random sequences
    rep.fits, rep.fit.problems, rep.cost.effective_acs_per_sample, rep.quantization.rounded_to_zero
    print(rep.summary()); rep.to_json("report.json"); rep.write_html("report.html")

Sections (each computed once, by its module):

- **fit** (``Target.fit``, ``snnc.targets.fit``): resources per layer against the target's limits;
  a model that does not fit names the layer and the limit.
- **cost** (:mod:`.cost`): synaptic operations, activation sparsity, firing rates, dead and saturated
  neurons and the parameter footprint, with NeuroBench's definitions, over every sample and step.
- **quantization** (:mod:`.quantization`): parameter ranges against their formats, values rounded to
  zero, saturated values seen in simulation, the range analysis' verdict.
- **drift**: the verification's own measurement (decision agreement with the float model and
  spike-rate error per layer), not recomputed.

The report is made by ``snnc.verify(..., deployment=True)``, so the artifact it describes is the one
that was verified bit for bit (``verified``). A model the target refuses (a resource limit, an
unsupported op) still gets the sections that need no artifact, with the refusal in ``refusal``.
JSON: :data:`SCHEMA` version :data:`VERSION`, documented in ``docs/report-schema.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..ir import Graph, interpret
from ..ir.interpreter import Trace
from ..ir.errors import UnsupportedError
from ..ir.ops import emits_spikes
from .cost import Cost, measure_cost
from .quantization import Quantization, measure_quantization

SCHEMA = "snnc-deployment-report"
VERSION = 1


@dataclass
class DeploymentReport:
    target: str
    numerics: str
    inputs_shape: list
    fit: object = None                   # snnc.targets.fit.Fit (None: the target declares no fit)
    cost: Cost | None = None
    quantization: Quantization | None = None
    drift: object = None                 # snnc.verification.Drift
    verified: bool | None = None         # the artifact verified bit-exactly (None: not built)
    refusal: str | None = None           # why the target refused the model
    notes: list = field(default_factory=list)
    # kept for the HTML page; not serialized
    _verification: object = field(default=None, repr=False)
    _rates: dict = field(default_factory=dict, repr=False)   # neuron layer -> per-neuron firing rates

    @property
    def fits(self) -> bool:
        return self.refusal is None and (self.fit is None or self.fit.fits)

    def summary(self) -> str:
        from .render import table
        return table(self)

    __str__ = summary

    def to_dict(self) -> dict:
        from ..verification.report import jsonable
        d = {"schema": SCHEMA, "version": VERSION, "target": self.target, "numerics": self.numerics,
             "inputs_shape": list(self.inputs_shape), "fits": self.fits, "verified": self.verified,
             "refusal": self.refusal, "notes": list(self.notes),
             "fit": self.fit.to_dict() if self.fit is not None else None,
             "cost": self.cost.to_dict() if self.cost is not None else None,
             "quantization": self.quantization.to_dict() if self.quantization is not None else None,
             "drift": None}
        if self.drift is not None:
            d["drift"] = {"decision_agreement": self.drift.decision_agreement, "decisions": self.drift.decisions,
                          "spike_rate_error": self.drift.spike_rate_error, "worst": self.drift.worst}
        return jsonable(d)

    def to_json(self, path=None, overwrite: bool = False) -> str:
        import json

        from ..ir.atomic import write_file
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            write_file(path, text + "\n", overwrite)
        return text

    def write_html(self, path, overwrite: bool = False) -> None:
        """One self-contained page: the tables, and the figures (rasters, divergence map, firing-rate
        histograms per layer) embedded as PNG."""
        from ..ir.atomic import write_file
        from .render import html
        write_file(path, html(self), overwrite)


def build_report(target, float_graph: Graph, prepared: Graph, trace: Trace, inputs: torch.Tensor,
                 art_dir: Path | None, verification=None, refusal: str | None = None) -> DeploymentReport:
    """The sections from what a verification run holds: the prepared graph, the reference ``trace``
    under the target's numerics on ``inputs`` (values and state ranges), the artifact directory (None
    when not built) and the verification report (its drift and figures)."""
    rep = DeploymentReport(target.name, target.numerics, list(inputs.shape), refusal=refusal,
                           _verification=verification)
    if target.fit is not None:
        rep.fit = target.fit(prepared, art_dir)
    rep.cost = measure_cost(prepared, trace.values, inputs, target.numerics)
    rep.quantization = measure_quantization(float_graph, prepared, trace, target.numerics)
    rep.drift = getattr(verification, "drift", None)
    for node in prepared.nodes:
        if emits_spikes(node) and node.name in trace.values:
            spikes = torch.as_tensor(trace.values[node.name]) != 0
            rep._rates[node.name] = spikes.to(torch.float64).mean(dim=(0, 1)).reshape(-1).numpy()
    return rep


def report(model_or_graph, target, inputs=None, samples=None, seed: int = 0, timesteps=None,
           example_input=None, input_kind=None, **options) -> DeploymentReport:
    """The :class:`DeploymentReport` of ``model_or_graph`` on ``target`` (arguments as
    :func:`snnc.verify`): verified, fitted, counted on ``inputs`` (or ``samples`` random sequences).
    A model the target refuses is reported with its refusal and the sections that need no artifact."""
    from ..verification import prepare_with_inputs, verify
    from ..verification.drift import measure_drift

    try:
        return verify(model_or_graph, target, inputs=inputs, samples=samples, seed=seed, timesteps=timesteps,
                      example_input=example_input, input_kind=input_kind, deployment=True, **options).deployment
    except UnsupportedError as refused:
        target, float_graph, prepared, options, x = prepare_with_inputs(
            model_or_graph, target, inputs, example_input, samples, timesteps or options.get("timesteps"), seed,
            input_kind, check=False, **options)
        _, reference = interpret(prepared, x, numerics=target.numerics, record=True)
        _, floats = interpret(float_graph, x, numerics="float32", record=True)
        rep = build_report(target, float_graph, prepared, reference, x, None, refusal=str(refused))
        rep.drift = measure_drift(float_graph, prepared, floats.values, reference.values)
        rep.notes.append("no artifact was written: the target refuses the model; fit, cost and quantization are "
                         "those of its prepared graph under the target's numerics")
        return rep


__all__ = ["DeploymentReport", "report", "build_report", "SCHEMA", "VERSION", "Cost", "Quantization"]
