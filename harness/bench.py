"""Speed benchmark: ``python -m harness.bench [algo=[tdmpc2,mbdpo]] [sizes=[1,5]] [algo.planner.num_samples=256]``.

Prints, per algorithm and model size: milliseconds per update (the config's batch, 256 by default)
and per action for 1 and for 8 environments at once, parameters, and achieved GFLOP/s against this
machine's measured float32 matmul peak. Synthetic replay data of the task's shapes: the numbers measure compute only.

Keys (``key=value``, as for harness.run and harness.sweep): ``algo`` (one or a list; default: every
registered algorithm), ``sizes`` (model sizes, one or a list; default ``[1,5]``), ``obs_dim`` (5,
cartpole-balance's), ``action_dim`` (1), ``repeats`` (10), ``threads`` (torch threads; 0: torch's
default), ``device`` (cpu), ``preset`` (a named preset, configs/presets/; the row's size wins over its
model.size) and ``algo.<field>=value`` for any algorithm field, applied to the
algorithms that have a use for it. Each key can also be given as a flag, ``--obs-dim 17`` or
``--obs-dim=17`` (dashes for underscores), the form ``../shared/tools/ref-bench/ref_bench.py
--protocol`` calls it with: ``python -m harness.bench --algo tdmpc2 --sizes 1 --threads 2``.

``mode=offline [suite=mt-smoke]``: offline multi-task training speed instead: gradient updates per
second of the world-model algorithms' multi-task model (the suite's padded dims, task embedding,
action masks) on batches sampled by TorchRL's SliceSampler from a synthetic dataset in the suite's
layout (``python -m harness.bench mode=offline algo=[tdmpc2,mbdpo] sizes=[1,5]``).
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time

import torch
from tensordict import TensorDict
from torch.utils.flop_counter import FlopCounterMode

import algorithms
from algorithms.base import EnvSpec
from algorithms.world_model.config import MODEL_SIZES
from configs.errors import UnknownNameError
from configs.suites import get_suite
from harness.cli import CliError, command_line, one_line_errors
from harness.config import (
    MAX_THREADS,
    ConfigError,
    build_algo_config,
    check_range,
    merge_overrides,
    parse_overrides,
    preset_overrides,
)
from harness.published_only import published_only_problem


@dataclasses.dataclass
class BenchConfig:
    sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 5])
    obs_dim: int = 5  # cartpole-balance's
    action_dim: int = 1
    repeats: int = 10
    threads: int = 0  # torch threads; 0: torch's default
    device: str = "cpu"
    mode: str = "online"  # online | offline (updates per second from a dataset)
    suite: str = "mt-smoke"  # mode=offline: the task set of the multi-task model
    episodes: int = 8  # mode=offline: synthetic episodes per task in the dataset
    preset: str = ""  # a named preset's algorithm fields (configs/presets/), under algo.<field>=


#: each numeric setting's allowed range, inclusive: dims beyond any task's (humanoid 67, dog 223),
#: ``episodes`` synthetic episodes per task held in RAM (mt80 at 1000: some 8 GB)
BENCH_RANGES = {
    "obs_dim": (1, 4096),
    "action_dim": (1, 4096),
    "repeats": (1, 1_000_000),
    "threads": (0, MAX_THREADS),
    "episodes": (1, 1000),
}


def flags_to_tokens(argv: list[str]) -> list[str]:
    """``["--obs-dim", "17", "--algo=mbdpo", "sizes=[1]"]`` -> ``["obs_dim=17", "algo=mbdpo", "sizes=[1]"]``:
    GNU-style flags as ``key=value`` tokens (other tokens pass through); a flag without a value is
    a one-line ConfigError."""
    out, i = [], 0
    while i < len(argv):
        tok = argv[i]
        if not tok.startswith("--"):
            out.append(tok)
            i += 1
            continue
        key, eq, value = tok[2:].partition("=")
        if not eq:
            if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                raise ConfigError(f"bad argument {tok!r}: the flag needs a value, e.g. {tok} 1")
            value, i = argv[i + 1], i + 1
        out.append(f"{key.replace('-', '_')}={value}")
        i += 1
    return out


def parse_args(argv: list[str]) -> tuple[list[str], BenchConfig, list[str]]:
    """``key=value`` tokens (or ``--key value`` flags) -> (algorithms, settings, ``field=value``
    algorithm overrides)."""
    from omegaconf import OmegaConf

    argv = flags_to_tokens(argv)
    overrides = parse_overrides(argv)
    algo_over = [tok.strip().removeprefix("algo.") for tok in argv if tok.strip().startswith("algo.")]
    names = overrides.pop("algo", None)
    if names == []:
        raise ConfigError("algo=[]: an empty list; give at least one algorithm (or leave algo out: every one)")
    algos = [str(a) for a in (names if isinstance(names, list) else [names])] if names is not None else []
    try:
        for algo in algos:
            algorithms.get_algorithm(algo)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None
    rest = {k: v for k, v in overrides.items() if not k.startswith("algo.")}
    if "sizes" in rest and not isinstance(rest["sizes"], list):
        rest["sizes"] = [rest["sizes"]]
    try:
        cfg = OmegaConf.to_object(merge_overrides(OmegaConf.structured(BenchConfig), rest, ""))
    except ConfigError as exc:
        if str(exc).startswith("unknown config key"):
            raise ConfigError(f"{exc}, algo, algo.<field>") from None
        raise

    for key, (low, high) in BENCH_RANGES.items():
        check_range(key, getattr(cfg, key), low, high)
    bad = [s for s in cfg.sizes if s not in MODEL_SIZES] or ([] if cfg.sizes else ["[]"])
    if bad:
        raise ConfigError(f"bad value {bad[0]!r} for sizes; valid model sizes: {', '.join(map(str, MODEL_SIZES))}")
    try:
        suite = get_suite(cfg.suite)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None
    problem = published_only_problem(suite.tasks, f"suite={cfg.suite}")
    if problem:
        raise ConfigError(problem)
    if cfg.preset:
        preset_overrides(cfg.preset, "random")  # the name is checked before anything runs
    return algos or algorithms.algorithm_names(), cfg, algo_over


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


def bf16_matmul_hardware(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The x86 features that multiply bfloat16 natively (what ``algo.matmul_precision=bf16`` needs
    to pay): ``amx_bf16`` and/or ``avx512_bf16``, ``none``, or ``unknown`` where cpuinfo is missing."""
    try:
        flags = set(open(cpuinfo).read().split())
    except OSError:
        return "unknown"
    return "+".join(f for f in ("amx_bf16", "avx512_bf16") if f in flags) or "none"


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


