"""Write small checkpoints with the reference codes' own classes and their own ``save``, for the
conversion tests (tests/test_reference_weights.py) and the harness's pretrained-checkpoint tests.

    python tools/parity/make_reference_checkpoints.py [--tdmpc2 DIR] [--mbdpo DIR] [--tdmpc2-git GIT]
    python tools/parity/make_reference_checkpoints.py --check      # regenerate into a temp dir, compare

``--tdmpc2`` / ``--mbdpo``: the reference code dirs made CPU-runnable by
``../shared/tools/ref-bench/ref_bench_patch.sh`` (tdmpc2 @ e9f5932, MBDPO @ 5ff5a06);
``--tdmpc2-git``: TD-MPC2's git dir (what the fetch tool returns), whose first commit ``b67b21c``
(the code its released checkpoints were written with) writes the old flat layout. That old code is
taken with ``git archive`` into a temp dir and patched there, device only: ``torch.device('cuda')``
and ``device='cuda'`` become CPU (tdmpc2.py, common/scale.py); it uses functorch, not tensordict,
so nothing else is needed. Nothing of the references is imported by the tests.

Every model is built by the reference (seeded), then each weight tensor gets seeded N(0, 0.1) noise
added in place, so that no tensor keeps its initial value (zero last layers, target == online Q,
LayerNorm gains 1: a conversion that mixed them up would still round-trip): the noise is added to
the reference's own tensors (``_detach_Qs_params`` are ``_Qs.params``, so they are skipped), then
the reference's ``save`` writes the file. Multi-task models have the mt80 shapes: 80 tasks, obs 39,
action 6, each task's own action dims as the environments give them (read from ``envs``, as
TD-MPC2's ``make_multitask_env`` reads them from its environments).

Each reference runs in its own subprocess (both have a top-level package named ``common``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: `python tools/parity/make_reference_checkpoints.py`
    sys.path.insert(0, str(ROOT))
from tools.parity.common import REFBENCH  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "reference_checkpoints"
TASK_SETS = "task_sets.json"  # both references' common/__init__.py TASK_SET, for the suite-order test
OLD_COMMIT = "b67b21c"  # nicklashansen/tdmpc2 "first commit": the flat _Qs.params.N layout
SEED = 24

#: name -> what to build. Widths are reduced so that the files stay small; everything else is the
#: reference's config.yaml.
FIXTURES: dict[str, dict] = {
    "tdmpc2_mt80.pt": dict(code="tdmpc2", task="mt80", enc_dim=24, mlp_dim=24, latent_dim=16, num_enc_layers=2,
                           num_q=3, task_dim=8),
    "tdmpc2_mt80_flat.pt": dict(code="tdmpc2-old", task="mt80", enc_dim=16, mlp_dim=16, latent_dim=16,
                                num_enc_layers=2, num_q=2, task_dim=8),
    "tdmpc2_cartpole-balance.pt": dict(code="tdmpc2", task="cartpole-balance", enc_dim=24, mlp_dim=24,
                                       latent_dim=16, num_enc_layers=3, num_q=2, num_bins=21),
    "tdmpc2_cartpole-balance_flat.pt": dict(code="tdmpc2-old", task="cartpole-balance", enc_dim=24, mlp_dim=24,
                                            latent_dim=16, num_enc_layers=3, num_q=2, num_bins=21),
    "mbdpo_mt80.pt": dict(code="mbdpo", task="mt80", enc_dim=24, mlp_dim=24, latent_dim=16, num_enc_layers=2,
                          num_q=2, task_dim=8, horizon=3, diffusion_time_embed_dim=8),
}  # fmt: skip


def task_dims(tasks: list[str]) -> dict[str, list[int]]:
    """Each task's observation and action dims and episode length, from our environments."""
    sys.path.insert(0, str(ROOT))
    from envs.factory import env_info, make_env

    out = {"obs": [], "action": [], "episode_length": []}
    for task in tasks:
        env = make_env(task, 0)
        out["obs"].append(int(env.observation_spec["observation"].shape[-1]))
        out["action"].append(int(env.action_spec.shape[-1]))
        out["episode_length"].append(int(env_info(task).episode_length))
        env.close()
    return out


def old_code(git_dir: str, into: Path) -> Path:
    """TD-MPC2 at OLD_COMMIT, patched to run on CPU (device only), under ``into``."""
    archive = subprocess.run(
        ["git", f"--git-dir={git_dir}", "archive", OLD_COMMIT, "tdmpc2"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "x", "-C", str(into)], input=archive, check=True)
    code = into / "tdmpc2"
    for name in ("tdmpc2.py", "common/scale.py"):
        path = code / name
        text = path.read_text()
        text = text.replace("torch.device('cuda')", "torch.device('cpu')").replace("device='cuda'", "device='cpu'")
        path.write_text(text)
    return code


# --- in the subprocess: one reference builds and saves one model -------------------------------------


