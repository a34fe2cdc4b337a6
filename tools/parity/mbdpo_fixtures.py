"""Golden numbers from MBDPO's own code (Edmond1Cheng/MBDPO @ 5ff5a06) for tests/test_parity_mbdpo.py.

Builds reduced-width MBDPO agents (single-task; multi-task with three tasks of different
observation and action sizes and episode lengths), gives every weight a seeded random value (the
references' init leaves last layers at zero, which would hide errors), and records at fp32:

- ``forward``: encoder, dynamics, reward logits, pi (mean, log-std, a sample for a given noise,
  log-prob, scaled entropy), every Q head, every target Q head, F (raw and normalised with given EMA
  statistics) and the score network;
- ``update``: one ``MBDPO._update`` on a fixed batch: every loss term, every parameter's gradient
  (as the optimisers see them), the parameters after both optimiser steps and the target update,
  F's statistics and the value scale after it;
- ``plan``: two calls of MBDPO's reverse-diffusion planner (first step, then the warm start), with
  the energy bonus on: each denoising step's values and elite indices, the plan and the action.

Every random number the reference draws (``torch.randn/randn_like/rand/rand_like/randint/
randperm``) is recorded in call order, so the tests can hand the same numbers to ours. Run::

    python -m tools.parity.mbdpo_fixtures --ref ../refbench/MBDPO          # writes the fixtures
    python -m tools.parity.mbdpo_fixtures --ref ../refbench/MBDPO --check  # regenerates and compares

``--ref`` (default ``$REFBENCH/MBDPO``) is a checkout made CPU-runnable by ``ref_bench_patch.sh``
(code in ``MBDPO/``, config in ``cfgs/config.yaml``). Deterministic: same reference, same files.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

import torch

from tools.parity.common import FIXTURE_DIR, REFBENCH, TaskSet, build_cfg, check_or_write, import_reference

#: a ref_bench_patch.sh checkout of Edmond1Cheng/MBDPO: code in MBDPO/, config in cfgs/config.yaml
DEFAULT_REF = REFBENCH / "MBDPO"

#: reduced widths shared by every variant (the reference's config.yaml gives the rest)
WIDTHS = dict(enc_dim=32, mlp_dim=16, latent_dim=16, num_enc_layers=2, num_q=3, num_bins=101, simnorm_dim=8)
#: training and planning sizes small enough for fixtures of a few hundred kB
SIZES = dict(
    horizon=3,
    batch_size=8,
    dropout=0.0,
    diffusion_steps=6,
    diffusion_num_samples=32,
    diffusion_num_elites=6,
    diffusion_num_pi_trajs=4,
    diffusion_time_embed_dim=16,
    diffusion_num_samples_mf=16,
)
#: name -> (observation dims, action dims, episode lengths, task_dim, score network trained)
VARIANTS = {
    "single": dict(obs_dims=[7], action_dims=[3], episode_lengths=[100], task_dim=0, score=False),
    "multi": dict(obs_dims=[7, 5, 9], action_dims=[3, 1, 2], episode_lengths=[100, 500, 250], task_dim=8, score=True),
}
#: the EMA statistics of F and the value scale the agents start from (not 0 / 1, so they matter)
F_MEAN, F_STD, SCALE = 0.3, 1.7, 1.25
RANDOM_FUNCTIONS = ("randn", "randn_like", "rand", "rand_like", "randint", "randperm")


# --- the reference ---------------------------------------------------------------------------
def reference_agent(reference: Path, variant: dict):
    """MBDPO's agent at the variant's sizes (its config.yaml, then what parse_cfg/make_env set)."""
    (mbdpo,) = import_reference(reference / "MBDPO", "mbdpo")
    dims = dict(obs_dims=variant["obs_dims"], action_dims=variant["action_dims"])
    if len(variant["action_dims"]) > 1:
        names = [f"task{i}" for i in range(len(variant["action_dims"]))]
        tasks = TaskSet(names, **dims, episode_lengths=variant["episode_lengths"], task_dim=variant["task_dim"])
        single = {}
    else:
        tasks = None
        single = dict(obs_dim=dims["obs_dims"][0], action_dim=dims["action_dims"][0])
        single["episode_length"] = variant["episode_lengths"][0]
    cfg = build_cfg(reference / "cfgs" / "config.yaml", tasks=tasks, **single, **WIDTHS, **SIZES)
    cfg.use_score_network = False  # planning: the search (the update turns it on where the variant says)
    with contextlib.redirect_stdout(sys.stderr):  # MBDPO prints its episode length and discount
        return mbdpo.MBDPO(cfg)


def randomise_weights(agent, gen: torch.Generator) -> None:
    """Seeded non-trivial weights: Linear N(0, 1/fan_in), biases N(0, 0.1^2), LayerNorm gains
    1 + N(0, 0.1^2), task embedding rows of norm 0.5 (below max_norm, so lookups do not renorm);
    the target Q heads are the Q heads plus N(0, 0.05^2) so that they differ."""
    model = agent.model
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("_task_emb"):
                w = torch.randn(p.shape, generator=gen)
                p.copy_(0.5 * w / w.norm(dim=-1, keepdim=True))
            elif name.endswith("ln.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("weight"):
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        for key, t in model._target_Qs_params.items(include_nested=True, leaves_only=True):
            t.copy_(model._Qs.params[key].data + 0.05 * torch.randn(t.shape, generator=gen))
        agent._contrastive_mean.fill_(F_MEAN)
        agent._contrastive_std.fill_(F_STD)
        agent.scale.value.fill_(SCALE)


def reference_weights(model) -> dict[str, torch.Tensor]:
    """The model's state dict as MBDPO.save writes it, minus ``_detach_Qs_params.*`` (the same
    tensors as ``_Qs.params.*``; the tests put them back)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("_detach_Qs_params.")}


