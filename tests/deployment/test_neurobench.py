"""snnc's cost counts against NeuroBench's own metric classes, on the digits model and the same inputs.

NeuroBench (``neurobench`` 2.3) hooks the model's ``nn.Linear`` layers and its activation modules
(here ``snnc.nn.BaseNode``) and counts synaptic operations, activation sparsity (overall and per
layer) and the footprint of the model's tensors. snnc counts the same from the reference run under
the target's numerics; on a float32 target that run equals the PyTorch model, so every count must be
equal. The one definition that differs: NeuroBench's ``Footprint`` counts the PyTorch tensors
(the synapses' weights), snnc's footprint also the neuron constants the modules keep as Python
numbers (thresholds, time constants); the synapse part is compared.
"""

import pytest
import torch
from torch import nn

import snnc
import snnc.nn as snn

from neurobench.benchmarks import Benchmark  # a test dependency (scripts/install.sh)
from neurobench.metrics.static import Footprint
from neurobench.metrics.workload import ActivationSparsity, ActivationSparsityByLayer, SynapticOperations
from neurobench.models import TorchModel

from support.models import digits_example


def digits_model():
    """The digits example's model after two epochs of training, and 64 of its test spike trains."""
    digits = digits_example()
    data = digits.load_data(T=8)
    net = digits.build_model()
    digits.train(net, data, epochs=2, log=lambda *args: None)
    return net.eval(), data.test_x[:, :64]


class BatchMajor(nn.Module):
    """NeuroBench feeds ``[N, T, ...]``; snnc.nn models in step mode 'm' take ``[T, N, ...]``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        snn.reset_net(self.net)
        return self.net(x.transpose(0, 1))


def _neurobench(net, x, batch_size):
    model = TorchModel(BatchMajor(net))
    model.add_activation_module(snn.BaseNode)
    data = torch.utils.data.TensorDataset(x.transpose(0, 1), torch.zeros(x.shape[1]))
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size)
    bench = Benchmark(model, loader, [], [], [[Footprint], [SynapticOperations, ActivationSparsity,
                                                             ActivationSparsityByLayer]])
    return bench.run(quiet=True)


@pytest.mark.parametrize("target", ["gpu", "onnx"])
def test_synops_sparsity_and_footprint_equal_neurobench_s(target):
    net, x = digits_model()
    nb = _neurobench(net, x, batch_size=x.shape[1])
    cost = snnc.report(net, target, inputs=x).cost
    assert nb["SynapticOperations"]["Effective_ACs"] == cost.effective_acs_per_sample > 0
    assert nb["SynapticOperations"]["Effective_MACs"] == cost.effective_macs_per_sample
    assert nb["SynapticOperations"]["Dense"] == cost.dense_per_sample
    assert nb["ActivationSparsity"] == cost.activation_sparsity
    assert list(nb["ActivationSparsityByLayer"].values()) == [n.sparsity for n in cost.neurons]
    assert nb["Footprint"] == cost.synapse_footprint_bytes < cost.footprint_bytes


def test_neurobench_over_several_batches_averages_to_snnc_s_whole_set_counts():
    net, x = digits_model()
    nb = _neurobench(net, x, batch_size=x.shape[1] // 4)
    cost = snnc.report(net, "gpu", inputs=x).cost
    assert nb["SynapticOperations"]["Effective_ACs"] == pytest.approx(cost.effective_acs_per_sample, rel=1e-12)
    assert nb["ActivationSparsity"] == pytest.approx(cost.activation_sparsity, rel=1e-12)
