"""Train a small spiking network on scikit-learn's digits (8x8 images, no download) with snnc.nn.

The network is built to be deployable to every snnc target:

- inputs are spike trains: pixel intensities (0..16 scaled to [0, 1]) are Poisson-encoded *outside*
  the model into ``x`` of shape ``[T, N, 64]``;
- the model is a plain stack ``Linear(64, H) → LIF → Linear(H, 10) → LIF → Readout`` (no biases,
  hard reset to 0), all stateful modules with the fixed window ``T``;
- the ``Readout`` (``argmax_spike_count``) emits the class decision every step; the one at the last
  step of the window is the prediction.

Training uses the spike counts of the last LIF layer (cross-entropy on ``count / T`` scaled), with
surrogate gradients through time (BPTT), in float32 on the CPU.

    python examples/digits.py                 # train, print progress, save examples/out/digits_snn.pt
    python examples/digits.py --epochs 2      # a quick run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import snnc.nn as snn


@dataclass
class Digits:
    """The digits split: intensities ``[N, 64]`` in [0, 1], labels ``[N]``, and the Poisson spike
    trains ``[T, N, 64]`` (the test ones are what a deployed model is verified on)."""

    T: int
    seed: int
    train_intensity: torch.Tensor
    train_y: torch.Tensor
    test_intensity: torch.Tensor
    test_y: torch.Tensor
    train_x: torch.Tensor
    test_x: torch.Tensor


def encode(intensity: torch.Tensor, T: int, seed: int) -> torch.Tensor:
    """Poisson spike trains ``[T, N, 64]`` of ``intensity [N, 64]``, reproducible from ``seed``."""
    encoder = snn.PoissonEncoder(generator=torch.Generator().manual_seed(seed))
    return encoder.encode(intensity.cpu(), T).to(intensity.device)  # the same spikes on every device


def load_data(T: int = 8, seed: int = 0, test_fraction: float = 0.25) -> Digits:
    """Load sklearn's digits, split stratified (``seed``), scale to [0, 1] and Poisson-encode."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=test_fraction, random_state=seed,
                                              stratify=labels)
    x_tr = torch.tensor(x_tr / 16.0, dtype=torch.float32)
    x_te = torch.tensor(x_te / 16.0, dtype=torch.float32)
    return Digits(T=T, seed=seed, train_intensity=x_tr, train_y=torch.tensor(y_tr), test_intensity=x_te,
                  test_y=torch.tensor(y_te), train_x=encode(x_tr, T, seed), test_x=encode(x_te, T, seed + 1))


def build_model(T: int = 8, hidden: int = 128, tau: float = 2.0, neuron: str = "lif", seed: int = 0) -> nn.Sequential:
    """``Linear(64, H) → LIF → Linear(H, 10) → LIF → Readout(argmax_spike_count)``, step mode ``'m'``,
    every stateful module resetting after each window of ``T`` steps."""
    torch.manual_seed(seed)

    def spiking():
        surrogate = snn.surrogate.ATan()
        if neuron == "if":
            return snn.IF(v_threshold=1.0, v_reset=0.0, surrogate_function=surrogate)
        return snn.LIF(tau=tau, decay_input=True, v_threshold=1.0, v_reset=0.0, surrogate_function=surrogate)

    model = nn.Sequential(
        snn.Linear(64, hidden, bias=False),
        spiking(),
        snn.Linear(hidden, 10, bias=False),
        spiking(),
        snn.Readout(n_classes=10, window_size=T, decision_rule="argmax_spike_count"),
    )
    snn.set_step_mode(model, "m")
    snn.set_window_size(model, T)
    return model


