"""The hls target: generated C++ built by g++ with -Wall -Werror, bit-exact with the interpreter under
the hls profile (hypothesis-made dense and conv models, every neuron variant and readout rule, narrow
formats that overflow), and equal to the float PyTorch model when every value is representable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hls_models import configs, conv_graph, dense_graph, neuron_kinds, readouts
from snnc.ir import interpret
from snnc.targets import get_target

TARGET = get_target("hls")


def compile_and_compare(graph, x, config=None, tmp_path=None):
    """prepare + check + lower + simulate; returns (mismatches, total, sim outputs, interpreter outputs)."""
    q = TARGET.prepare(graph, {"config": config})
    TARGET.check(q, {})
    TARGET.lower(q, tmp_path, {})
    got = TARGET.simulate(tmp_path, x)
    want = interpret(q, x, numerics="hls")
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    mismatches = sum(int((g != w).sum()) for g, w in zip(got, want))
    total = sum(w.numel() for w in want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
    return mismatches, total, got, want


def inputs(rng, shape, T, N, real: bool):
    if real:
        return torch.from_numpy(rng.uniform(-3, 3, (T, N) + shape))
    return torch.from_numpy((rng.random((T, N) + shape) < 0.4).astype(np.float64))


SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@st.composite
def dense_cases(draw):
    n_out = draw(st.sampled_from([2, 3]))
    return {"kinds": [draw(neuron_kinds()), draw(neuron_kinds())], "readout": draw(readouts(n_out)),
            "n_out": n_out, "window": draw(st.sampled_from([0, 3, 4])), "config": draw(configs()),
            "real": draw(st.booleans()), "scale_add": draw(st.booleans()), "seed": draw(st.integers(0, 2**16)),
            "T": draw(st.integers(5, 9))}


@st.composite
def conv_cases(draw):
    n_out = draw(st.sampled_from([2, 3]))
    return {"kind": draw(neuron_kinds()), "readout": draw(readouts(n_out)), "n_out": n_out,
            "pool": draw(st.sampled_from(["AvgPool2d", "SumPool2d", "MaxPool2d"])),
            "groups": draw(st.sampled_from([1, 2])), "window": draw(st.sampled_from([0, 4])),
            "config": draw(configs()), "real": draw(st.booleans()), "seed": draw(st.integers(0, 2**16)),
            "extra_output": draw(st.booleans())}


def run_dense(case, tmp_path):
    rng = np.random.default_rng(case["seed"])
    g = dense_graph(rng, case["kinds"], case["readout"], n_out=case["n_out"], window=case["window"],
                    scale_add=case["scale_add"])
    x = inputs(rng, (6,), case["T"], 3, case["real"])
    return compile_and_compare(g, x, case["config"], tmp_path)


def run_conv(case, tmp_path):
    rng = np.random.default_rng(case["seed"])
    g = conv_graph(rng, case["kind"], case["readout"], case["pool"], window=case["window"],
                   groups=case["groups"], extra_output=case["extra_output"], n_out=case["n_out"])
    x = inputs(rng, (2, 6, 6), 6, 2, case["real"])
    return compile_and_compare(g, x, case["config"], tmp_path)


def _fresh(tmp_path_factory):
    return tmp_path_factory.mktemp("hls")


@settings(max_examples=7, **SETTINGS)
@given(case=dense_cases())
def test_dense_models_bit_exact(tmp_path_factory, case):
    mismatches, total, _, _ = run_dense(case, _fresh(tmp_path_factory))
    assert mismatches == 0, f"{mismatches}/{total} outputs differ"


@settings(max_examples=4, **SETTINGS)
@given(case=conv_cases())
def test_conv_models_bit_exact(tmp_path_factory, case):
    mismatches, total, _, _ = run_conv(case, _fresh(tmp_path_factory))
    assert mismatches == 0, f"{mismatches}/{total} outputs differ"


@pytest.mark.slow
@settings(max_examples=60, **SETTINGS)
@given(case=dense_cases())
def test_dense_models_bit_exact_many(tmp_path_factory, case):
    mismatches, total, _, _ = run_dense(case, _fresh(tmp_path_factory))
    assert mismatches == 0, f"{mismatches}/{total} outputs differ"


@pytest.mark.slow
@settings(max_examples=30, **SETTINGS)
@given(case=conv_cases())
def test_conv_models_bit_exact_many(tmp_path_factory, case):
    mismatches, total, _, _ = run_conv(case, _fresh(tmp_path_factory))
    assert mismatches == 0, f"{mismatches}/{total} outputs differ"


WIDE = {"default": "<24,10,rnd,sat>", "classes": {"v": "<44,14>", "i": "<44,14>", "mem": "<44,14>",
                                                   "decay": "<12,2>", "input": "<24,10>"}}


@settings(max_examples=40, **SETTINGS)
@given(case=dense_cases())
def test_profile_equals_float_semantics_when_exact(case):
    """The hls kernels implement the ops' docstrings: with dyadic parameters and inputs and formats
    wide enough that nothing rounds or overflows, interpret(hls) == interpret(float64) exactly, for
    every neuron variant and readout rule (no compile: the C++ is held to the kernels above)."""
    rng = np.random.default_rng(case["seed"])
    g = dense_graph(rng, case["kinds"], case["readout"], n_out=case["n_out"], window=case["window"] or 3,
                    scale_add=case["scale_add"])
    for node in g.nodes:
        if "tau" in node.params:  # 1/tau dyadic
            node.params["tau"] = np.where(np.isin(node.params["tau"], (1.5, 3.0)), 2.0, node.params["tau"])
    x = torch.from_numpy(rng.integers(-16, 17, (6, 3, 6)) / 8.0)
    q = TARGET.prepare(g, {"config": WIDE})
    assert torch.equal(interpret(q, x, numerics="hls"), interpret(q, x, numerics="float64"))


def test_narrow_wrapping_formats_overflow_and_stay_bit_exact(tmp_path):
    rng = np.random.default_rng(11)
    kind = {"charge": "beta", "compare": "ge", "reset": "none", "timing": "immediate", "decay_input": True,
            "per_neuron": False}
    g = dense_graph(rng, [kind], None, hidden=(8,), n_out=3)
    cfg = {"default": "<5,2,trn,wrap>", "classes": {"v": "<5,3,trn,wrap>", "weight": "<6,2,rnd,wrap>"}}
    x = torch.ones(8, 2, 6)
    mismatches, total, got, _ = compile_and_compare(g, x, cfg, tmp_path)
    assert mismatches == 0
    q = TARGET.prepare(g, {"config": cfg})
    _, trace = interpret(q, x, numerics="hls", record=True)
    _, exact = interpret(q, x, numerics="float64", record=True)
    assert not torch.equal(trace.values["fc0"], exact.values["fc0"])  # the 5-bit results wrapped
