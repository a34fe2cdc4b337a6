"""Golden numbers from TD-MPC2's own code (nicklashansen/tdmpc2 @ e9f5932) for tests/test_parity_tdmpc2.py.

For a reduced-width model (enc 32, mlp 16, latent 16, 5 Q heads, 101 bins, dropout 0), single-task
(obs 17, action 6, episode length 500) and multi-task (3 tasks of obs 17/9/5, action 6/3/1 and
episode lengths 500/250/100, padded, task_dim 8), with weights drawn at random (the reference's
own init leaves the reward and Q heads' last layers at zero) and a target Q different from the
online one, this records at fp32, calling the reference's own functions:

- forward: encoder, dynamics, reward logits and value, the policy prior (mean, log-std, a sample
  for a given noise, log-prob, scaled entropy), every Q head's and target head's logits, Q min/avg
  of a pinned pair;
- one ``TDMPC2._update`` on a fixed batch (gradient clipping at 0.25, so that it acts): every loss
  term, every parameter's gradient as the optimisers saw it (after clipping), the gradient left
  pending (multi-task: the policy loss's on the task embedding), the state dict after the
  optimiser steps and the target update; then a second update (its smaller tensors only);
- two ``TDMPC2._plan`` calls (t0=True, then the warm start t0=False): per MPPI iteration the elite
  indices, mean and std, the returned action and the kept mean.

Every random draw of the reference (``torch.randn``, ``randn_like``, ``randperm``, the Gumbel
draw's ``Tensor.exponential_``) is taken from a seeded generator and stored in order, so the tests
replay exactly the numbers the reference used. The weights are stored as the reference's own
``state_dict`` (torch.save keeps ``_detach_Qs_params``, which shares ``_Qs.params``'s storage, once).

Usage (from the repository root; the reference made CPU-runnable by ref_bench_patch.sh):
    python -m tools.parity.tdmpc2_fixtures [--ref $REFBENCH/tdmpc2/tdmpc2]          # write
    python -m tools.parity.tdmpc2_fixtures --check                                         # compare
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file: make ``tools.parity`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.parity.common import (  # noqa: E402
    FIXTURE_DIR,
    REFBENCH,
    DrawRecorder,
    TaskSet,
    build_cfg,
    cfg_fields,
    check_or_write,
    import_reference,
    plain_state_dict,
    warn_if_other_commit,
)

REFERENCE = "nicklashansen/tdmpc2@e9f5932"
DEFAULT_REF = REFBENCH / "tdmpc2" / "tdmpc2"
WIDTHS = dict(enc_dim=32, mlp_dim=16, latent_dim=16, num_enc_layers=2, num_q=5, num_bins=101, dropout=0.0)
PLANNING = dict(num_samples=32, num_elites=4, num_pi_trajs=4, iterations=6, horizon=3)
BATCH_SIZE = 8
#: below the gradient norms of these updates (about 0.4-0.7, the policy's 1-3), so that both
#: optimisers' clipping acts (the config's 20 never would on a tiny model)
GRAD_CLIP_NORM = 0.25
FORWARD_ROWS = 4
SINGLE = dict(obs_dim=17, action_dim=6, episode_length=500)
MULTI = TaskSet(["task-a", "task-b", "task-c"], [17, 9, 5], [6, 3, 1], [500, 250, 100], task_dim=8)
#: what the tests need to build the same agent
CFG_KEYS = [
    "enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q", "num_bins", "vmin", "vmax", "simnorm_dim",
    "dropout", "log_std_min", "log_std_max", "task_dim", "multitask", "action_dim", "obs_shape", "episode_length",
    "batch_size", "lr", "enc_lr_scale", "grad_clip_norm", "rho", "consistency_coef", "reward_coef", "value_coef",
    "entropy_coef", "tau", "discount_denom", "discount_min", "discount_max", "horizon", "num_samples", "num_elites",
    "num_pi_trajs", "iterations", "temperature", "min_std", "max_std",
]  # fmt: skip
PINNED = ("randn", "randn_like", "randperm")
#: the biggest tensors, left out of the second update's record
LARGE = ("_Qs.", "_detach_Qs_params.", "_target_Qs_params.", "_reward.2.")


def randomise_(model, generator: torch.Generator) -> None:
    """Random weights of a realistic scale in every layer (the reference zeroes the reward and Q
    heads' last layers), task embeddings of norms on both sides of max_norm=1, and target Q heads
    that differ from the online ones."""
    state = model.state_dict()
    new = {}
    for key, value in state.items():
        if not torch.is_tensor(value) or key.startswith(("_detach_Qs_params", "_target_Qs_params")):
            continue
        if key in ("log_std_min", "log_std_dif", "_action_masks"):
            continue
        noise = torch.randn(value.shape, generator=generator)
        if key.endswith("ln.weight"):
            new[key] = 1 + 0.2 * noise
        elif key.endswith(("ln.bias", "bias")):
            new[key] = 0.2 * noise
        elif key.endswith("weight") and key.startswith("_task_emb"):
            norms = torch.linspace(0.5, 1.5, value.shape[0]).unsqueeze(1)  # the last rows get renormalised
            new[key] = noise / noise.norm(dim=1, keepdim=True) * norms
        elif key.endswith("weight"):
            new[key] = noise * 1.5 / value.shape[-1] ** 0.5
        else:
            raise ValueError(f"unexpected state dict entry {key}")
    for key in [k for k in new if k.startswith("_Qs.params.")]:
        name = key[len("_Qs.params.") :]
        new[f"_detach_Qs_params.{name}"] = new[key]
        new[f"_target_Qs_params.{name}"] = new[key] + 0.1 * new[key].std() * torch.randn(
            new[key].shape, generator=generator
        )
    state.update(new)
    model.load_state_dict(state)


@contextlib.contextmanager
def frame_snapshots(code, line: int, names: tuple[str, ...], out: list):
    """Append ``{name: value}`` of ``code``'s local variables each time its line ``line`` runs
    (a loop header runs once on entry and once after each iteration)."""

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno == line:
            out.append({n: frame.f_locals[n].clone() for n in names if torch.is_tensor(frame.f_locals.get(n))})
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield out
    finally:
        sys.settrace(previous)


def loop_header_line(function, text: str) -> int:
    lines, start = inspect.getsourcelines(function)
    hits = [start + i for i, src in enumerate(lines) if src.strip().startswith(text)]
    if len(hits) != 1:
        raise SystemExit(f"cannot find {text!r} in {function.__qualname__}: has the reference changed?")
    return hits[0]


def draws_of(recorder: DrawRecorder) -> list[tuple[str, torch.Tensor]]:
    return [(name, value) for name, value in recorder.take()]


def task_inputs(tasks: TaskSet | None, rows: int, obs_dim: int, action_dim: int, g: torch.Generator):
    """Observations [rows, obs_dim] zero-padded beyond each row's task's own dims, actions
    [rows, A] in [-1, 1] (padded entries left non-zero: a random seed action is not masked), ids."""
    obs = torch.randn(rows, obs_dim, generator=g)
    action = torch.rand(rows, action_dim, generator=g) * 2 - 1
    if tasks is None:
        return obs, action, None
    task = torch.arange(rows) % len(tasks.names)
    for i, t in enumerate(task.tolist()):
        obs[i, tasks.obs_dims[t] :] = 0
    return obs, action, task


def forward_fixture(agent, tasks, g: torch.Generator) -> dict:
    model, cfg = agent.model, agent.cfg
    obs, action, task = task_inputs(tasks, FORWARD_ROWS, cfg.obs_shape["state"][0], cfg.action_dim, g)
    from common import math  # the reference's

    recorder = DrawRecorder(seed=1)
    out = {}
    with torch.no_grad(), recorder.patch(*PINNED):
        z = model.encode(obs, task)
        out["z"] = z
        out["next_z"] = model.next(z, action, task)
        out["reward_logits"] = model.reward(z, action, task)
        out["reward"] = math.two_hot_inv(out["reward_logits"], cfg)
        pi_action, info = model.pi(z, task)
        out["pi_action"], out["pi_mean"], out["pi_log_std"] = pi_action, info["mean"], info["log_std"]
        out["pi_log_prob"], out["pi_scaled_entropy"] = -info["entropy"], info["scaled_entropy"]
        out["q_logits"] = model.Q(z, action, task, return_type="all")
        out["target_q_logits"] = model.Q(z, action, task, return_type="all", target=True)
        out["q_min"] = model.Q(z, action, task, return_type="min")
        out["q_avg"] = model.Q(z, action, task, return_type="avg")
        out["target_q_min"] = model.Q(z, action, task, return_type="min", target=True)
    return {"obs": obs, "action": action, "task": task, "draws": draws_of(recorder), "outputs": out}


def small(values: dict, keep_all: bool) -> dict:
    """All entries, or (a second update) those outside the Q ensembles and the reward's last layer,
    which hold most of the bytes."""
    return {k: v for k, v in values.items() if keep_all or not k.startswith(LARGE)}


def update_fixture(agent, tasks, g: torch.Generator, seed: int, first: bool = True) -> dict:
    """One ``_update``. The second one (``first=False``) checks what the first leaves behind (the
    Adam moments and step count, the value scale, multi-task: the pending task-embedding gradient
    joining this update's) and stores only the smaller tensors of its gradients and parameters."""
    cfg, model = agent.cfg, agent.model
    H, B, A = cfg.horizon, cfg.batch_size, cfg.action_dim
    obs, action, task = task_inputs(tasks, (H + 1) * B, cfg.obs_shape["state"][0], A, g)
    obs = obs.view(H + 1, B, -1)
    if task is not None:  # one task per batch column, as the buffer samples whole sub-trajectories
        task = torch.randint(len(tasks.names), (B,), generator=g)
        for b, t in enumerate(task.tolist()):
            obs[:, b, tasks.obs_dims[t] :] = 0
    action = action[: H * B].view(H, B, A)
    reward = torch.randn(H, B, 1, generator=g) * 3
    terminated = torch.zeros(H, B, 1)
    names = {id(p): n for n, p in model.named_parameters()}
    grads = {}

    def recording(optim, label):
        step = optim.step

        def wrapped(*args, **kwargs):
            grads[label] = {
                names[id(p)]: p.grad.detach().clone()
                for group in optim.param_groups
                for p in group["params"]
                if p.grad is not None
            }
            return step(*args, **kwargs)

        return wrapped

    agent.optim.step = recording(agent.optim, "model")
    agent.pi_optim.step = recording(agent.pi_optim, "pi")
    recorder = DrawRecorder(seed=seed)
    kwargs = {"task": task} if task is not None else {}
    with recorder.patch(*PINNED):
        info = agent._update(obs, action, reward, terminated, **kwargs)
    del agent.optim.step, agent.pi_optim.step
    pending = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return {
        "batch": {"obs": obs, "action": action, "reward": reward, "terminated": terminated, "task": task},
        "draws": draws_of(recorder),
        "info": {k: v.detach().clone() for k, v in info.items()},
        "grads": small(grads["model"], first),
        "pi_grads": grads["pi"],
        "pending_grads": pending,
        "scale": agent.scale.value.detach().clone(),
        "state_dict": small(plain_state_dict(model.state_dict()), first),
    }


def plan_fixture(agent, tasks, g: torch.Generator) -> list[dict]:
    cfg = agent.cfg
    obs_dim = cfg.obs_shape["state"][0]
    task_id = 1 if tasks is not None else None  # a task with fewer action dims than the padding
    header = loop_header_line(type(agent)._plan, "for _ in range(self.cfg.iterations)")
    calls = []
    for t0 in (True, False):
        obs = torch.randn(obs_dim, generator=g)
        if tasks is not None:
            obs[tasks.obs_dims[task_id] :] = 0
        task = None if task_id is None else torch.tensor([task_id])
        recorder = DrawRecorder(seed=3 + int(t0))
        snapshots: list = []
        with recorder.patch(*PINNED), recorder.patch("exponential_", target=torch.Tensor):
            with frame_snapshots(
                inspect.unwrap(type(agent)._plan).__code__, header, ("mean", "std", "elite_idxs", "score"), snapshots
            ):
                action = agent.plan(obs.unsqueeze(0), t0=t0, eval_mode=False, task=task)
        if len(snapshots) != cfg.iterations + 1:
            raise SystemExit(f"expected {cfg.iterations + 1} loop snapshots of _plan, got {len(snapshots)}")
        calls.append(
            {
                "obs": obs,
                "task": task_id,
                "t0": t0,
                "eval_mode": False,
                "draws": draws_of(recorder),
                "initial": snapshots[0],
                "iterations": snapshots[1:],
                "action": action.clone(),
                "prev_mean": agent._prev_mean.clone(),
            }
        )
    return calls


def build_agent(code_dir: Path, tasks: TaskSet | None, seed: int):
    (tdmpc2,) = import_reference(code_dir, "tdmpc2")
    warn_if_other_commit(code_dir, REFERENCE)
    single = {} if tasks is not None else SINGLE
    cfg = build_cfg(
        code_dir / "config.yaml",
        tasks=tasks,
        batch_size=BATCH_SIZE,
        grad_clip_norm=GRAD_CLIP_NORM,
        **single,
        **WIDTHS,
        **PLANNING,
    )
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its episode length and discount
        agent = tdmpc2.TDMPC2(cfg)
    randomise_(agent.model, torch.Generator().manual_seed(seed))
    return agent, cfg


def make_fixture(code_dir: Path, tasks: TaskSet | None, seed: int) -> dict:
    torch.set_num_threads(1)
    agent, cfg = build_agent(code_dir, tasks, seed)
    fixture = {
        "reference": REFERENCE,
        "torch": torch.__version__,
        "cfg": cfg_fields(cfg, CFG_KEYS),
        "tasks": None if tasks is None else vars(tasks).copy(),
        "discount": torch.as_tensor(agent.discount, dtype=torch.float32),
        "state_dict": plain_state_dict(agent.model.state_dict()),
    }
    g = torch.Generator().manual_seed(seed + 100)
    fixture["forward"] = forward_fixture(agent, tasks, g)
    fixture["plan"] = plan_fixture(agent, tasks, g)  # before the update: planning on the stored weights
    fixture["update"] = update_fixture(agent, tasks, g, seed=2)
    fixture["update2"] = update_fixture(agent, tasks, g, seed=5, first=False)
    return fixture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", type=Path, default=DEFAULT_REF, help="the CPU-runnable tdmpc2 code dir")
    parser.add_argument("--out", type=Path, default=FIXTURE_DIR)
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare to --out")
    args = parser.parse_args(argv)
    if not (args.ref / "tdmpc2.py").is_file():
        print(f"--ref {args.ref}: no tdmpc2.py there (the reference's tdmpc2/ directory is needed)", file=sys.stderr)
        return 2
    fixtures = {
        "tdmpc2_single.pt": make_fixture(args.ref, None, seed=0),
        "tdmpc2_multi.pt": make_fixture(args.ref, MULTI, seed=1),
    }
    return check_or_write(fixtures, args.check, args.out)


if __name__ == "__main__":
    sys.exit(main())