def bench_one(
    algo: str,
    size: int,
    spec: EnvSpec,
    repeats: int,
    device: torch.device,
    overrides: list[str] = (),
    preset: str = "",
) -> dict:
    entry = algorithms.get_algorithm(algo)
    sized = "model" in {f.name for f in dataclasses.fields(entry.config_cls)}
    lacks = entry.lacks({o.split("=")[0]: None for o in overrides})  # e.g. planner.* for sac: not applied
    fits = [o for o in overrides if o.split("=")[0] not in lacks]
    fields = {**preset_overrides(preset, algo), **({"model.size": size} if sized else {}), "seed_steps": 0}
    cfg = build_algo_config(algo, {**fields, **parse_overrides(fits)})
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

        def act(obs=obs):
            agent.act(obs, eval_mode=False, first_step=False)

        row[f"act{n_envs}_ms"] = _median_ms(act, repeats)
        row[f"act{n_envs}_gflops"] = _flops(act) / (row[f"act{n_envs}_ms"] * 1e-3) / 1e9
    return row


def synthetic_offline_replay(suite: str, episodes_per_task: int, batch_size: int, horizon: int):
    """An in-memory dataset in TD-MPC2's layout for ``suite`` (random values, NaN row 0) behind the
    same OfflineReplay (SliceSampler) the offline trainer uses."""
    from harness.data import suite_layout
    from harness.data.offline_replay import OfflineReplay

    layout = suite_layout(suite)
    L = layout.segment_length + 1
    E = episodes_per_task * len(layout.tasks)
    task = torch.arange(len(layout.tasks)).repeat_interleave(episodes_per_task)
    rows = TensorDict(
        obs=torch.randn(E, L, layout.max_obs_dim),
        action=torch.rand(E, L, layout.max_action_dim) * 2 - 1,
        reward=torch.rand(E, L, 1),
        task=task[:, None].expand(E, L).clone(),
        episode=torch.arange(E)[:, None].expand(E, L).clone(),
        batch_size=[E, L],
    )
    rows["action"][:, 0] = float("nan")
    rows["reward"][:, 0] = float("nan")
    return layout, OfflineReplay(rows.reshape(-1), layout, batch_size, horizon)


