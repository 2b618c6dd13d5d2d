"""What running the model costs, counted on the actual inputs over every sample and step.

Counted on the reference interpreter under the target's numerics (what the artifact computes,
bit for bit), with NeuroBench's definitions (``neurobench.metrics``):

- **Synaptic operations** of each Linear/Conv2d: with its weights and its input made binary
  (non-zero → 1), ``sum(op(binary input, binary weights))`` over all steps and samples — one
  operation per non-zero input reaching a non-zero weight; the bias is not counted. They are
  accumulates (``effective_acs``) where every input value is 0 or ±1 (spikes), else
  multiply-accumulates (``effective_macs``). ``dense`` is the same with every input and weight 1
  (every connection, every step). Per sample: divided by the number of samples.
- **Activation sparsity** of each neuron layer: the fraction of its outputs that are 0 over all
  neurons, steps and samples; overall: the same over all neuron layers together.
- **Firing rate**: spikes per neuron and step (``1 - sparsity``); **dead** neurons never fire on
  any sample, **saturated** ones fire at every step of every sample.
- **Footprint**: the bytes of every parameter in the target's own format
  (``Profile.param_format``): the synapses' weights and biases, and the neurons' and readouts'
  parameters. NeuroBench's ``Footprint`` counts a PyTorch model's parameter and buffer tensors, which
  in float32 equals ``synapse_footprint_bytes``: neuron constants that the modules keep as Python
  numbers (thresholds, time constants) are not tensors there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..ir import Graph
from ..ir.numerics import get_profile
from ..ir.ops import emits_spikes

SYNAPSES = ("Linear", "Conv2d")


@dataclass
class SynapseCost:
    layer: str
    op: str
    spiking_input: bool        # every input value 0 or ±1: the operations are accumulates
    effective: int             # over all samples and steps
    dense: int


@dataclass
class NeuronActivity:
    layer: str
    neurons: int
    spikes: int                # over all samples and steps
    outputs: int               # neurons × steps × samples
    dead: int
    saturated: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.spikes / self.outputs if self.outputs else 0.0

    @property
    def firing_rate(self) -> float:
        return self.spikes / self.outputs if self.outputs else 0.0


@dataclass
class Cost:
    samples: int
    steps: int
    synapses: list = field(default_factory=list)        # SynapseCost
    neurons: list = field(default_factory=list)         # NeuronActivity
    footprint: dict = field(default_factory=dict)       # layer -> {parameter: bytes}

    @property
    def effective_acs_per_sample(self) -> float:
        return sum(s.effective for s in self.synapses if s.spiking_input) / self.samples

    @property
    def effective_macs_per_sample(self) -> float:
        return sum(s.effective for s in self.synapses if not s.spiking_input) / self.samples

    @property
    def dense_per_sample(self) -> float:
        return sum(s.dense for s in self.synapses) / self.samples

    @property
    def activation_sparsity(self) -> float:
        outputs = sum(n.outputs for n in self.neurons)
        return 1.0 - sum(n.spikes for n in self.neurons) / outputs if outputs else 0.0

    @property
    def footprint_bytes(self) -> int:
        return sum(sum(p.values()) for p in self.footprint.values())

    @property
    def synapse_footprint_bytes(self) -> int:
        """The weights' and biases' bytes alone (NeuroBench's ``Footprint`` of a PyTorch model counts
        its parameter and buffer tensors: the synapses; neuron constants a module keeps as Python
        numbers are not tensors there)."""
        return sum(sum(self.footprint[s.layer].values()) for s in self.synapses if s.layer in self.footprint)

    def to_dict(self) -> dict:
        return {"samples": self.samples, "steps": self.steps,
                "synaptic_operations": {"effective_acs_per_sample": self.effective_acs_per_sample,
                                        "effective_macs_per_sample": self.effective_macs_per_sample,
                                        "dense_per_sample": self.dense_per_sample,
                                        "layers": [vars(s) for s in self.synapses]},
                "activation_sparsity": self.activation_sparsity,
                "neurons": [{**vars(n), "sparsity": n.sparsity, "firing_rate": n.firing_rate} for n in self.neurons],
                "footprint_bytes": self.footprint_bytes, "synapse_footprint_bytes": self.synapse_footprint_bytes,
                "footprint": self.footprint}


def _binary(x: torch.Tensor) -> torch.Tensor:
    return (x != 0).to(torch.float64)


def _connections(node, x: torch.Tensor, weight: torch.Tensor) -> int:
    """``sum(op(x, weight))`` without bias: the connections from ``x``'s non-zeros to ``weight``'s."""
    if node.op == "Linear":
        y = F.linear(x, weight)
    else:
        a = node.attrs
        y = F.conv2d(x, weight, None, a["stride"], a["padding"], a["dilation"], a["groups"])
    return int(y.sum().item())


def synapse_cost(graph: Graph, node, inputs: torch.Tensor) -> SynapseCost:
    """One Linear/Conv2d's operations on its input values ``[T, N, *shape]``."""
    x = inputs.reshape(-1, *inputs.shape[2:]).to(torch.float64)
    w = torch.as_tensor(node.params["weight"]).to(torch.float64)
    spiking = bool(((x == 0) | (x == 1) | (x == -1)).all())
    effective = _connections(node, _binary(x), _binary(w))
    dense = _connections(node, torch.ones_like(x), torch.ones_like(w))
    return SynapseCost(node.name, node.op, spiking, effective, dense)


def neuron_activity(name: str, spikes: torch.Tensor) -> NeuronActivity:
    """Activity of one neuron layer from its spikes ``[T, N, *shape]``."""
    fired = spikes != 0
    per_neuron = fired.reshape(-1, *spikes.shape[2:]).sum(dim=0)
    total = spikes.shape[0] * spikes.shape[1]
    return NeuronActivity(name, math.prod(spikes.shape[2:]), int(fired.sum()), fired.numel(),
                          int((per_neuron == 0).sum()), int((per_neuron == total).sum()))


def footprint(graph: Graph, numerics: str) -> dict:
    """Per node with parameters: each parameter's bytes in the target's format (bits rounded up)."""
    profile = get_profile(numerics)
    out = {}
    for node in graph.nodes:
        if node.params:
            out[node.name] = {key: math.ceil(value.size * profile.param_format(node, key).bits / 8)
                              for key, value in node.params.items()}
    return out


def measure_cost(graph: Graph, trace: dict, inputs: torch.Tensor, numerics: str) -> Cost:
    """The :class:`Cost` of ``graph`` (prepared for ``numerics``) from the reference ``trace``
    (``{node: [T, N, *shape]}``) on ``inputs``."""
    values = dict(trace)
    values.setdefault(graph.nodes[0].name, inputs)
    cost = Cost(samples=int(inputs.shape[1]), steps=int(inputs.shape[0]), footprint=footprint(graph, numerics))
    for node in graph.nodes:
        if node.op in SYNAPSES:
            cost.synapses.append(synapse_cost(graph, node, values[node.inputs[0]]))
        elif emits_spikes(node):  # (a neuron that outputs its membrane has no spike activity)
            cost.neurons.append(neuron_activity(node.name, values[node.name]))
    return cost


__all__ = ["Cost", "SynapseCost", "NeuronActivity", "measure_cost", "synapse_cost", "neuron_activity", "footprint"]
