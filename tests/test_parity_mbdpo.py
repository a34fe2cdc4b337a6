"""Parity with MBDPO's own code (Edmond1Cheng/MBDPO @ 5ff5a06) on its own numbers.

The fixtures (tests/fixtures/parity/mbdpo_{single,multi}.pt, written by
tools/parity/mbdpo_fixtures.py from the reference code) hold a reduced-width reference model with
seeded random weights, fixed inputs, every random number the reference drew, and its outputs. The
weights go into our ``mbdpo`` agent through algorithms/model_based/reference_weights.py; ours then
runs on the same inputs while torch's random functions hand it the reference's draws in the
reference's order (:class:`ReplayedDraws`: a draw of another kind or size fails), and every
quantity must agree within 1e-5 (relative where values are large):

- forward: encoder, dynamics, reward, pi (mean, log-std, sample, log-prob, scaled entropy), every Q
  and target Q head, F (raw and normalised), the score network;
- one update: every loss term, every gradient, the parameters after both optimiser steps and the
  target update, F's statistics and the value scale (multi-task: with the score network trained);
- planning: two reverse-diffusion calls (first step, warm start) with the energy bonus: each
  denoising step's values and elite indices, the plan and the action.

``multi`` has three tasks of different observation and action sizes and episode lengths (padding,
action masks, per-task discount). Set ``PARITY_REPORT=<file>`` to append the largest difference
seen per quantity as JSON lines.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from tensordict import TensorDict

import algorithms  # noqa: F401  (registers mbdpo)
from algorithms.base import EnvSpec
from algorithms.model_based import agent as agent_module
from algorithms.model_based.agent import WorldModelAgent
from algorithms.model_based.reference_weights import describe, to_ours, to_reference
from algorithms.planning import diffusion as diffusion_module
from algorithms.registry import get_algorithm
from algorithms.world_model import WorldModel
from algorithms.world_model.scalars import RunningScale
from algorithms.world_model.score import ScoreNetwork
from tests.parity import Comparison, assert_detects, load_fixture, watch_locals

VARIANTS = ("single", "multi")
#: the reference's info keys -> ours (learn's metrics)
LOSS_NAMES = {
    "consistency_loss": "consistency_loss",
    "reward_loss": "reward_loss",
    "value_loss": "value_loss",
    "contrastive_loss": "energy_loss",
    "score_loss": "score_loss",
    "total_loss": "total_loss",
    "grad_norm": "grad_norm",
    "pi_loss": "pi_loss",
    "pi_scale": "pi_scale",
}
KINDS = {"randn": "normal", "randn_like": "normal", "rand": "uniform", "rand_like": "uniform"}
KINDS.update(randint="randint", randperm="randperm")


@pytest.fixture(scope="module", params=VARIANTS)
def fx(request) -> dict:
    return load_fixture(f"mbdpo_{request.param}.pt")


# --- comparing ---------------------------------------------------------------------------------
def compare(comparison: Comparison, name: str, ours, theirs, exact: bool = False) -> None:
    """Ours (reshaped to theirs: e.g. a leading batch dim of 1) against the reference's value."""
    ours, theirs = torch.as_tensor(ours), torch.as_tensor(theirs)
    if ours.numel() != theirs.numel():
        comparison.failures.append(f"{name}: ours {tuple(ours.shape)}, theirs {tuple(theirs.shape)}")
        return
    ours = ours.reshape(theirs.shape)
    if exact:
        comparison.equal(name, ours, theirs)
    else:
        comparison.close(name, ours.to(theirs.dtype), theirs)


def report(comparison: Comparison, variant: str, part: str) -> None:
    path = os.environ.get("PARITY_REPORT")
    if path:
        with open(path, "a") as f:
            line = {"variant": variant, "part": part, "largest": comparison.largest}
            f.write(json.dumps(line) + "\n")


# --- the reference's random numbers, handed to ours -------------------------------------------
def requested_shape(name: str, args, kwargs) -> tuple[int, ...]:
    if name.endswith("_like"):
        return tuple(args[0].shape)
    if name == "randperm":
        return (int(args[0]),)
    if name == "randint":
        size = kwargs.get("size", args[-1])
        return tuple(size)
    size = kwargs.get("size", args)
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = size[0]
    return tuple(int(s) for s in size)


