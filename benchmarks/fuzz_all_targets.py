"""Fuzz every available target: random valid networks (snnc.fuzz) compiled, simulated and compared
bit for bit with the reference interpreter under the target's numerics.

    python benchmarks/fuzz_all_targets.py                  # 1000 networks per target
    python benchmarks/fuzz_all_targets.py --examples 50 --targets hls loihi --regime overflow

Prints, per target, how many networks were checked, refused by the target (an UnsupportedError
naming the node: a constraint, not a bug), and mismatched, with the first mismatch's divergence.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings

import snnc
from snnc.fuzz import REGIMES, TARGET_HINTS, networks
from snnc.ir import SnncError, UnsupportedError
from snnc.ir.progress import bar as progress_bar
from snnc.targets import NAMES, get_target


def available() -> list[str]:
    out = []
    for name in NAMES:
        try:
            get_target(name)
        except (SnncError, ImportError, AttributeError):
            continue
        out.append(name)
    return out


def fuzz(target: str, examples: int, regime: str | None, seed: int, save: Path | None) -> dict:
    stats = {"checked": 0, "refused": 0, "mismatches": 0, "errors": 0, "first": None, "refusals": {}}

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
              suppress_health_check=list(HealthCheck))
    @given(networks(regime=regime, **TARGET_HINTS.get(target, {})))
    def run(case):
        bar.update(1)
        try:
            report = snnc.verify(case.graph, target, case.inputs)
        except UnsupportedError as e:
            stats["refused"] += 1
            reason = str(e).split(": ", 2)[-1][:60]
            stats["refusals"][reason] = stats["refusals"].get(reason, 0) + 1
            return
        except Exception as e:  # noqa: BLE001 - a crash is a finding, counted and shown
            stats["errors"] += 1
            if stats["first"] is None:
                stats["first"] = f"{type(e).__name__}: {e}\n{case}"
            return
        stats["checked"] += 1
        if not report.ok:
            stats["mismatches"] += 1
            if stats["first"] is None:
                stats["first"] = f"{report.first_divergence}\n{case}"
                if save is not None:
                    save.mkdir(parents=True, exist_ok=True)
                    case.graph.save(save / f"{target}_mismatch.snnc", overwrite=True)
                    report.to_json(save / f"{target}_mismatch.json")

    if seed is not None:
        from hypothesis import seed as hypothesis_seed
        run = hypothesis_seed(seed)(run)
    bar = progress_bar(examples, f"fuzz {target}", "network")
    try:
        run()
    finally:
        bar.close()
    return stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=1000, help="random networks per target (default 1000)")
    p.add_argument("--targets", nargs="*", help="default: every available target")
    p.add_argument("--regime", choices=REGIMES, help="parameter regime (default: drawn per network)")
    p.add_argument("--seed", type=int, help="vary the examples (default: derandomized, reproducible)")
    p.add_argument("--save", type=Path, help="directory for the first mismatching graph and its report")
    args = p.parse_args(argv)
    targets = args.targets or available()
    print(f"fuzzing {', '.join(targets)} with {args.examples} networks each")
    print(f"{'target':<8} {'checked':>8} {'refused':>8} {'errors':>7} {'mismatches':>11} {'seconds':>8}")
    failed = False
    for target in targets:
        t0 = time.perf_counter()
        stats = fuzz(target, args.examples, args.regime, args.seed, args.save)
        print(f"{target:<8} {stats['checked']:>8} {stats['refused']:>8} {stats['errors']:>7} "
              f"{stats['mismatches']:>11} {time.perf_counter() - t0:>8.1f}", flush=True)
        for reason, count in sorted(stats["refusals"].items(), key=lambda kv: -kv[1])[:3]:
            print(f"         refused {count}x: {reason}")
        if stats["first"]:
            print("  first finding: " + stats["first"].replace("\n", "\n    "))
        failed |= bool(stats["mismatches"] or stats["errors"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
