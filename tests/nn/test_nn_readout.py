"""The fixed-window Readout on tables of hand-made spike trains (rules of snnc.ir.ops.Readout), including
ties, simultaneous threshold crossings and window boundaries."""

import pytest
import torch

import snnc.nn as snn

# spike trains [T, C] (rows are time steps) and the expected decision after each step
TRAIN_A = [[0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]]
# counts: [0,1,0] [1,1,0] [2,2,0] [2,2,1] [2,2,2] [2,2,3]
TRAIN_B = [[0, 0, 1], [1, 0, 1], [1, 1, 0], [1, 1, 0]]
# counts: [0,0,1] [1,0,2] [2,1,2] [3,2,2]

TABLE = [
    # (train, rule, class_threshold, window_size, expected decisions)
    (TRAIN_A, "argmax_spike_count", 1, 0, [1, 0, 0, 0, 0, 2]),              # ties -> lowest index
    (TRAIN_A, "first_to_threshold", 2, 0, [-1, -1, 0, 0, 0, 0]),            # 0 and 1 reach 2 together -> 0
    (TRAIN_A, "threshold_then_argmax", 2, 0, [1, 0, 0, 0, 0, 0]),           # keeps the first, not argmax 2
    (TRAIN_A, "first_to_threshold", 3, 0, [-1, -1, -1, -1, -1, 2]),
    (TRAIN_A, "threshold_then_argmax", 3, 0, [1, 0, 0, 0, 0, 2]),
    (TRAIN_A, "first_to_threshold", 1, 0, [1, 1, 1, 1, 1, 1]),              # first in time, not lowest index
    (TRAIN_B, "argmax_spike_count", 1, 0, [2, 2, 0, 0]),
    (TRAIN_B, "first_to_threshold", 2, 0, [-1, 2, 2, 2]),                   # 2 first although 0 ends higher
    (TRAIN_B, "threshold_then_argmax", 2, 0, [2, 2, 2, 2]),
    # window of 2: counts [0,0,1] [1,0,2] | reset | [1,1,0] [2,2,0]
    (TRAIN_B, "argmax_spike_count", 1, 2, [2, 2, 0, 0]),
    (TRAIN_B, "first_to_threshold", 2, 2, [-1, 2, -1, 0]),
    (TRAIN_B, "threshold_then_argmax", 2, 2, [2, 2, 0, 0]),
    # window of 3 on A: counts [0,1,0] [1,1,0] [2,2,0] | reset | [0,0,1] [0,0,2] [0,0,3]
    (TRAIN_A, "first_to_threshold", 2, 3, [-1, -1, 0, -1, 2, 2]),
    (TRAIN_A, "argmax_spike_count", 1, 3, [1, 0, 0, 2, 2, 2]),
]


def _decide(readout, train, step_mode):
    x = torch.tensor(train, dtype=torch.float32).unsqueeze(1)  # [T, 1, C]
    readout.step_mode = step_mode
    if step_mode == "m":
        out = readout(x)
    else:
        out = torch.stack([readout(xt) for xt in x])
    assert out.shape == (x.shape[0], 1, 1) and out.dtype == torch.float32
    return out[:, 0, 0].tolist()


@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize("train,rule,threshold,window,expected", TABLE)
def test_spike_rules(train, rule, threshold, window, expected, step_mode):
    r = snn.Readout(n_classes=3, decision_rule=rule, class_threshold=threshold, window_size=window)
    assert _decide(r, train, step_mode) == expected


def test_any_nonzero_value_counts_as_a_spike():
    r = snn.Readout(decision_rule="argmax_spike_count")
    assert _decide(r, [[0.0, 0.5, 0.0], [3.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], "s") == [1, 0, 0]
    assert r.count.tolist() == [[2, 1, 0]]


def test_binary_logit_spike_and_membrane():
    train = [[1, 0], [0, 1], [0, 1], [1, 1]]
    r = snn.Readout(n_classes=2, decision_rule="binary_logit")
    assert _decide(r, train, "m") == [-1, 0, 1, 1]
    r = snn.Readout(n_classes=2, output_mode="membrane", decision_rule="binary_logit", beta=0.5)
    assert _decide(r, [[1.0, 0.0], [0.0, 1.0], [0.0, 0.25]], "s") == [-1.0, 0.5, 0.5]  # mem [.25, .75]


def test_argmax_membrane_with_leak_ties_and_window():
    train = [[1.0, 0.0, 0.0], [0.0, 0.9, 0.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.1]]
    # beta 0.5: mem [1,0,0] [.5,.9,0] [.25,.45,0] | window 3 | [.5,.5,0] tie -> 0, [.25,.25,.1] -> 0
    r = snn.Readout(output_mode="membrane", decision_rule="argmax_membrane", beta=0.5, window_size=3)
    assert _decide(r, train, "m") == [0, 1, 1, 0, 0]
    r = snn.Readout(output_mode="membrane", beta=1.0)
    assert r.decision_rule == "argmax_membrane"
    assert _decide(r, train, "s") == [0, 0, 0, 0, 0]  # sums [1,0,0] [1,.9,0] [1,.9,0] [1.5,1.4,0] [1.5,1.4,.1]
    snn.reset_net(r)
    assert _decide(r, [[0, 1, 0], [1, 0, 0], [1, 0, 0]], "s") == [1, 0, 0]  # [0,1,0] [1,1,0] tie -> 0 [2,1,0]


def test_batch_entries_are_independent():
    x = torch.stack([torch.tensor(TRAIN_B, dtype=torch.float32),
                     torch.tensor(TRAIN_A[:4], dtype=torch.float32)], dim=1)  # [4, 2, 3]
    r = snn.Readout(decision_rule="first_to_threshold", class_threshold=2, step_mode="m")
    assert r(x)[:, :, 0].T.tolist() == [[-1, 2, 2, 2], [-1, -1, 0, 0]]


def test_reset_net_restarts_the_window():
    r = snn.Readout(decision_rule="first_to_threshold", class_threshold=1, step_mode="m")
    r(torch.tensor(TRAIN_B[:2], dtype=torch.float32).unsqueeze(1))
    snn.reset_net(r)
    assert r.count is None
    assert r(torch.tensor([[0.0, 1.0, 0.0]]).unsqueeze(1))[:, 0, 0].tolist() == [1]


def test_readout_at_the_end_of_a_network_with_the_window_propagated():
    torch.manual_seed(0)
    net = torch.nn.Sequential(snn.Linear(4, 3), snn.IF(), snn.Readout(n_classes=3, window_size=5))
    snn.set_step_mode(net, "m")
    snn.set_window_size(net, 5)
    x = torch.rand(10, 2, 4) * 2
    out = net(x)
    ref = torch.nn.Sequential(snn.Linear(4, 3), snn.IF(), snn.Readout(n_classes=3))
    ref.load_state_dict(net.state_dict())
    snn.set_step_mode(ref, "m")
    first = ref(x[:5])
    snn.reset_net(ref)
    assert torch.equal(out, torch.cat([first, ref(x[5:])]))


@pytest.mark.parametrize("kwargs", [dict(decision_rule="argmax_membrane"),
                                    dict(output_mode="membrane", decision_rule="first_to_threshold"),
                                    dict(output_mode="rate"),
                                    dict(n_classes=3, decision_rule="binary_logit")])
def test_invalid_configurations_are_refused(kwargs):
    with pytest.raises(ValueError):
        snn.Readout(**kwargs)


def test_wrong_number_of_classes_is_refused():
    with pytest.raises(ValueError, match="10 classes"):
        snn.Readout(n_classes=10)(torch.zeros(2, 3))
