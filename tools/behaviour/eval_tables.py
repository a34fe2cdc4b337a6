"""A tiny run of every registered algorithm in each mode; every eval csv is copied to OUT/golden/.

    python tools/behaviour/eval_tables.py SRC_TREE OUT_DIR      # e.g. a `git worktree` of each commit
    python tools/behaviour/compare.py BEFORE/golden AFTER/golden

For a refactor that must not change behaviour (issue 25): run it on a worktree of the commit before
and of the one after, then compare. Everything goes through the command line (python -m ...) with
cwd=SRC_TREE, so it works on any commit. Two runs at a time, threads=1 each (CPU determinism);
about 40 minutes on 2 cores. Online: 11 algorithms; offline: the 9 world-model ones on mt-smoke
from a dataset exported from two real 500-step runs; fine-tune: those 9 on reacher-hard and 3
reference-checkpoint fixtures; 2 harness.evaluate runs.
"""

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SRC, OUT = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(SRC), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
WM = ["tdmpc2", "tdmpc2-pi", "mppi", "cem", "diffusion", "mbdpo", "mbdpo-aligned", "mbdpo-noanchor", "mbdpo-score"]
ALL = WM + ["sac", "random"]
TINY = [
    "algo.model.size=1",
    "algo.model.enc_dim=64",
    "algo.model.mlp_dim=64",
    "algo.model.latent_dim=32",
    "algo.batch_size=32",
    "algo.planner.num_samples=32",
    "algo.planner.num_elites=4",
    "algo.planner.num_pi_trajs=4",
    "algo.planner.iterations=2",
]
NO_PLANNER = {"tdmpc2-pi"}
NO_PI_TRAJS = {"mppi", "cem", "diffusion"}
DIFFUSION = {"diffusion", "mbdpo", "mbdpo-aligned", "mbdpo-noanchor", "mbdpo-score"}


def tiny(algo, model=True):
    if algo == "random":
        return []
    if algo == "sac":
        return ["algo.hidden_dims=[64,64]", "algo.batch_size=32"]
    out = [t for t in TINY if model or not t.startswith("algo.model.")]
    if algo in NO_PLANNER:
        out = [t for t in out if not t.startswith("algo.planner.")]
    if algo in NO_PI_TRAJS:
        out = [t for t in out if not t.startswith("algo.planner.num_pi_trajs")]
    if algo in DIFFUSION:
        out.append("algo.planner.diffusion_steps=4")
    return out


def sh(args):
    p = subprocess.run([PY, "-m", *args], cwd=SRC, env=ENV, capture_output=True, text=True)
    if p.returncode:
        print("FAILED", args, p.stdout[-2000:], p.stderr[-3000:], flush=True)
    return p.returncode


COMMON = ["logger=none", "threads=1", "eval_episodes=1"]
R = OUT / "runs"
# 1. data: two finished 500-step tdmpc2 runs (seed phase), exported as an mt-smoke dataset
data_runs = OUT / "data_runs"
for t in ("cartpole-balance", "reacher-easy"):
    sh(
        [
            "harness.run",
            f"task={t}",
            "steps=500",
            "eval_every=500",
            "eval_at_start=false",
            "suite=mt-smoke",
            f"runs_dir={data_runs}",
            *COMMON,
            *tiny("tdmpc2"),
            "algo.seed_steps=500",
        ]
    )
sh(["harness.export", str(data_runs), "--suite", "mt-smoke", "--out", str(OUT / "dataset")])


def online(a):
    seed = [] if a == "random" else ["algo.seed_steps=100"]
    return sh(
        [
            "harness.run",
            "task=cartpole-balance",
            "seed=3",
            "steps=300",
            "eval_every=300",
            "eval_at_start=false",
            f"runs_dir={R}",
            "suite=dmc-smoke",
            *COMMON,
            f"algo={a}",
            *tiny(a),
            *seed,
        ]
    )


def offline_then_finetune(a):
    rc = sh(
        [
            "harness.run",
            "mode=offline",
            "suite=mt-smoke",
            f"dataset={OUT / 'dataset'}",
            "steps=4",
            "eval_every=4",
            "eval_at_start=false",
            f"runs_dir={R}",
            *COMMON,
            f"algo={a}",
            *tiny(a),
            "algo.batch_size=16",
        ]
    )
    pre = next((R / "mt-smoke" / "multitask" / a).glob("*/seed_1"))
    return rc or sh(
        [
            "harness.run",
            "mode=finetune",
            f"checkpoint={pre}",
            "task=reacher-hard",
            "steps=520",
            "eval_every=520",
            f"runs_dir={R}",
            *COMMON,
            f"algo={a}",
            *tiny(a),
        ]
    )


FIX = SRC / "tests/fixtures/reference_checkpoints"


def reference(job):
    name, task, a, steps = job
    return sh(
        [
            "harness.run",
            "mode=finetune",
            f"checkpoint={FIX / name}",
            f"task={task}",
            f"steps={steps}",
            f"eval_every={steps}",
            f"runs_dir={R}",
            *COMMON,
            f"algo={a}",
            *tiny(a, model=False),
        ]
    )


jobs = (
    [(online, a) for a in ALL]
    + [(offline_then_finetune, a) for a in WM]
    + [
        (reference, j)
        for j in [
            ("tdmpc2_mt80.pt", "mw-reach", "tdmpc2", 200),
            ("mbdpo_mt80.pt", "mw-push", "mbdpo", 200),
            ("tdmpc2_cartpole-balance_flat.pt", "cartpole-swingup", "tdmpc2-pi", 520),
        ]
    ]
)
with ThreadPoolExecutor(2) as pool:
    rcs = list(pool.map(lambda j: j[0](j[1]), jobs))
# evaluate: an offline run and a reference file
for ck, extra in (
    (next((R / "mt-smoke/multitask/mbdpo").glob("*/seed_1")), []),
    (FIX / "tdmpc2_cartpole-balance.pt", ["task=cartpole-balance"]),
):
    sh(["harness.evaluate", f"checkpoint={ck}", "episodes=2", f"out={OUT / 'evaluate' / ck.stem}", "threads=1", *extra])
gold = OUT / "golden"
for f in sorted(R.rglob("eval.csv")) + sorted((OUT / "evaluate").rglob("*.csv")):
    dst = gold / f.relative_to(OUT)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(f, dst)
print("failed jobs:", sum(1 for r in rcs if r), "eval files:", len(list(gold.rglob("*.csv"))))
