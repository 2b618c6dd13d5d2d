"""Data-parallel training of a convolutional SNN with the fused neuron kernels, under torchrun.

    torchrun --nproc_per_node=2 examples/train_ddp.py [--steps 8] [--iters 50] [--batch 64]

A CIFAR-sized synthetic task (3×32×32 images whose class decides the mean intensity of one colour
channel, plus noise), T steps of direct input, conv-BN-LIF blocks with T folded into the batch and
LIF neurons on ``backend='triton'``, DistributedDataParallel over NCCL (one process per GPU). Prints
the loss and accuracy of rank 0 and the throughput summed over ranks.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from snnc.nn import LIF, SeqToANNContainer, reset_net


def net(classes=10):
    lif = lambda: LIF(tau=2.0, step_mode="m", backend="triton", detach_reset=True)  # noqa: E731
    return nn.Sequential(
        SeqToANNContainer(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)), lif(),
        SeqToANNContainer(nn.Conv2d(64, 128, 3, 2, 1, bias=False), nn.BatchNorm2d(128)), lif(),
        SeqToANNContainer(nn.Conv2d(128, 256, 3, 2, 1, bias=False), nn.BatchNorm2d(256)), lif(),
        SeqToANNContainer(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, classes)))


def batch(size, classes, device, gen):
    y = torch.randint(0, classes, (size,), device=device, generator=gen)
    x = torch.rand(size, 3, 32, 32, device=device, generator=gen) * 0.5
    x[torch.arange(size), y % 3] += (y // 3).float().view(-1, 1, 1) / 4 + 0.1
    return x, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--batch", type=int, default=64, help="per GPU")
    args = parser.parse_args()
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", 0))
    torch.cuda.set_device(local)
    device = torch.device("cuda", local)
    torch.manual_seed(0)
    model = DDP(net().to(device), device_ids=[local])
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    gen = torch.Generator(device=device).manual_seed(1000 + rank)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for it in range(args.iters):
        x, y = batch(args.batch, 10, device, gen)
        reset_net(model)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(x.unsqueeze(0).expand(args.steps, *x.shape)).mean(0)
        loss = nn.functional.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % 10 == 0 or it == args.iters - 1:
            acc = (out.argmax(1) == y).float().mean()
            stats = torch.stack([loss.detach(), acc])
            dist.all_reduce(stats)
            stats /= world
            if rank == 0:
                print(f"iter {it:4d}  loss {stats[0]:.4f}  acc {stats[1]:.3f}", flush=True)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    if rank == 0:
        print(f"{world} GPU(s), T={args.steps}, batch {args.batch}/GPU: {args.iters * args.batch * world / elapsed:.0f} "
              f"samples/s over {args.iters} iterations ({elapsed:.1f} s, warm-up included)")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
