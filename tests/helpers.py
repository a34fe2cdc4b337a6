"""Helpers shared by the test modules (plain functions and constants; fixtures live in conftest.py).

No test module imports another test module: what two of them share is here."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from rliable import library as rly
from rliable import metrics

from analysis.results import RESULT_COLUMNS

#: evaluation steps of the published-results fixtures
PUBLISHED_STEPS = (0, 100000, 200000)


# ----------------------------------------------------------------------------- tiny algorithms
# The cheapest real TD-MPC2: a narrowed size-1 model, small planner and batch. Used by end-to-end tests.
TINY_ALGO = [
    "algo.model.size=1",
    # the size-1 preset's layout (2 encoder layers, 2 Q heads, 101 bins) at a quarter of its widths
    "algo.model.enc_dim=64",
    "algo.model.mlp_dim=64",
    "algo.model.latent_dim=32",
    "algo.batch_size=32",
    "algo.seed_steps=100",
    "algo.planner.num_samples=32",
    "algo.planner.num_elites=4",
    "algo.planner.num_pi_trajs=4",
    "algo.planner.iterations=2",
]


def stopped_run_args(runs_dir: Path, task: str, seed: int, suite: str) -> list[str]:
    """The overrides of :func:`stopped_run`'s run (to resume it)."""
    return [
        f"task={task}",
        f"seed={seed}",
        "steps=1000",
        "eval_every=1000",
        "eval_episodes=1",
        "eval_at_start=false",
        "threads=1",
        "checkpoint_every=500",
        f"runs_dir={runs_dir}",
        f"suite={suite}",
        "logger=none",
        *TINY_ALGO,
        "algo.seed_steps=500",
    ]


def stopped_run(runs_dir: Path, task: str, seed: int, suite: str) -> Path:
    """A real, unfinished TD-MPC2 run of ``task``: stopped (as by Slurm's SIGUSR2) at its first
    episode end, so its checkpoint.pt holds one complete 500-step episode of real env data. The seed
    phase covers the episode (algo.seed_steps=500) to keep it fast; the buffer's layout is the same."""
    import pytest

    from harness import stop
    from harness.config import parse_overrides
    from harness.run import execute

    stop.request_stop("test: stop at the first episode end")
    try:
        with pytest.raises(stop.Preempted):
            execute(parse_overrides(stopped_run_args(runs_dir, task, seed, suite)), verbose=False)
    finally:
        stop.clear_stop()
    (path,) = Path(runs_dir).glob(f"{suite}/{task}/*/*/seed_{seed}")
    assert (path / "checkpoint.pt").exists()
    return path


# The cheapest real SAC.
TINY_SAC = ["algo.hidden_dims=[64,64]", "algo.batch_size=32", "algo.seed_steps=100"]


def tiny_algo(name: str) -> list[str]:
    """Tiny-budget overrides for a registered algorithm (world-model agents vs SAC)."""
    import dataclasses

    import algorithms
    from harness.config import build_algo_config

    entry = algorithms.get_algorithm(name)
    fields = {f.name for f in dataclasses.fields(entry.config_cls)}
    if not fields:  # nothing to make smaller (the random policy)
        return []
    if "model" not in fields:
        return TINY_SAC
    lacks = entry.lacks(
        {t.split("=")[0].removeprefix("algo."): None for t in TINY_ALGO}
    )  # e.g. planner.* for tdmpc2-pi
    tiny = [t for t in TINY_ALGO if t.split("=")[0].removeprefix("algo.") not in lacks]
    if build_algo_config(name, []).planner.kind == "diffusion":  # 20 denoising steps by default
        tiny.append("algo.planner.diffusion_steps=4")
    return tiny


# ----------------------------------------------------------------------------- synthetic results
# ----------------------------------------------------------------------------- synthetic results
def write_run(
    root: Path,
    task: str,
    algo: str,
    seed: int,
    scores: dict[int, list[float]],
    *,
    variant: str = "default",
    suite: str = "dmc-smoke",
    state: str = "done",
    error: str | None = None,
) -> Path:
    """One run directory as in docs/results-format.md; ``scores`` maps step -> episode scores."""
    run_dir = root / suite / task / algo / variant / f"seed_{seed}"
    run_dir.mkdir(parents=True)
    rows = [
        {
            "suite": suite,
            "task": task,
            "algo": algo,
            "variant": variant,
            "seed": seed,
            "step": step,
            "episode": episode,
            "return": score * 10,
            "length": 500,
            "score": score,
            "success": "",
        }
        for step, episode_scores in scores.items()
        for episode, score in enumerate(episode_scores)
    ]
    pd.DataFrame(rows, columns=list(RESULT_COLUMNS)).to_csv(run_dir / "eval.csv", index=False)
    last = max(scores, default=0)
    (run_dir / "status.json").write_text(
        json.dumps(
            {
                "state": state,
                "step": last,
                "total_steps": 3000,
                "error": error,
                "traceback": None,
                "updated": "2025-01-01T00:00:00",
            }
        )
    )
    (run_dir / "config.yaml").write_text(f"task: {task}\nalgo: {algo}\nseed: {seed}\n")
    return run_dir


