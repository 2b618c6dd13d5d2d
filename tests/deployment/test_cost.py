"""The deployment report's counts on small hand-computed networks: synaptic operations (NeuroBench's
definition), activity, footprint and quantization, each against numbers worked out by hand."""

import numpy as np
import pytest
import torch

import snnc
from snnc.ir import Graph

F32 = np.float32


def _linear_net(weight, threshold=0.5) -> Graph:
    weight = np.asarray(weight, F32)
    g = Graph()
    g.add_node("x", "Input", shape=(weight.shape[1],))
    g.add_node("fc", "Linear", ["x"], {"weight": np.asarray(weight, F32)})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(threshold, F32), "v_reset": np.array(0.0, F32)},
               charge="if")
    g.add_node("y", "Output", ["n"])
    return g.verify()


def test_synaptic_operations_of_a_linear_layer_with_known_spikes():
    # weight's non-zero pattern [[1, 0, 1], [1, 1, 0]]; per step and sample, the operations are
    # sum_o sum_i [x_i != 0][w_oi != 0]
    g = _linear_net([[1.0, 0.0, 2.0], [0.5, -1.0, 0.0]])
    x = torch.tensor([[[1, 0, 1], [0, 0, 0]],     # step 0: samples 0, 1 -> 3 and 0 operations
                      [[1, 1, 1], [0, 1, 0]]],    # step 1: 4 and 1
                     dtype=torch.float32)
    cost = snnc.report(g, "gpu", inputs=x).cost
    (layer,) = cost.synapses
    assert (layer.layer, layer.spiking_input, layer.effective, layer.dense) == ("fc", True, 8, 24)
    assert cost.effective_acs_per_sample == 4.0 and cost.effective_macs_per_sample == 0.0
    assert cost.dense_per_sample == 12.0  # 6 connections x 2 steps


def test_a_dense_valued_input_counts_multiply_accumulates():
    g = _linear_net([[1.0, 1.0], [1.0, 0.0]])
    x = torch.tensor([[[0.5, 0.0]], [[0.25, 0.75]]], dtype=torch.float32)  # T=2, N=1
    (layer,) = snnc.report(g, "gpu", inputs=x).cost.synapses
    assert not layer.spiking_input and layer.effective == 2 + 3 and layer.dense == 8


def test_dense_operations_of_a_padded_convolution_count_only_taps_inside_the_input():
    g = Graph()
    g.add_node("x", "Input", shape=(1, 3, 3))
    g.add_node("conv", "Conv2d", ["x"], {"weight": np.ones((1, 1, 3, 3), F32)}, padding=1)
    g.add_node("n", "Neuron", ["conv"], {"v_threshold": np.array(100.0, F32), "v_reset": np.array(0.0, F32)},
               charge="if")
    g.add_node("y", "Output", ["n"])
    x = torch.ones((1, 1, 1, 3, 3))
    (layer,) = snnc.report(g.verify(), "gpu", inputs=x).cost.synapses
    assert layer.dense == 4 * 4 + 4 * 6 + 9 == layer.effective  # corners, edges, centre


def test_activity_names_dead_and_saturated_neurons():
    # neuron 0 gets +1 every step (fires every step), neuron 1 gets -1 (never fires)
    g = _linear_net([[1.0, 0.0], [0.0, -1.0]])
    rep = snnc.report(g, "gpu", inputs=torch.ones((5, 3, 2)))
    (n,) = rep.cost.neurons
    assert (n.neurons, n.spikes, n.outputs, n.dead, n.saturated) == (2, 15, 30, 1, 1)
    assert n.sparsity == 0.5 and n.firing_rate == 0.5 and rep.cost.activation_sparsity == 0.5
    np.testing.assert_array_equal(rep._rates["n"], [1.0, 0.0])


@pytest.mark.parametrize("target, weight_bits, scalar_bits", [("gpu", 32, 32), ("lynxi", 16, 16)])
def test_footprint_in_the_target_format(target, weight_bits, scalar_bits):
    g = _linear_net(np.full((4, 3), 0.5))
    fp = snnc.report(g, target, inputs=torch.ones((2, 1, 3))).cost.footprint
    assert fp == {"fc": {"weight": 12 * weight_bits // 8}, "n": {"v_threshold": scalar_bits // 8,
                                                                 "v_reset": scalar_bits // 8}}


def test_hls_footprint_uses_each_parameter_s_fixed_point_width():
    from snnc.compiler import prepare
    from snnc.ir.quantize import Fixed

    g = _linear_net(np.full((4, 3), 0.5))
    rep = snnc.report(g, "hls", inputs=torch.ones((2, 1, 3)))
    formats = prepare(g, "hls")[2]["fc"].quant["formats"]  # an independent preparation of the same graph
    weight = Fixed.from_dict(formats["weight"])
    assert rep.cost.footprint["fc"]["weight"] == -(-12 * weight.width // 8)
    (w,) = [p for p in rep.quantization.parameters if (p.layer, p.parameter) == ("fc", "weight")]
    assert (w.format, w.limit, w.used) == (str(weight), (weight.min, weight.max), (0.5, 0.5))


def test_weights_rounded_to_zero_and_float16_saturation_are_counted():
    # lynxi: 1e-9 is below float16's smallest subnormal (rounds to 0); 60000 * 2 overflows to inf
    g = _linear_net([[60000.0, 60000.0], [1e-9, 1.0]])
    rep = snnc.report(g, "lynxi", inputs=torch.ones((3, 2, 2)))
    q = rep.quantization
    (w,) = [p for p in q.parameters if (p.layer, p.parameter) == ("fc", "weight")]
    assert w.rounded_to_zero == 1 and w.format == "float16" and w.used == (0.0, 60000.0)
    (fc,) = [v for v in q.values if v.layer == "fc"]
    assert (fc.saturated, fc.values) == (3 * 2, 3 * 2 * 2)  # output 0 is inf at every step of every sample
    assert q.saturated == 6 and q.rounded_to_zero == 1


def test_hls_range_analysis_verdict_is_included():
    g = _linear_net(np.full((4, 3), 0.5))
    q = snnc.report(g, "hls", inputs=torch.ones((2, 1, 3))).quantization
    assert q.range_checked > 0 and q.range_overflows == [] and q.to_dict()["range_analysis"]["ok"]


def test_state_ranges_seen_in_simulation_against_the_state_format():
    # IF, threshold 1, input 0.25 per step: V = 0.25, 0.5, 0.75, then 1.0 fires and resets to 0
    g = _linear_net([[0.25]], threshold=1.0)
    q = snnc.report(g, "gpu", inputs=torch.ones((4, 2, 1))).quantization
    (state,) = q.states
    assert (state.layer, state.state, state.format, state.used) == ("n", "v", "float32", (0.0, 0.75))
    assert state.limit == (-float(np.finfo(np.float32).max), float(np.finfo(np.float32).max))
    hls = snnc.report(g, "hls", inputs=torch.ones((4, 2, 1))).quantization
    (state,) = hls.states
    assert state.used == (0.0, 0.75) and state.format.startswith("fixed<")
