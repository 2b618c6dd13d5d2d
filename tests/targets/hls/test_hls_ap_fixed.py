"""Optional: the same generated C++ built as synthesis builds it — on Vitis' ap_fixed
(-DSNNC_USE_AP_FIXED), the parameters compiled in as ROMs (-DSNNC_WEIGHTS_ROM) — computes the same
values, layer by layer. Needs the Apache-2.0 ap_types headers (github.com/Xilinx/
HLS_arbitrary_Precision_Types, include/), which snnc does not ship: set SNNC_AP_INCLUDE to that
directory. Slow (ap_fixed builds take ~10 s each)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from hls_models import conv_graph, dense_graph
from snnc.ir import interpret
from snnc.targets import get_target

AP_INCLUDE = os.environ.get("SNNC_AP_INCLUDE")
TARGET = get_target("hls")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not AP_INCLUDE or not (Path(AP_INCLUDE) / "ap_fixed.h").is_file(),
                                                    reason="set SNNC_AP_INCLUDE to the ap_types include/ directory")]

KINDS = [{"charge": c, "compare": cmp, "reset": r, "timing": t, "decay_input": di, "per_neuron": p}
         for c, cmp, r, t, di, p in [("lif", "ge", "hard", "immediate", True, False),
                                     ("cuba", "gt", "subtract", "compensated", True, True),
                                     ("beta", "ge", "hard", "delayed", True, False),
                                     ("plif", "gt", "subtract", "immediate", False, True),
                                     ("if", "ge", "none", "immediate", True, False)]]
NARROW = {"default": "<8,4,rnd_conv,wrap>", "classes": {"v": "<10,4,trn_zero,sat_sym>",
                                                         "decay": "<6,auto,rnd_inf,sat>", "input": "<6,3,rnd_min_inf,wrap>"}}


def _ap_trace(art: Path, x: torch.Tensor) -> np.ndarray:
    """The synthesis view: the parameters as ROMs (``make rom``: weights_rom.h from weights.bin), the
    C++ on ap_fixed."""
    subprocess.run(["make", "-s", "rom"], cwd=art, check=True)
    exe = art / "tb_ap"
    subprocess.run(["g++", "-std=c++17", "-O1", "-w", "-DSNNC_USE_AP_FIXED", "-DSNNC_WEIGHTS_ROM", "-DSNNC_RECORD",
                    f"-I{AP_INCLUDE}", f"-I{art / 'firmware'}", "-o", str(exe), str(art / "firmware" / "snnc_top.cpp"),
                    str(art / "tb" / "testbench.cpp")], check=True)
    x.numpy().astype("<f8").tofile(art / "in.bin")
    subprocess.run([str(exe), "-", str(art / "in.bin"), str(art / "out.bin"), str(x.shape[0]), str(x.shape[1]),
                    str(art / "trace.bin")], check=True)
    return np.fromfile(art / "trace.bin", dtype="<f8").reshape(x.shape[0], x.shape[1], -1)


@pytest.mark.parametrize("config", [None, NARROW])
@pytest.mark.parametrize("model", ["dense", "conv_avg", "conv_max"])
def test_ap_fixed_build_equals_interpreter(tmp_path, model, config):
    rng = np.random.default_rng(7)
    if model == "dense":
        g = dense_graph(rng, KINDS, {"mode": "membrane", "rule": "argmax_membrane", "class_threshold": 1, "beta": 0.75},
                        window=4, scale_add=True)
        x = torch.from_numpy(rng.uniform(-3, 3, (9, 3, 6)))
    else:
        g = conv_graph(rng, KINDS[1], {"mode": "spike", "rule": "threshold_then_argmax", "class_threshold": 2,
                                       "beta": None}, "AvgPool2d" if model == "conv_avg" else "MaxPool2d", window=3)
        x = torch.from_numpy(rng.uniform(-2, 2, (7, 2, 2, 6, 6)))
    q = TARGET.prepare(g, {"config": config})
    TARGET.lower(q, tmp_path, {})
    trace = _ap_trace(tmp_path, x)
    _, want = interpret(q, x, numerics="hls", record=True)
    import json
    for r in json.loads((tmp_path / "model.json").read_text())["recorded"]:
        got = trace[:, :, r["offset"]:r["offset"] + r["size"]].reshape(x.shape[0], x.shape[1], *r["shape"])
        assert np.array_equal(got, want.values[r["name"]].numpy()), r["name"]