def build_and_save(spec: dict, code_dir: str, config: str, dims: dict, path: str) -> None:
    import contextlib
    import dataclasses
    import io
    from typing import Any

    import torch
    from omegaconf import OmegaConf

    sys.path.insert(0, code_dir)
    torch.manual_seed(SEED)
    cfg = OmegaConf.load(config)
    multitask = spec["task"] in ("mt30", "mt80")
    cfg.task, cfg.obs, cfg.seed, cfg.compile = spec["task"], "state", SEED, False
    if "episodic" in cfg:
        cfg.episodic = False
    cfg.model_size = None
    for key in (
        "enc_dim",
        "mlp_dim",
        "latent_dim",
        "num_enc_layers",
        "num_q",
        "num_bins",
        "horizon",
        "diffusion_time_embed_dim",
    ):
        if key in spec:
            cfg[key] = spec[key]
    # parse_cfg's fields (its hydra import is not needed): multi-task, task_dim, bins
    cfg.bin_size = (cfg.vmax - cfg.vmin) / (cfg.num_bins - 1)
    cfg.multitask = multitask
    cfg.task_dim = spec.get("task_dim", 0) if multitask else 0
    cfg.tasks = dims["tasks"]
    # make_env's fields
    cfg.obs_shape = {"state": [max(dims["obs"])]}
    cfg.action_dim = max(dims["action"])
    cfg.action_dims = dims["action"]
    cfg.episode_lengths = dims["episode_length"]
    cfg.episode_length = max(dims["episode_length"])
    cfg.steps, cfg.seed_steps = 10_000, 1000
    fields = [
        (k, Any, dataclasses.field(default_factory=lambda v_=v: v_)) for k, v in OmegaConf.to_container(cfg).items()
    ]
    config_class = dataclasses.make_dataclass("Config", fields)
    config_class.get = lambda self, val, default=None: getattr(self, val, default)
    cfg = config_class()
    if spec["code"] == "mbdpo":
        from mbdpo import MBDPO as Agent
    else:
        from tdmpc2 import TDMPC2 as Agent
    with contextlib.redirect_stdout(io.StringIO()):
        agent = Agent(cfg)
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for key, value in agent.model.state_dict().items():
            if key.startswith("_detach_Qs_params.") or key == "_action_masks" or not value.is_floating_point():
                continue
            value.add_(0.1 * torch.randn(value.shape, generator=generator))
    agent.save(path)


# --- the parent ----------------------------------------------------------------------------------------


def write_all(out: Path, args: argparse.Namespace) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    dims_cache: dict[str, dict] = {}
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        old_dir = None
        for name, spec in FIXTURES.items():
            task = spec["task"]
            if task not in dims_cache:
                sys.path.insert(0, str(ROOT))
                from configs.suites import get_suite

                tasks = list(get_suite(task).tasks) if task == "mt80" else [task]
                dims_cache[task] = {"tasks": tasks, **task_dims(tasks)}
            if spec["code"] == "tdmpc2":
                code, config = args.tdmpc2, str(Path(args.tdmpc2) / "config.yaml")
            elif spec["code"] == "mbdpo":
                code, config = args.mbdpo, args.mbdpo_config
            else:
                old_dir = old_dir or old_code(args.tdmpc2_git, Path(tmp))
                code, config = str(old_dir), str(old_dir / "config.yaml")
            job = json.dumps(dict(spec=spec, code=code, config=config, dims=dims_cache[task], path=str(out / name)))
            subprocess.run([sys.executable, __file__, "--build", job], check=True, cwd=tmp)
            written.append(out / name)
        task_sets = {}
        for code in ("tdmpc2", "mbdpo"):
            listing = subprocess.run(
                [sys.executable, __file__, "--task-sets", getattr(args, code)],
                check=True,
                cwd=tmp,
                capture_output=True,
                text=True,
            ).stdout
            task_sets[code] = json.loads(listing)
    path = out / TASK_SETS
    path.write_text(json.dumps(task_sets, indent=1) + "\n")
    return [*written, path]


def compare(new: Path, old: Path) -> list[str]:
    import torch

    if new.suffix == ".json":
        return [] if json.loads(new.read_text()) == json.loads(old.read_text()) else [f"{old.name} differs"]

    a = torch.load(new, map_location="cpu", weights_only=True)["model"]
    b = torch.load(old, map_location="cpu", weights_only=True)["model"]
    if list(a) != list(b):
        return [f"{old.name}: keys differ"]
    return [
        f"{old.name}: {k} differs"
        for k in a
        if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or not torch.equal(a[k], b[k])
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tdmpc2", default=str(REFBENCH / "tdmpc2" / "tdmpc2"), help="TD-MPC2's code dir (patched)")
    parser.add_argument("--mbdpo", default=str(REFBENCH / "MBDPO" / "MBDPO"), help="MBDPO's code dir (patched)")
    parser.add_argument("--mbdpo-config", default=None, help="MBDPO's cfgs/config.yaml (default: next to --mbdpo)")
    parser.add_argument(
        "--tdmpc2-git", default=os.environ.get("TDMPC2_GIT"), help="TD-MPC2's git dir (default: $TDMPC2_GIT)"
    )
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    parser.add_argument("--build", help=argparse.SUPPRESS)
    parser.add_argument("--task-sets", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.task_sets:  # in a subprocess: print one reference's TASK_SET
        sys.path.insert(0, args.task_sets)
        from common import TASK_SET

        print(json.dumps(TASK_SET))
        return 0
    if args.build:
        job = json.loads(args.build)
        build_and_save(job["spec"], job["code"], job["config"], job["dims"], job["path"])
        return 0
    args.mbdpo_config = args.mbdpo_config or str(Path(args.mbdpo).parent / "cfgs" / "config.yaml")
    if not args.tdmpc2_git:
        print("error: --tdmpc2-git (or $TDMPC2_GIT) is required: TD-MPC2's git dir", file=sys.stderr)
        return 2
    for path in (args.tdmpc2, args.mbdpo, args.mbdpo_config, args.tdmpc2_git):
        if not os.path.exists(path):
            print(f"error: {path} does not exist (see the module docstring)", file=sys.stderr)
            return 2
    if not args.check:
        for path in write_all(Path(args.out), args):
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size} bytes")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        problems = []
        for path in write_all(Path(tmp), args):
            committed = Path(args.out) / path.name
            problems += compare(path, committed) if committed.exists() else [f"{committed} is missing"]
    for line in problems:
        print(line)
    print(
        "reference checkpoints: "
        + ("DIFFER" if problems else f"all {len(FIXTURES)} identical, tensor by tensor, and {TASK_SETS}")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