def bench_offline(
    algo: str,
    size: int,
    suite: str,
    episodes: int,
    repeats: int,
    device: torch.device,
    overrides: list[str] = (),
    preset: str = "",
) -> dict:
    from harness.data import suite_layout
    from harness.training.offline import multitask_spec

    cfg = build_algo_config(algo, {**preset_overrides(preset, algo), "model.size": size, **parse_overrides(overrides)})
    agent = algorithms.get_algorithm(algo).factory(cfg, multitask_spec(suite_layout(suite)), device, total_steps=1000)
    _, replay = synthetic_offline_replay(suite, episodes, *agent.replay_slice)
    ms = _median_ms(lambda: agent.learn(replay.sample()), repeats)
    return {"algo": algo, "size": size, "params_M": agent.num_parameters() / 1e6, "update_ms": ms}


def main_offline(algos: list[str], args: BenchConfig, algo_over: list[str], device: torch.device) -> int:
    algos = [a for a in algos if "offline_learning" in algorithms.get_algorithm(a).capabilities]
    print(
        f"mode=offline suite={args.suite} device={device} threads={torch.get_num_threads()}"
        + (f" preset={args.preset}" if args.preset else "")
        + (f" overrides: {' '.join(algo_over)}" if algo_over else "")
    )
    header = f"{'algo':<16}{'size':>5}{'params':>9}{'update ms':>11}{'updates/s':>11}"
    print(header)
    print("-" * len(header))
    for algo in algos:
        for size in args.sizes:
            r = bench_offline(algo, size, args.suite, args.episodes, args.repeats, device, algo_over, args.preset)
            print(
                f"{algo:<16}{size:>5}{r['params_M']:>8.2f}M{r['update_ms']:>11.1f}{1e3 / r['update_ms']:>11.2f}",
                flush=True,
            )
    return 0


@command_line(__doc__)
def main(argv: list[str]) -> int:
    with one_line_errors(ConfigError, ValueError, RuntimeError):
        algos, args, algo_over = parse_args(argv)
        device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    benches = {"online": main_online, "offline": main_offline}  # a fine-tune's agent calls are online's
    if args.mode not in benches:
        raise CliError(f"bad value {args.mode!r} for mode; valid: {', '.join(benches)}")
    return benches[args.mode](algos, args, algo_over, device)


def main_online(algos: list[str], args: BenchConfig, algo_over: list[str], device: torch.device) -> int:
    spec = EnvSpec(obs_dim=args.obs_dim, action_dim=args.action_dim, episode_length=500)
    peak = matmul_peak_gflops()
    print(
        f"device={device} threads={torch.get_num_threads()} matmul peak={peak:.0f} GFLOP/s (fp32 1024^3)"
        + (f" bf16 hardware={bf16_matmul_hardware()}" if device.type == "cpu" else "")
        + (f" preset={args.preset}" if args.preset else "")
        + (f" overrides: {' '.join(algo_over)}" if algo_over else "")
    )
    header = (
        f"{'algo':<16}{'size':>5}{'params':>9}{'update ms':>11}{'act1 ms':>9}{'act8 ms':>9}"
        "  GFLOP/s upd/act1/act8 (% peak)"
    )
    print(header)
    print("-" * len(header))
    for algo in algos:
        sized = "model" in {f.name for f in dataclasses.fields(algorithms.get_algorithm(algo).config_cls)}
        for size in args.sizes if sized else args.sizes[:1]:
            r = bench_one(algo, size, spec, args.repeats, device, algo_over, args.preset)
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