class ReplayedDraws:
    """While active, torch's random functions return the recorded draws in order: each call must be
    of the recorded kind (normal, uniform, randint, randperm) and size (its shape may differ, e.g. a
    leading batch dim of 1), and every recorded draw must be used."""

    def __init__(self, draws: list[tuple[str, torch.Tensor]], monkeypatch) -> None:
        self.draws = list(draws)
        self.used = 0
        for name in KINDS:
            monkeypatch.setattr(torch, name, self._replacement(name))

    def _replacement(self, name: str):
        def draw(*args, **kwargs):
            shape = requested_shape(name, args, kwargs)
            assert self.used < len(self.draws), f"ours draws more than the reference (torch.{name}{shape})"
            recorded_name, value = self.draws[self.used]
            self.used += 1
            assert KINDS[recorded_name] == KINDS[name], (
                f"draw {self.used}: ours calls torch.{name}{shape}, the reference {recorded_name}{tuple(value.shape)}"
            )
            n = 1
            for s in shape:
                n *= s
            assert value.numel() == n, f"draw {self.used}: ours {name}{shape}, the reference {tuple(value.shape)}"
            return value.clone().reshape(shape)

        return draw

    def assert_all_used(self) -> None:
        assert self.used == len(self.draws), f"ours drew {self.used} times, the reference {len(self.draws)}"


