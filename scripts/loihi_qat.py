#!/usr/bin/env python3
"""Quantization-aware training for Loihi on scikit-learn's digits, then deployment and agreement.

A CubaLIF network ``Linear(64, H) → CubaLIF → Linear(H, 10) → CubaLIF → Readout`` (no biases, hard
reset to 0, decays that are exact 4096ths) is trained with the ``loihi`` profile's fake quantization
on its weights (``snnc.nn.quant.quantize_model(model, "loihi")``: Lava's 8-bit integer grid per layer,
straight-through gradients). The fake-quantized weights are then baked in, the model is compiled for
Loihi (netx HDF5) and the artifact's simulator is compared with the float model (the same baked
weights, float32 interpreter): the decisions at the end of every window must agree.

Inputs are Poisson spike trains of the pixel intensities (fixed seed). The last ``--tail`` steps of each
window carry no input, so the two-step synaptic latency of the deployed two-layer net (Lava delivers
every synapse one step later) does not cut off input the float model sees; the loss is computed on
the spike counts the deployed model would see (the float counts of the first ``T - layers`` steps)
and on the full counts.

    python scripts/loihi_qat.py                  # full run: 15 epochs (~2-6 min on 2 shared CPU cores)
    python scripts/loihi_qat.py --epochs 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import snnc
import snnc.nn as snn
from snnc.ir import interpret
from snnc.nn.quant import quantize_model, strip_quantization


def digits(steps: int, tail: int, seed: int = 0):
    """Poisson spike trains ``[T, N, 64]`` (rate = intensity / 16; the last ``tail`` steps silent) and
    labels, split 80/20 with a fixed permutation."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.as_tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.as_tensor(data.target, dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    x, y = x[perm], y[perm]
    spikes = (torch.rand((steps,) + tuple(x.shape), generator=g) < x).to(torch.float32)
    if tail:
        spikes[steps - tail:] = 0
    n_train = int(0.8 * len(y))
    return (spikes[:, :n_train], y[:n_train]), (spikes[:, n_train:], y[n_train:])


def build(hidden: int, steps: int, current_decay: float, voltage_decay: float) -> nn.Sequential:
    def neuron():
        return snn.CubaLIF(current_decay, voltage_decay, v_threshold=1.0, v_reset=0.0, window_size=steps)

    return nn.Sequential(nn.Linear(64, hidden, bias=False), neuron(), nn.Linear(hidden, 10, bias=False), neuron(),
                         snn.Readout(10, window_size=steps))


def output_spikes(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """The last neuron layer's spikes ``[T, N, 10]`` (multi-step mode: each fake-quantized weight is
    computed once per sequence; surrogate gradients through time)."""
    snn.reset_net(model)
    body = model[:-1]
    snn.set_step_mode(body, "m")
    try:
        return body(x)
    finally:
        snn.set_step_mode(body, "s")


def train(model, train_set, epochs: int, layers: int, lr: float, batch: int, seed: int, log=print):
    x, y = train_set
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        perm = torch.randperm(x.shape[1], generator=g)
        total, correct = 0.0, 0
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            s = output_spikes(model, x[:, idx])
            full, seen = s.sum(0), s[: s.shape[0] - layers].sum(0)
            loss = F.cross_entropy(full, y[idx]) + F.cross_entropy(seen, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += int((seen.argmax(1) == y[idx]).sum())
        log(f"epoch {epoch + 1:>3}: loss {total / len(perm):.4f}, train accuracy {correct / len(perm):.3f}")
    snn.reset_net(model)
    return model


def run(hidden=64, steps=20, tail=2, epochs=15, lr=5e-3, batch=64, seed=0, current_decay=0.5,
        voltage_decay=0.25, qat=True, n_train=None, n_test=None, out_dir=None, log=print) -> dict:
    """Train (with Loihi fake quantization if ``qat``), deploy, and measure; returns the numbers."""
    torch.manual_seed(seed)
    (xtr, ytr), (xte, yte) = digits(steps, tail, seed)
    if n_train is not None:
        xtr, ytr = xtr[:, :n_train], ytr[:n_train]
    if n_test is not None:
        xte, yte = xte[:, :n_test], yte[:n_test]
    model = build(hidden, steps, current_decay, voltage_decay)
    if qat:
        quantize_model(model, "loihi")
    t0 = time.time()
    train(model, (xtr, ytr), epochs, layers=2, lr=lr, batch=batch, seed=seed, log=log)
    train_s = time.time() - t0
    strip_quantization(model)                 # bake the quantized weights: the float self uses them too
    model.eval()
    out = Path(out_dir or tempfile.mkdtemp(prefix="snnc-loihi-qat-")) / "artifact"
    art = snnc.compile(model, "loihi", out, example_input=xte[:, :1], window=steps, overwrite=True)
    float_graph = snnc.compiler.to_graph(model, xte[:, :1])
    float_graph = snnc.compiler.standard_passes(float_graph, steps)
    with torch.no_grad():
        float_dec = interpret(float_graph, xte, numerics="float32")[steps - 1, :, 0].to(torch.int64)
    deployed = snnc.simulate(art, xte)[steps - 1, :, 0]
    prepared = art.path
    result = {
        "qat": qat, "hidden": hidden, "steps": steps, "tail": tail, "epochs": epochs, "train_seconds": round(train_s, 1),
        "n_test": int(len(yte)),
        "agreement": float((float_dec == deployed).double().mean()),
        "float_accuracy": float((float_dec == yte).double().mean()),
        "deployed_accuracy": float((deployed == yte).double().mean()),
        "artifact": str(prepared),
    }
    log(json.dumps(result))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--tail", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-qat", action="store_true", help="train in float, quantize only at deployment")
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    result = run(args.hidden, args.steps, args.tail, args.epochs, args.lr, seed=args.seed, qat=not args.no_qat)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
