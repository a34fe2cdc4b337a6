"""Speed benchmark: ``python -m harness.bench [--algo tdmpc2 mbdpo] [--sizes 1 5] [--set planner.num_samples=256]``.

Prints, per algorithm and model size: milliseconds per update (batch 256) and per action for 1 and
for 8 environments at once, parameters, and achieved GFLOP/s against this machine's measured
float32 matmul peak. Synthetic replay data of the task's shapes: the numbers measure compute only.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import torch
from tensordict import TensorDict
from torch.utils.flop_counter import FlopCounterMode

import algorithms
from algorithms.base import EnvSpec
from harness.config import build_algo_config


def _median_ms(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


class _GlobalOnlyTracker:
    """Stands in for FlopCounterMode's per-module tracker, which we do not need (we only read the
    total): its forward hooks test ``module in WeakKeyDictionary``, and that calls ``==`` on
    tensordict's ``TensorDictParams`` (SACLoss holds them), which returns a TensorDict and raises."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return None


def _flops(fn) -> int:
    counter = FlopCounterMode(display=False)
    if hasattr(counter, "mod_tracker"):
        counter.mod_tracker = _GlobalOnlyTracker()
    with counter:
        fn()
    return counter.get_total_flops()


def matmul_peak_gflops(n: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    ms = _median_ms(lambda: a @ b, repeats)
    return 2 * n**3 / (ms * 1e-3) / 1e9


def fill_replay(agent, spec: EnvSpec, episodes: int) -> None:
    for _ in range(episodes):
        for t in range(spec.episode_length):
            agent.observe(
                TensorDict(
                    observation=torch.randn(spec.obs_dim),
                    action=torch.rand(spec.action_dim) * 2 - 1,
                    next=TensorDict(
                        observation=torch.randn(spec.obs_dim),
                        reward=torch.rand(1),
                        terminated=torch.zeros(1, dtype=torch.bool),
                        done=torch.tensor([t == spec.episode_length - 1]),
                    ),
                )
            )


def bench_one(algo: str, size: int, spec: EnvSpec, repeats: int, device: torch.device,
              overrides: list[str] = ()) -> dict:
    entry = algorithms.get_algorithm(algo)
    sized = "model" in {f.name for f in dataclasses.fields(entry.config_cls)}
    lacks = entry.lacks({o.split("=")[0]: None for o in overrides})  # e.g. planner.* for sac: not applied
    fits = [o for o in overrides if o.split("=")[0] not in lacks]
    cfg = build_algo_config(algo, ([f"model.size={size}"] if sized else []) + ["seed_steps=0", *fits])
    agent = entry.factory(cfg, spec, device, total_steps=10 * spec.episode_length)
    fill_replay(agent, spec, episodes=2)
    agent.update(0)  # the first update pretrains for seed_steps (0 here) updates; compiles kernels
    step = [1]

    def update():
        step[0] += 1
        agent.update(step[0])

    row = {"algo": algo, "size": size if sized else "-", "params_M": agent.num_parameters() / 1e6}
    row["update_ms"] = _median_ms(update, repeats)
    row["update_gflops"] = _flops(update) / (row["update_ms"] * 1e-3) / 1e9
    for n_envs in (1, 8):
        obs = torch.randn(n_envs, spec.obs_dim)
        agent.act(obs, eval_mode=False, first_step=True)

        def act():
            agent.act(obs, eval_mode=False, first_step=False)

        row[f"act{n_envs}_ms"] = _median_ms(act, repeats)
        row[f"act{n_envs}_gflops"] = _flops(act) / (row[f"act{n_envs}_ms"] * 1e-3) / 1e9
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__)
    parser.add_argument("--algo", nargs="+", default=None, help="algorithms (default: all registered)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 5])
    parser.add_argument("--obs-dim", type=int, default=5, help="default: cartpole-balance's 5")
    parser.add_argument("--action-dim", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="algorithm fields, e.g. planner.num_samples=256 (applied where they fit)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    spec = EnvSpec(obs_dim=args.obs_dim, action_dim=args.action_dim, episode_length=500)
    algos = args.algo or algorithms.algorithm_names()
    peak = matmul_peak_gflops()
    print(f"device={device} threads={torch.get_num_threads()} matmul peak={peak:.0f} GFLOP/s (fp32 1024^3)"
          + (f" overrides: {' '.join(args.set)}" if args.set else ""))
    header = f"{'algo':<16}{'size':>5}{'params':>9}{'update ms':>11}{'act1 ms':>9}{'act8 ms':>9}  GFLOP/s upd/act1/act8 (% peak)"
    print(header)
    print("-" * len(header))
    for algo in algos:
        sized = "model" in {f.name for f in dataclasses.fields(algorithms.get_algorithm(algo).config_cls)}
        for size in args.sizes if sized else args.sizes[:1]:
            r = bench_one(algo, size, spec, args.repeats, device, [o.removeprefix("algo.") for o in args.set])
            effs = "/".join(f"{r[k]:.0f}" for k in ("update_gflops", "act1_gflops", "act8_gflops"))
            pct = "/".join(f"{100 * r[k] / peak:.0f}" for k in ("update_gflops", "act1_gflops", "act8_gflops"))
            print(
                f"{algo:<16}{size:>5}{r['params_M']:>8.2f}M{r['update_ms']:>11.1f}{r['act1_ms']:>9.1f}"
                f"{r['act8_ms']:>9.1f}  {effs} ({pct}%)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