# --- our agent with the reference's weights ---------------------------------------------------
def reference_state(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The fixture's weights as MBDPO.save writes them (it stores ``_detach_Qs_params`` once)."""
    state = dict(weights)
    for key in list(weights):
        if key.startswith("_Qs.params."):
            state["_detach_Qs_params." + key[len("_Qs.params.") :]] = weights[key]
    return state


def make_agent(fx: dict, weights: dict[str, torch.Tensor] | None = None) -> WorldModelAgent:
    """Our ``mbdpo`` agent at the fixture's sizes, holding its reference weights."""
    c, rc = fx["config"], fx["reference_config"]
    state = reference_state(fx["weights"] if weights is None else weights)
    ref = describe(state, "mbdpo")
    multitask = len(c["action_dims"]) > 1
    overrides = {
        "batch_size": c["batch_size"],
        "planner.horizon": c["horizon"],
        "planner.num_samples": c["diffusion_num_samples"],
        "planner.num_elites": c["diffusion_num_elites"],
        "planner.num_pi_trajs": c["diffusion_num_pi_trajs"],
        "planner.diffusion_steps": c["diffusion_steps"],
        "planner.temperature": rc["diffusion_temperature"],
        "planner.action_noise": rc["diffusion_action_noise"],
        "planner.beta_start": rc["diffusion_beta0"],
        "planner.beta_end": rc["diffusion_betaT"],
        "energy.eta": rc["contrastive_eta"],
        "score.enabled": c["score"],
        "score.embed_dim": c["diffusion_time_embed_dim"],
        "score.mc_samples": c["diffusion_num_samples_mf"],
        "tau": rc["tau"],
        "lr": rc["lr"],
        "enc_lr_scale": rc["enc_lr_scale"],
        "rho": rc["rho"],
        "entropy_coef": rc["entropy_coef"],
    }
    cfg = get_algorithm("mbdpo").config(overrides)
    cfg.model = ref.model_config(dropout=c["dropout"])
    spec = EnvSpec(
        obs_dim=ref.obs_dim,
        action_dim=ref.action_dim,
        episode_length=max(c["episode_lengths"]),
        tasks=tuple(f"task{i}" for i in range(len(c["action_dims"]))) if multitask else (),
        action_dims=tuple(c["action_dims"]) if multitask else (),
        episode_lengths=tuple(c["episode_lengths"]) if multitask else (),
    )
    agent = WorldModelAgent(cfg, spec, torch.device("cpu"), total_steps=1000)
    parts = to_ours(state, "mbdpo")
    agent.model.load_state_dict(parts["model"])
    agent.energy.load_state_dict(parts["energy"])
    if agent.score_net is not None:
        agent.score_net.load_state_dict(parts["score_net"])
    agent.energy.mean.fill_(c["f_mean"])  # MBDPO keeps these on its agent, not in the file
    agent.energy.std.fill_(c["f_std"])
    agent.scale.value.fill_(c["scale"])
    return agent


def our_parts(agent: WorldModelAgent, values=None) -> dict:
    """The agent's state parts as to_reference takes them; ``values(name, tensor)`` may replace
    each parameter (e.g. by its gradient)."""
    parts = {}
    for part, net in (("model", agent.model), ("energy", agent.energy), ("score_net", agent.score_net)):
        if net is None:
            parts[part] = None
            continue
        state = dict(net.state_dict())
        if values is not None:
            for name, p in net.named_parameters():
                state[name] = values(p)
        parts[part] = state
    if parts["score_net"] is None:  # the reference file always has _score: keep the fixture's
        parts["score_net"] = None
    return parts


def as_reference(agent: WorldModelAgent, fx: dict, values=None) -> dict[str, torch.Tensor]:
    parts = our_parts(agent, values)
    if parts["score_net"] is None:  # our single-task mbdpo has no score network: compare the rest
        ref = to_ours(reference_state(fx["weights"]), "mbdpo")
        parts["score_net"] = ref["score_net"]
    return to_reference(parts, format="mbdpo")


# --- the checks -----------------------------------------------------------------------------
def check_forward(fx: dict, agent: WorldModelAgent, c: Comparison) -> None:
    inp, out = fx["forward"]["inputs"], fx["forward"]["outputs"]
    m, task = agent.model, inp.get("task")
    with torch.no_grad():
        z = m.encode(inp["obs"], task)
        a = inp["action"]
        with watch_locals(WorldModel.pi, ("log_std",)) as pi_locals:
            pi = m.pi(z, eps=inp["eps"], task=task)
        zt = m.with_task(z, task)
        ours = {
            "z": z,
            "next_z": m.next(z, a, task),
            "reward_logits": m.reward_logits(z, a, task),
            "pi_mean": pi.mean,
            "pi_log_std": pi_locals[-1]["log_std"],
            "pi_action": pi.action,
            "pi_log_prob": pi.log_prob,
            "pi_scaled_entropy": pi.scaled_entropy,
            "q_logits": m.q_logits(z, a, task=task),
            "target_q_logits": m.q_logits(z, a, target=True, task=task),
            "f_logits": agent.energy.logits(zt, a),
            "f_normalised": agent.energy.normalised(zt, a),
        }
        if agent.score_net is not None:
            ours["score"] = agent.score_net(zt, inp["x_tau"], inp["tau"])
        else:  # single-task mbdpo trains no score network: check the converted one all the same
            parts = to_ours(reference_state(fx["weights"]), "mbdpo")
            cf = fx["config"]
            net = ScoreNetwork(
                m.cfg.latent_dim, cf["horizon"], m.action_dim, m.cfg.mlp_dim, cf["diffusion_time_embed_dim"], m.task_dim
            )
            net.load_state_dict(parts["score_net"])
            ours["score"] = net(zt, inp["x_tau"], inp["tau"])
    scale = RunningScale(agent.cfg.tau)
    scale.value.fill_(fx["config"]["scale"])
    scale.update(inp["q_values"])
    ours["scale_after_update"] = scale.value
    for name, theirs in out.items():
        compare(c, f"forward.{name}", ours[name], theirs)


def run_update(fx: dict, agent: WorldModelAgent, monkeypatch) -> tuple[dict, dict]:
    """One ``learn`` on the fixture's batch with the reference's draws -> (metrics, gradients by
    parameter id, as the optimisers see them)."""
    u = fx["update"]
    grads: dict[int, torch.Tensor] = {}
    for optim in (agent.optim, agent.pi_optim):
        real = optim.step

        def step(*args, _real=real, _optim=optim, **kwargs):
            for group in _optim.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        grads[id(p)] = p.grad.detach().clone()
            return _real(*args, **kwargs)

        monkeypatch.setattr(optim, "step", step)
    b = u["batch"]
    batch = TensorDict(
        obs=b["obs"], action=b["action"], reward=b["reward"], terminated=b["terminated"].bool(), batch_size=[]
    )
    if "task" in b:
        batch["task"] = b["task"]
    draws = ReplayedDraws(u["draws"], monkeypatch)
    metrics = agent.learn(batch)
    draws.assert_all_used()
    monkeypatch.undo()
    return metrics, grads


def check_update(fx: dict, agent: WorldModelAgent, c: Comparison, monkeypatch) -> None:
    u = fx["update"]
    targets: list[torch.Tensor] = []
    real_score = agent_module.model_based_score

    def score_target(x, a_bar, alpha_bar):  # the score network's Monte-Carlo target
        targets.append(real_score(x, a_bar, alpha_bar))
        return targets[-1]

    monkeypatch.setattr(agent_module, "model_based_score", score_target)
    metrics, grads = run_update(fx, agent, monkeypatch)
    if fx["config"]["score"]:
        assert len(targets) == 1, f"{len(targets)} score targets, the reference takes 1"
        compare(c, "update.score_target", targets[0], u["score_target"]["target"])
    for theirs, ours in LOSS_NAMES.items():
        if theirs in u["losses"] and (theirs != "score_loss" or fx["config"]["score"]):
            compare(c, f"update.{theirs}", metrics[ours], u["losses"][theirs])
    their_grads = u["grads"]
    ours = as_reference(agent, fx, lambda p: grads.get(id(p), torch.zeros_like(p)))
    for key, value in ours.items():
        if key.startswith(("_detach_Qs_params.", "_target_Qs_params.")) or not value.is_floating_point():
            continue
        if key in their_grads:
            compare(c, f"grad/{key}", value, their_grads[key])
        elif key.startswith(("_Qs", "_encoder", "_dynamics", "_reward", "_pi", "_F", "_task_emb")) or (
            key.startswith("_score") and fx["config"]["score"]
        ):  # no gradient in the reference: none in ours either
            compare(c, f"grad/{key}", value, torch.zeros_like(value), exact=True)
    after = as_reference(agent, fx)
    for key, theirs in u["weights_after"].items():
        if key.startswith("_score") and not fx["config"]["score"]:
            continue  # ours has no score network in single-task mbdpo; the reference's did not move
        compare(c, f"after/{key}", after[key], theirs)
    compare(c, "after.f_mean", agent.energy.mean, u["f_mean_after"])
    compare(c, "after.f_std", agent.energy.std, u["f_std_after"])
    compare(c, "after.scale", agent.scale.value, u["scale_after"])


def check_plan(fx: dict, agent: WorldModelAgent, c: Comparison, monkeypatch) -> None:
    p = fx["plan"]
    obs = p["obs"].unsqueeze(0)
    task = None if p["task"] is None else torch.tensor([p["task"]])
    for i, call in enumerate(p["calls"]):
        steps: list[dict] = []
        real_value, real_elites = diffusion_module.trajectory_value, diffusion_module.zscore_softmax

        def value(*args, _real=real_value, _steps=steps, **kwargs):
            out = _real(*args, **kwargs)
            _steps.append({"values": out.clone()})
            return out

        def elites(values, temperature, num_elites, _real=real_elites, _steps=steps):
            idx, weights = _real(values, temperature, num_elites)
            _steps[-1]["elite_idx"] = idx.clone()
            return idx, weights

        monkeypatch.setattr(diffusion_module, "trajectory_value", value)
        monkeypatch.setattr(diffusion_module, "zscore_softmax", elites)
        draws = ReplayedDraws(call["draws"], monkeypatch)
        action = agent.act(obs, eval_mode=False, first_step=call["t0"], task=task)
        draws.assert_all_used()
        monkeypatch.undo()
        if len(steps) != len(call["steps"]):
            c.failures.append(f"plan {i}: {len(steps)} denoising steps, the reference {len(call['steps'])}")
        for step, (ours, theirs) in enumerate(zip(steps, call["steps"])):
            compare(c, f"plan.values/{i}.{step}", ours["values"], theirs["values"])
            compare(c, f"plan.elite_idx/{i}.{step}", ours["elite_idx"], theirs["elite_idx"], exact=True)
        compare(c, f"plan.plan/{i}", agent.planners["train"].prev_plan[0], call["plan"])
        compare(c, f"plan.action/{i}", action[0], call["action"])


# --- the tests ------------------------------------------------------------------------------
def test_forward(fx):
    c = Comparison()
    check_forward(fx, make_agent(fx), c)
    report(c, fx["variant"], "forward")
    c.check()


def test_update(fx, monkeypatch):
    c = Comparison()
    check_update(fx, make_agent(fx), c, monkeypatch)
    report(c, fx["variant"], "update")
    c.check()


def test_plan(fx, monkeypatch):
    c = Comparison()
    check_plan(fx, make_agent(fx), c, monkeypatch)
    report(c, fx["variant"], "plan")
    c.check()


def test_discount(fx):
    assert torch.equal(torch.as_tensor(make_agent(fx).discount, dtype=torch.float32), fx["discount"])


@pytest.mark.parametrize("part", ["forward", "update", "plan"])
def test_one_perturbed_weight_fails(part, monkeypatch):
    """The checks can fail: one weight of the dynamics moved by 1e-3 breaks each of them."""
    fx = load_fixture("mbdpo_multi.pt")
    weights = dict(fx["weights"])
    weights["_dynamics.0.weight"] = weights["_dynamics.0.weight"].clone()
    weights["_dynamics.0.weight"][0, 0] += 1e-3
    agent = make_agent(fx, weights)

    def run() -> None:
        c = Comparison()
        if part == "forward":
            check_forward(fx, agent, c)
        elif part == "update":
            check_update(fx, agent, c, monkeypatch)
        else:
            check_plan(fx, agent, c, monkeypatch)
        c.check()

    assert_detects(run)


def test_round_trip(fx):
    """The fixture's reference weights -> ours -> theirs: the identical state dict."""
    state = reference_state(fx["weights"])
    back = to_reference(to_ours(state, "mbdpo"), format="mbdpo")
    assert sorted(back) == sorted(state)
    for key, value in state.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value), key