class Draws(contextlib.AbstractContextManager):
    """Records every random number drawn through torch's module-level functions, in call order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, torch.Tensor]] = []
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> "Draws":
        for name in RANDOM_FUNCTIONS:
            real = getattr(torch, name)
            self._saved[name] = real

            def fn(*args, _real=real, _name=name, **kwargs):
                out = _real(*args, **kwargs)
                self.calls.append((_name, out.detach().clone()))
                return out

            setattr(torch, name, fn)
        return self

    def __exit__(self, *exc) -> None:
        for name, real in self._saved.items():
            setattr(torch, name, real)

    def pop_all(self) -> list[tuple[str, torch.Tensor]]:
        calls, self.calls = self.calls, []
        return calls


@contextlib.contextmanager
def given_normals(*tensors: torch.Tensor):
    """torch.randn_like returns these tensors, in order (the policy noise of a forward call)."""
    queue = list(tensors)
    real = torch.randn_like

    def fn(like, *args, **kwargs):
        out = queue.pop(0)
        assert out.shape == like.shape, (out.shape, like.shape)
        return out.clone()

    torch.randn_like = fn
    try:
        yield
    finally:
        torch.randn_like = real


# --- what is recorded -----------------------------------------------------------------------
def task_ids(variant: dict, n: int) -> torch.Tensor | None:
    """Tasks 1, 2, 0, 1, ...: the first element (the one the score target is taken at) has padding."""
    k = len(variant["action_dims"])
    return None if k == 1 else (torch.arange(n) + 1) % k


def padded(x: torch.Tensor, dims: list[int], task: torch.Tensor | None) -> torch.Tensor:
    """Zero the entries past each element's task's own size (the harness's padding); x [..., B, D]."""
    if task is None:
        return x
    keep = torch.arange(x.shape[-1]) < torch.tensor(dims)[task].unsqueeze(-1)  # [B, D]
    return x * keep


def record_forward(agent, variant: dict, gen: torch.Generator) -> dict:
    model, cfg = agent.model, agent.cfg
    B, A, H = 6, cfg.action_dim, cfg.horizon
    task = task_ids(variant, B)
    obs = padded(torch.randn(B, cfg.obs_shape["state"][0], generator=gen), variant["obs_dims"], task)
    action = padded(torch.rand(B, A, generator=gen) * 2 - 1, variant["action_dims"], task)
    eps = torch.randn(B, A, generator=gen)
    x_tau = torch.randn(B, H, A, generator=gen)
    tau = torch.randint(1, cfg.diffusion_steps, (B,), generator=gen)
    with torch.no_grad():
        z = model.encode(obs, task)
        with given_normals(eps):
            sample, info = model.pi(z, task)
        f_raw = model.F(z, action, task)
        out = dict(
            z=z,
            next_z=model.next(z, action, task),
            reward_logits=model.reward(z, action, task),
            pi_mean=info["mean"],
            pi_log_std=info["log_std"],
            pi_action=sample,
            pi_log_prob=-info["entropy"],
            pi_scaled_entropy=info["scaled_entropy"],
            q_logits=model.Q(z, action, task, return_type="all"),
            target_q_logits=model.Q(z, action, task, return_type="all", target=True),
            f_logits=f_raw,
            f_normalised=agent._normalize_contrastive_score(f_raw),
            score=model.score(z, x_tau, tau, task),
        )
    # the value scale's percentile update on values whose 5-95% range exceeds 1 (the update's own
    # Q values at these widths have a range under 1, which the scale clamps to 1)
    q_values = 3 * torch.randn(2 * B, 1, generator=gen)
    scale = type(agent.scale)(cfg)
    scale.value.fill_(SCALE)
    scale.update(q_values)
    out["scale_after_update"] = scale.value.clone()
    inputs = dict(obs=obs, action=action, eps=eps, x_tau=x_tau, tau=tau, q_values=q_values)
    if task is not None:
        inputs["task"] = task
    return dict(inputs=inputs, outputs=out)


def record_update(agent, variant: dict, gen: torch.Generator) -> dict:
    cfg = agent.cfg
    H, B, A, D = cfg.horizon, cfg.batch_size, cfg.action_dim, cfg.obs_shape["state"][0]
    task = task_ids(variant, B)
    obs = padded(torch.randn(H + 1, B, D, generator=gen), variant["obs_dims"], task)
    action = padded(torch.rand(H, B, A, generator=gen) * 2 - 1, variant["action_dims"], task)
    reward = torch.rand(H, B, 1, generator=gen) * 4 - 1
    terminated = torch.zeros(H, B, 1)
    grads: dict[str, torch.Tensor] = {}
    names = {id(p): n for n, p in agent.model.named_parameters()}

    def snapshot(optim):
        real = optim.step

        def step(*args, **kwargs):
            for group in optim.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        grads[names[id(p)]] = p.grad.detach().clone()
            return real(*args, **kwargs)

        optim.step = step

    snapshot(agent.optim)
    snapshot(agent.pi_optim)
    score_target: dict[str, torch.Tensor] = {}
    real_target = agent._mc_score_target

    def mc_score_target(z0, score_task):
        x_tau, tau, target = real_target(z0, score_task)
        score_target.update(x_tau=x_tau.clone(), tau=tau.clone(), target=target.clone())
        return x_tau, tau, target

    agent._mc_score_target = mc_score_target
    torch.manual_seed(1)
    with Draws() as draws:
        info = agent._update(obs, action, reward, terminated, **({} if task is None else {"task": task}))
    batch = dict(obs=obs, action=action, reward=reward, terminated=terminated)
    if task is not None:
        batch["task"] = task
    keep = ("grad_norm", "pi_scale")
    losses = {k: info[k].detach().clone() for k in info.keys() if k.endswith("_loss") or k in keep}
    return dict(
        batch=batch,
        draws=draws.pop_all(),
        losses=losses,
        grads=grads,
        weights_after=reference_weights(agent.model),
        f_mean_after=agent._contrastive_mean.clone(),
        f_std_after=agent._contrastive_std.clone(),
        scale_after=agent.scale.value.clone(),
        score_target=score_target,
    )


def record_plan(agent, variant: dict, gen: torch.Generator) -> dict:
    """Two planner calls (first step, then the warm start), training mode (action noise on)."""
    cfg = agent.cfg
    task = None if len(variant["action_dims"]) == 1 else 2  # the last task: padding on both axes
    obs = torch.randn(cfg.obs_shape["state"][0], generator=gen)
    if task is not None:
        obs[variant["obs_dims"][task] :] = 0
    steps: list[dict] = []
    real_estimate, real_topk = agent._estimate_value, torch.topk

    def estimate(z, actions, t):
        values = real_estimate(z, actions, t)
        steps.append({"values": values.detach().clone().squeeze(-1)})
        return values

    def topk(x, k, *args, **kwargs):
        out = real_topk(x, k, *args, **kwargs)
        steps[-1]["elite_idx"] = out.indices.clone()
        return out

    calls = []
    agent._estimate_value = estimate
    torch.topk = topk
    try:
        for i, t0 in enumerate((True, False)):
            torch.manual_seed(10 + i)
            steps = []
            with Draws() as draws:
                action = agent.act(obs, t0=t0, eval_mode=False, task=task)
            calls.append(dict(t0=t0, draws=draws.pop_all(), steps=steps, plan=agent._prev_mean.clone(), action=action))
    finally:
        agent._estimate_value = real_estimate
        torch.topk = real_topk
    return dict(obs=obs, task=task, calls=calls)


def build(reference: Path, name: str) -> dict:
    """Everything recorded for one variant; the agent's weights are drawn once and shared."""
    variant = VARIANTS[name]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234 if name == "single" else 4321)
    agent = reference_agent(reference, variant)
    randomise_weights(agent, gen)
    weights = reference_weights(agent.model)
    fixture = dict(
        variant=name,
        config=dict(variant, **WIDTHS, **SIZES, f_mean=F_MEAN, f_std=F_STD, scale=SCALE),
        reference_config={
            k: getattr(agent.cfg, k)
            for k in ("contrastive_eta", "diffusion_temperature", "diffusion_action_noise", "diffusion_beta0")
            + ("diffusion_betaT", "tau", "lr", "enc_lr_scale", "rho", "entropy_coef", "log_std_min", "log_std_max")
        },
        discount=torch.as_tensor(agent.discount, dtype=torch.float32),
        weights=weights,
        forward=record_forward(agent, variant, gen),
        plan=record_plan(agent, variant, gen),
    )
    # the update last (it changes the weights); the score network trained where the variant says
    agent.cfg.use_score_network = variant["score"]
    fixture["update"] = record_update(agent, variant, gen)
    return fixture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", type=Path, default=DEFAULT_REF, help="the CPU-runnable MBDPO checkout")
    parser.add_argument("--out", type=Path, default=FIXTURE_DIR)
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare to --out")
    args = parser.parse_args(argv)
    if not (args.ref / "MBDPO" / "mbdpo.py").is_file():
        print(f"--ref {args.ref}: no MBDPO/mbdpo.py there (a ref_bench_patch.sh checkout is needed)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    fixtures = {f"mbdpo_{name}.pt": build(args.ref.resolve(), name) for name in VARIANTS}
    return check_or_write(fixtures, args.check, args.out)


if __name__ == "__main__":
    sys.exit(main())