def spike_counts(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Spike counts ``[N, 10]`` of the last neuron layer (the readout's input) over the window."""
    snn.reset_net(model)
    return model[:-1](x).sum(0)


def train(model: nn.Sequential, data: Digits, epochs: int = 20, lr: float = 5e-3, batch_size: int = 64,
          seed: int = 0, log=print) -> list[float]:
    """BPTT with Adam on cross-entropy of the output spike counts; the training spikes are redrawn every
    epoch (fresh Poisson samples of the same images). Returns the test accuracy after each epoch."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    gen = torch.Generator().manual_seed(seed)
    history = []
    n = data.train_y.shape[0]
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        x_all = data.train_x if epoch == 0 else encode(data.train_intensity, data.T, seed + 1000 + epoch)
        order = torch.randperm(n, generator=gen)
        total_loss, correct = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            counts = spike_counts(model, x_all[:, idx])
            loss = F.cross_entropy(counts * (8.0 / data.T), data.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item() * idx.numel()
            correct += (counts.argmax(1) == data.train_y[idx]).sum().item()
        sched.step()
        acc = evaluate(model, data.test_x, data.test_y)
        history.append(acc)
        log(f"epoch {epoch + 1:3d}/{epochs}  loss {total_loss / n:.4f}  train acc {correct / n:.3f}  "
            f"test acc {acc:.3f}  ({time.perf_counter() - t0:.1f} s)")
    return history


@torch.no_grad()
def predict(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """The readout's decision at the last step of the window, ``[N]`` (int64)."""
    model.eval()
    snn.reset_net(model)
    decisions = model(x)  # [T, N, 1]
    snn.reset_net(model)
    return decisions[-1, :, 0].to(torch.int64)


def evaluate(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of the deployed decision (the readout at the window's last step)."""
    return (predict(model, x) == y).double().mean().item()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="a 2-epoch smoke run")
    p.add_argument("--timesteps", "-T", type=int, default=8)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--neuron", choices=("lif", "if"), default="lif")
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (0: torch's default); the layers are small, and one thread is the "
                        "fastest on a shared 2-core machine")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                   help="directory for digits_snn.pt (default: examples/out/)")
    p.add_argument("--targets", nargs="*", metavar="TARGET",
                   help="targets to compile to and verify (default: every target in this build)")
    p.add_argument("--no-deploy", action="store_true", help="train only; skip compiling and verifying")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs = 2
    return args


def main(argv=None) -> dict:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args) -> dict:
    t0 = time.perf_counter()
    data = load_data(args.timesteps, args.seed)
    print(f"digits: {data.train_y.numel()} train / {data.test_y.numel()} test images, "
          f"Poisson-encoded to T={data.T} steps of 64 inputs")
    model = build_model(args.timesteps, args.hidden, neuron=args.neuron, seed=args.seed)
    print(model)
    history = train(model, data, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    accuracy = evaluate(model, data.test_x, data.test_y)
    seconds = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "digits_snn.pt")
    torch.save(model, path)
    print(f"test accuracy {accuracy:.4f} after {args.epochs} epochs in {seconds:.1f} s; saved {path}")
    rows = [] if args.no_deploy else deploy(model, data, args.targets, os.path.join(args.out, "artifacts"))
    return {"model": model, "data": data, "accuracy": accuracy, "history": history, "seconds": seconds,
            "path": path, "args": args, "deployments": rows}


#: target options the example uses: NIR has no reset window, and this model's neurons reset after
#: every window of T steps, so the NIR export drops the window (named in the artifact; on inputs of
#: one window it changes nothing, and the drift column shows it). Its readout is left out of the NIR
#: file (NIR has none), so the NIR outputs are the last layer's spikes.
TARGET_OPTIONS = {"nir": {"allow_approximate": True}}


def decisions_of(outputs: torch.Tensor) -> torch.Tensor:
    """The window decision ``[N]`` from a target's outputs: the readout's decision at the last step
    ``[T, N, 1]``, or the argmax of the output spike counts ``[T, N, C]`` (first maximum)."""
    if outputs.shape[-1] == 1:
        return outputs[-1, :, 0].to(torch.int64)
    return outputs.sum(0).argmax(-1)


def deploy(model: nn.Module, data: Digits, targets=None, out_dir: str = "artifacts", log=print) -> list[dict]:
    """Compile the trained model to every target, verify each artifact bit for bit against the reference
    interpreter on the test spikes, and print a table: target, artifact size, bit-exact, decision
    agreement of the quantized (or, for NIR, approximated) model with the float one, the test
    accuracy of the decisions the target itself produced (the readout at the window's last step), and
    the deployment report's summary (fits, effective synaptic operations per sample, activation
    sparsity, parameter footprint in the target's formats; then each target's fit totals)."""
    import copy

    import snnc

    model = copy.deepcopy(model).cpu().eval()
    snn.reset_net(model)
    x, y = data.test_x.cpu(), data.test_y.cpu()
    calibration = data.train_x[:, :256].cpu()
    rows = []
    from snnc.targets import NAMES

    for target in targets or NAMES:
        t0 = time.perf_counter()
        row = {"target": target}
        try:
            options = TARGET_OPTIONS.get(target, {})
            art = snnc.compile(model, target, os.path.join(out_dir, target), example_input=calibration,
                               overwrite=True, **options)  # its own artifacts of an earlier run
            report = snnc.verify(model, target, x, artifact=art.path, deployment=True)
        except snnc.SnncError as e:  # a target that refuses the model says why; the table shows it
            row.update(error=str(e), seconds=time.perf_counter() - t0)
            rows.append(row)
            continue
        decisions = decisions_of(report.outputs[0])
        row.update(size=art.size_bytes, bit_exact=report.bit_exact and report.ok,
                   agreement=report.drift.decision_agreement, accuracy=(decisions == y).double().mean().item(),
                   seconds=time.perf_counter() - t0, report=report, deployment=report.deployment)
        rows.append(row)
    log(f"\n{'target':<8} {'artifact':>10} {'bit-exact':>9} {'agree w/ float':>14} {'test acc':>8} {'fits':>4} "
        f"{'ACs/sample':>10} {'sparsity':>8} {'params':>9} {'seconds':>7}")
    for row in rows:
        if "error" in row:
            log(f"{row['target']:<8} refused: {row['error']}")
            continue
        agree = "n/a" if row["agreement"] is None else f"{100 * row['agreement']:.1f}%"
        cost = row["deployment"].cost
        log(f"{row['target']:<8} {row['size']:>8} B {'yes' if row['bit_exact'] else 'NO':>9} {agree:>14} "
            f"{row['accuracy']:>8.4f} {'yes' if row['deployment'].fits else 'NO':>4} "
            f"{cost.effective_acs_per_sample:>10.0f} {100 * cost.activation_sparsity:>7.1f}% "
            f"{cost.footprint_bytes:>7} B {row['seconds']:>7.1f}")
    log("fit per target (snnc report MODEL --target T has every section):")
    for row in rows:
        if "deployment" in row and row["deployment"].fit is not None:
            fit = row["deployment"].fit
            log(f"  {row['target']:<6} " + ", ".join(f"{r.label} {fit.totals[r.key]:,}{' ' + r.unit if r.unit else ''}"
                                                     for r in fit.resources))
    return rows


if __name__ == "__main__":
    main()