def table_from(values: dict[tuple[str, str, int], dict[int, float]], variant: str = "default") -> pd.DataFrame:
    """An eval table from {(algo, task, seed): {step: score}} (one episode per eval)."""
    rows = [
        {
            "suite": "s",
            "task": task,
            "algo": algo,
            "variant": variant,
            "seed": seed,
            "step": step,
            "episode": 0,
            "return": score,
            "length": 1,
            "score": score,
            "success": np.nan,
        }
        for (algo, task, seed), by_step in values.items()
        for step, score in by_step.items()
    ]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def rliable_direct(matrix: np.ndarray, reps: int, seed: int, gamma: float = 100.0):
    def func(x):
        return np.array(
            [
                metrics.aggregate_iqm(x),
                metrics.aggregate_median(x),
                metrics.aggregate_mean(x),
                metrics.aggregate_optimality_gap(x, gamma),
            ]
        )

    np.random.seed(seed)
    points, intervals = rly.get_interval_estimates({"a": matrix}, func, reps=reps)
    return points["a"], intervals["a"]


# ----------------------------------------------------------------------------- published baselines
def write_published(
    root: Path,
    algo: str,
    task: str,
    values: dict[int, dict[int, float]],
    *,
    column: str = "reward",
    seed_order: tuple[int, ...] | None = None,
) -> Path:
    """``root/results/<algo>/<task>.csv`` as both repositories write it: ``step,<column>,seed``,
    one block of rows per seed. ``values``: seed -> {step: value}."""
    path = root / "results" / algo / f"{task}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"step,{column},seed"]
    for seed in seed_order or tuple(values):
        lines += [f"{step},{value:.1f},{seed}" for step, value in values[seed].items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def tdmpc2_repo(root: Path) -> Path:
    """A TD-MPC2 checkout: DMControl `reward` (return 0-1000), Meta-World and MyoSuite `success` in [0, 1]."""
    write_published(
        root,
        "tdmpc2",
        "cup-catch",
        {
            3: {0: 0.0, 100000: 973.3, 200000: 978.0},
            2: {0: 0.0, 100000: 983.7, 200000: 977.0},
            1: {0: 0.0, 100000: 986.7, 200000: 980.6},
        },
    )
    write_published(
        root,
        "tdmpc2",
        "mw-assembly",
        {
            1: {0: 0.0, 100000: 0.2, 200000: 0.9},
            2: {0: 0.0, 100000: 0.4, 200000: 1.0},
            3: {0: 0.1, 100000: 0.3, 200000: 0.8},
        },
        column="success",
    )
    # TD-MPC2's name for our myo-reach (configs/suites.yaml's published_names)
    write_published(root, "tdmpc2", "myo-hand-reach", {1: {0: 0.0, 100000: 0.5}}, column="success")
    write_published(root, "tdmpc2", "walker-fly", {1: {0: 0.0, 100000: 5.0}})  # a task named by no suite
    write_published(root, "tdmpc2-pixels", "cup-catch", {1: {0: 0.0, 100000: 500.0}})
    write_published(root, "sac", "cup-catch", {s: {0: 0.0, 100000: 300.0 + s, 200000: 600.0 + s} for s in (1, 2, 3)})
    return root


def mbdpo_repo(root: Path) -> Path:
    """An MBDPO checkout: its own `results/mbdpo/` uses `reward` for Meta-World, in percent."""
    write_published(
        root,
        "mbdpo",
        "cup-catch",
        {
            1: {0: 0.0, 100000: 952.0, 200000: 997.0},
            2: {0: 0.0, 100000: 998.0, 200000: 1000.0},
            3: {0: 0.0, 100000: 991.0, 200000: 996.0},
        },
    )
    write_published(
        root,
        "mbdpo",
        "mw-assembly",
        {
            1: {0: 0.0, 100000: 50.0, 200000: 70.0},
            2: {0: 0.0, 100000: 0.0, 200000: 90.0},
            3: {0: 0.0, 100000: 30.0, 200000: 100.0},
        },
    )
    (root / "results" / "README.md").write_text("# Task sets\n")
    # MBDPO's repository ships TD-MPC2's baselines too (same files).
    tdmpc2_repo(root)
    return root


# ------------------------------------------------------------------------------------- reports
def own_runs(root: Path) -> Path:
    """Our runs on cup-catch and mw-assembly (3 seeds, evals at 0, 100k, 200k) and cartpole-balance."""
    for seed in (1, 2, 3):
        for task, base in (("cup-catch", 40.0), ("cartpole-balance", 70.0)):
            write_run(
                root, task, "mbdpo", seed, {s: [base + seed + s / 10000] for s in PUBLISHED_STEPS}, suite="dmc-smoke"
            )
    return root


@contextlib.contextmanager
def signal_handlers_kept():
    """Restore SIGINT, SIGTERM and SIGUSR2's handlers after the block: harness.run's main installs
    its own (a stop request at the next episode end), which must not outlive a test that calls it."""
    import signal

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
