"""HLS parameters are data: ``firmware/weights.bin`` holds their codes, the C simulation loads it at
run time (so its build compiles no weight and is cached on the code alone), and synthesis compiles
the ROM initializers ``tools/weights_rom.cpp`` writes from the same file."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import torch

from support.verify_helpers import small_graph as dense_graph
from snnc.ir import Graph, interpret
from snnc.targets import get_target
from snnc.targets.hls.simulate import build, simulate

TARGET = get_target("hls")
F32 = np.float32


def _lowered(graph, out):
    q = TARGET.prepare(graph, {})
    TARGET.check(q, {})
    TARGET.lower(q, out, {})
    return q


def _wide(n: int) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_node("x", "Input", shape=(n,))
    g.add_node("fc", "Linear", ["x"], {"weight": (rng.integers(-8, 9, (n, n)) / 64).astype(F32)})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(0.5, F32), "v_reset": np.array(0.0, F32)},
               charge="if")
    g.add_node("y", "Output", ["n"])
    return g.verify()


def test_weights_file_holds_every_parameter_s_codes(tmp_path):
    q = _lowered(dense_graph(), tmp_path)
    model = json.loads((tmp_path / "model.json").read_text())
    blob = (tmp_path / "firmware" / "weights.bin").read_bytes()
    for entry in model["weights"]:
        codes = np.frombuffer(blob, np.dtype(entry["dtype"]).newbyteorder("<"), int(np.prod(entry["shape"])),
                              entry["offset"]).reshape(entry["shape"])
        node, key = next((n, k) for n in q.nodes for k in n.params if entry["name"] == f"{n.name}_{k}")
        value = np.broadcast_to(np.asarray(node.params[key], np.float64), entry["shape"] or ())
        np.testing.assert_array_equal(np.ldexp(codes.astype(np.float64), -entry["frac_bits"]), value)
    header = (tmp_path / "firmware" / "weights.h").read_text()
    assert "= {" not in header and "static const" not in header  # declared, not initialized: no data in code


def test_new_weights_reuse_the_cached_simulator(tmp_path):
    g = dense_graph()
    _lowered(g, tmp_path / "a")
    _, first = build(tmp_path / "a")
    g2 = g.copy()
    fc = next(n for n in g2.nodes if n.op == "Linear")
    fc.params["weight"] = np.random.default_rng(3).permutation(fc.params["weight"].reshape(-1)).reshape(
        fc.params["weight"].shape)  # other weights over the same range: the same formats
    q2 = _lowered(g2, tmp_path / "b")
    _, again = build(tmp_path / "b")
    assert again["cached"], "changing only weights must not recompile the simulator"
    x = (torch.rand((6, 2) + tuple(g.input_shape), generator=torch.Generator().manual_seed(0)) < 0.5).double()
    assert torch.equal(simulate(tmp_path / "b", x), interpret(q2, x, numerics="hls"))


def test_synthesis_rom_equals_the_loaded_weights(tmp_path):
    q = _lowered(dense_graph(), tmp_path)
    subprocess.run(["make", "-s", "rom"], cwd=tmp_path, check=True)
    exe = tmp_path / "tb_rom"
    subprocess.run(["g++", "-std=c++17", "-O1", "-DSNNC_WEIGHTS_ROM", f"-I{tmp_path / 'firmware'}", "-o", str(exe),
                    str(tmp_path / "firmware" / "snnc_top.cpp"), str(tmp_path / "tb" / "testbench.cpp")], check=True)
    x = (torch.rand((7, 3) + tuple(q.input_shape), generator=torch.Generator().manual_seed(1)) < 0.5).double()
    x.numpy().astype("<f8").tofile(tmp_path / "in.bin")
    subprocess.run([str(exe), "-", str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), "7", "3"], check=True)
    rom = np.fromfile(tmp_path / "out.bin", "<f8").reshape(7, 3, -1)
    np.testing.assert_array_equal(rom, simulate(tmp_path, x).reshape(7, 3, -1).numpy())


def test_a_simulator_with_over_50_mb_of_weights_builds_within_a_memory_limit(tmp_path):
    q = _lowered(_wide(5200), tmp_path / "art")  # 27 M weights: 54 MB of 16-bit codes
    assert (tmp_path / "art" / "firmware" / "weights.bin").stat().st_size > 50e6
    limited = tmp_path / "g++-limited"
    limited.write_text('#!/bin/sh\nulimit -v 1500000\nexec g++ "$@"\n')  # 1.5 GB of address space
    limited.chmod(0o755)
    binary, info = build(tmp_path / "art", cxx=str(limited))
    assert not info["cached"] and binary.exists()
    x = (torch.rand((2, 1, 5200), generator=torch.Generator().manual_seed(2)) < 0.5).double()
    assert torch.equal(simulate(tmp_path / "art", x), interpret(q, x, numerics="hls"))
