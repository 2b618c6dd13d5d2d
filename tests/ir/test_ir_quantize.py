"""snnc.ir.quantize: rounding and overflow modes by hand, format choice, calibration."""


import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.ir import Graph, SnncError
from snnc.ir.quantize import (Fixed, bring_into_range, calibrate, choose_exponent, choose_fixed, real_params,
                              round_half)

Y = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3, -0.7, 1.0])


@pytest.mark.parametrize("mode, expected", [
    ("trn", [-3, -2, -1, 0, 1, 2, 0, -1, 1]),
    ("trn_zero", [-2, -1, 0, 0, 1, 2, 0, 0, 1]),
    ("rnd", [-2, -1, 0, 1, 2, 3, 0, -1, 1]),
    ("rnd_zero", [-2, -1, 0, 0, 1, 2, 0, -1, 1]),
    ("rnd_inf", [-3, -2, -1, 1, 2, 3, 0, -1, 1]),
    ("rnd_min_inf", [-3, -2, -1, 0, 1, 2, 0, -1, 1]),
    ("rnd_conv", [-2, -2, 0, 0, 2, 2, 0, -1, 1]),
])
def test_rounding_modes_by_hand(mode, expected):
    assert round_half(Y, mode).tolist() == expected
    assert round_half(torch.tensor(Y), mode).tolist() == expected


def test_overflow_modes_by_hand():
    q = np.array([-9, -8, 7, 8, 9, 23])
    assert bring_into_range(q, -8, 7, "sat").tolist() == [-8, -8, 7, 7, 7, 7]
    assert bring_into_range(q, -8, 7, "sat_sym").tolist() == [-7, -7, 7, 7, 7, 7]
    assert bring_into_range(q, -8, 7, "wrap").tolist() == [7, -8, 7, -8, -7, 7]
    with pytest.raises(SnncError, match="unknown overflow"):
        bring_into_range(q, -8, 7, "clip")


def test_fixed_format_grid():
    f = Fixed(8, 3)  # ap_fixed<8,3>: step 1/32, range [-4, 4 - 1/32]
    assert (f.frac_bits, f.step, f.min, f.max, f.q_min, f.q_max) == (5, 1 / 32, -4.0, 4 - 1 / 32, -128, 127)
    assert f.quantize(np.array([0.1, -5.0, 3.99])).tolist() == [3 / 32, -4.0, 4 - 1 / 32]
    assert f.representable([0.125, 0.1, 4.0, -4.0]).tolist() == [True, False, False, True]
    assert f.out_of_range([4.0, -4.0, -4.01, 3.96]) == 2
    u = Fixed(8, 8, signed=False)
    assert (u.min, u.max) == (0.0, 255.0)
    exp = Fixed(8, 11)  # 8-bit mantissa with exponent 3
    assert exp.step == 8.0 and exp.max == 127 * 8
    assert Fixed.from_dict(f.to_dict()) == f and str(f) == "fixed<8,3,rnd_conv,sat>"
    assert Fixed.with_step(24, 1 / 64, overflow="wrap") == Fixed(24, 18, overflow="wrap")
    with pytest.raises(SnncError, match="power of two"):
        Fixed.with_step(8, 0.3)
    with pytest.raises(SnncError, match="width"):
        Fixed(0, 0)
    with pytest.raises(SnncError, match="rounding"):
        Fixed(8, 3, rounding="nearest")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=20), st.integers(2, 24),
       st.sampled_from(["rnd_conv", "trn", "rnd"]))
def test_choose_fixed_is_the_finest_that_holds(values, width, rounding):
    x = np.array(values)
    f = choose_fixed(x, width, rounding=rounding)
    q = round_half(np.ldexp(x, f.frac_bits), rounding)
    assert np.all((q >= f.q_min) & (q <= f.q_max))  # nothing saturates
    if np.any(x != 0):
        finer = Fixed(width, f.int_bits - 1, rounding=rounding)
        q = round_half(np.ldexp(x, finer.frac_bits), rounding)
        assert not np.all((q >= finer.q_min) & (q <= finer.q_max))


def test_choose_exponent_like_loihi():
    w = np.array([0.5, -1.25, 3.0, 0.01])
    mant, e = choose_exponent(w, bits=8)
    assert e == -5 and mant.tolist() == [16, -40, 96, 0]
    assert np.all(np.abs(mant * 2.0 ** e - w) <= 2.0 ** e / 2)
    big, e2 = choose_exponent(np.array([1000.0, -3.0]), bits=8)
    assert e2 == 3 and big.tolist() == [125, 0]


def test_real_params_and_calibration():
    g = Graph()
    g.add_node("x", "Input", shape=(2,))
    g.add_node("fc", "Linear", ["x"], {"weight": np.array([[2, 0], [1, 1]], np.int16)},
               quant={"scales": {"weight": 0.5}})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(1.0), "alpha": np.array(0.5), "beta": np.array(1.0),
                                       "v_reset": np.array(0.0)}, charge="cuba")
    g.add_node("y", "Output", ["n"])
    g.verify()
    assert real_params(g["fc"])["weight"].tolist() == [[1.0, 0.0], [0.5, 0.5]]
    g["fc"].params["weight"] = real_params(g["fc"])["weight"].astype(np.float32)
    g["fc"].quant = {}
    x = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]], [[1.0, 1.0]]])  # T=3, N=1
    cal = calibrate(g, [x, x])
    # fc: [1, 0.5], [0, 0], [1, 1] per step; I = alpha·I + X per neuron
    assert cal.values["fc"]["result"].tolist() == [1, 0.5, 0, 0, 1, 1] * 2
    assert cal.values["n"]["i"].tolist() == [1, 0.5, 0.5, 0.25, 1.25, 1.125] * 2
    s = cal.stats("n", "v")
    assert (s.min, s.max, s.count) == (0.0, 1.875, 24)  # neuron 1: H = 0.5, 0.75, 0.75 + 1.125
    assert cal.out_of_range("fc", "result", Fixed(4, 1)) == (6, 12)  # the 1.0s exceed 0.875
