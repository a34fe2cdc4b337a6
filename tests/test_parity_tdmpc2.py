"""Parity with TD-MPC2's own code (nicklashansen/tdmpc2 @ e9f5932), on its numbers.

tests/fixtures/parity/tdmpc2_{single,multi}.pt were written by tools/parity/tdmpc2_fixtures.py from
the reference code itself: its weights (its own state dict), inputs, every random draw it made and
its outputs. Here the weights go into our ``tdmpc2`` agent through the converter
(algorithms/model_based/reference_weights.py), ours runs on the same inputs with the same draws,
and every quantity must agree within 1e-5 (relative where values exceed 1): the forward pass, one
update (losses, every gradient, the parameters after the optimiser steps and the target update),
a second update after it, and two MPPI plans (elite indices, mean, std, action; the second one
warm-started). Perturbing one weight of the reference's makes each comparison fail.
"""

from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict

import algorithms
from algorithms.base import EnvSpec
from algorithms.model_based.reference_weights import to_ours, to_reference
from algorithms.planning.mppi import MPPIPlanner
from algorithms.world_model.model import WorldModel
from tests.parity import Comparison, ReplayDraws, ReplayNoise, assert_detects, load_fixture, watch_locals

VARIANTS = ("single", "multi")


@pytest.fixture(scope="module", params=VARIANTS)
def fixture(request):
    return load_fixture(f"tdmpc2_{request.param}.pt")


def agent_config(c: dict):
    """Our registered ``tdmpc2`` config with the fixture's widths and planner sizes."""
    overrides = {
        **{f"model.{k}": c[k] for k in ("enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q")},
        **{f"model.{k}": c[k] for k in ("num_bins", "vmin", "vmax", "simnorm_dim", "dropout")},
        **{f"model.{k}": c[k] for k in ("log_std_min", "log_std_max")},
        **{f"planner.{k}": c[k] for k in ("horizon", "num_samples", "num_elites", "num_pi_trajs", "iterations")},
        **{f"planner.{k}": c[k] for k in ("temperature", "min_std", "max_std")},
        **{k: c[k] for k in ("batch_size", "lr", "enc_lr_scale", "grad_clip_norm", "rho", "tau", "entropy_coef")},
        **{k: c[k] for k in ("consistency_coef", "reward_coef", "value_coef")},
        **{k: c[k] for k in ("discount_denom", "discount_min", "discount_max")},
    }
    if c["multitask"]:
        overrides["model.task_dim"] = c["task_dim"]
    return algorithms.get_algorithm("tdmpc2").config(overrides)


def make_agent(fx: dict, state_dict: dict | None = None):
    """Our agent as the fixture describes it, holding the reference's weights (converted)."""
    c, tasks = fx["cfg"], fx["tasks"]
    spec = EnvSpec(
        obs_dim=c["obs_shape"]["state"][0],
        action_dim=c["action_dim"],
        episode_length=c["episode_length"],
        tasks=tuple(tasks["names"]) if tasks else (),
        action_dims=tuple(tasks["action_dims"]) if tasks else (),
        episode_lengths=tuple(tasks["episode_lengths"]) if tasks else (),
    )
    agent = algorithms.get_algorithm("tdmpc2").factory(agent_config(c), spec, torch.device("cpu"), total_steps=1000)
    agent.model.load_state_dict(to_ours(state_dict or fx["state_dict"])["model"])
    return agent


def perturbed(state_dict: dict, key: str, delta: float = 1e-2) -> dict:
    """The state dict with one weight changed by ``delta`` (its storage-sharing twin as well)."""
    state = {k: v.clone() if torch.is_tensor(v) else v for k, v in state_dict.items()}
    state[key].view(-1)[0] += delta
    twin = key.replace("_Qs.params.", "_detach_Qs_params.")
    if twin != key and twin in state:
        state[twin] = state[key]
    return state


# --- forward -----------------------------------------------------------------------------------
def compare_forward(fx: dict, agent, cmp: Comparison) -> None:
    f, out = fx["forward"], fx["forward"]["outputs"]
    m = agent.model
    m.eval()
    draws = ReplayDraws(f["draws"])
    m.draws = draws
    obs, a, task = f["obs"], f["action"], f["task"]
    with torch.no_grad(), watch_locals(WorldModel.pi, ("log_std",)) as pi_locals:
        z = m.encode(obs, task)
        cmp.close("forward/encoder", z, out["z"])
        cmp.close("forward/dynamics", m.next(z, a, task), out["next_z"])
        cmp.close("forward/reward_logits", m.reward_logits(z, a, task), out["reward_logits"])
        cmp.close("forward/reward", m.reward(z, a, task), out["reward"])
        pi = m.pi(z, task=task)
        cmp.close("forward/pi_mean", pi.mean, out["pi_mean"])
        cmp.close("forward/pi_log_std", pi_locals[-1]["log_std"], out["pi_log_std"])
        cmp.close("forward/pi_action", pi.action, out["pi_action"])
        cmp.close("forward/pi_log_prob", pi.log_prob, out["pi_log_prob"])
        cmp.close("forward/pi_scaled_entropy", pi.scaled_entropy, out["pi_scaled_entropy"])
        q_logits = m.q_logits(z, a, task=task)
        for i in range(m.num_q):
            cmp.close(f"forward/q_head{i}", q_logits[i], out["q_logits"][i])
        target_logits = m.q_logits(z, a, target=True, task=task)
        for i in range(m.num_q):
            cmp.close(f"forward/target_q_head{i}", target_logits[i], out["target_q_logits"][i])
        cmp.close("forward/q_min", m.q(z, a, "min", task=task), out["q_min"])
        cmp.close("forward/q_avg", m.q(z, a, "avg", task=task), out["q_avg"])
        cmp.close("forward/target_q_min", m.q(z, a, "min", target=True, task=task), out["target_q_min"])
    draws.assert_all_used()


# --- update ------------------------------------------------------------------------------------
def recording_step(optim, names: dict[int, str], into: dict) -> None:
    """Record each parameter's gradient as ``optim.step`` sees it (after clipping)."""
    step = optim.step

    def wrapped(*args, **kwargs):
        into.update(
            {names[id(p)]: p.grad.clone() for g in optim.param_groups for p in g["params"] if p.grad is not None}
        )
        return step(*args, **kwargs)

    optim.step = wrapped


def as_reference(agent, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our model's state dict with ``values`` (e.g. gradients) in place of the parameters, under
    the reference's names."""
    state = dict(agent.model.state_dict())
    state.update(values)
    return to_reference({"model": state})


def run_update(agent, u: dict, cmp: Comparison, label: str) -> None:
    """Our ``learn`` on the fixture's batch with the reference's draws, compared with ``u``."""
    b = u["batch"]
    draws = ReplayDraws(u["draws"])
    agent.model.draws = draws
    names = {id(p): n for n, p in agent.model.named_parameters()}
    grads: dict[str, torch.Tensor] = {}
    pi_grads: dict[str, torch.Tensor] = {}
    recording_step(agent.optim, names, grads)
    recording_step(agent.pi_optim, names, pi_grads)
    batch = TensorDict(obs=b["obs"], action=b["action"], reward=b["reward"], terminated=b["terminated"].bool())
    if b["task"] is not None:
        batch["task"] = b["task"]
    info = agent.learn(batch)
    del agent.optim.step, agent.pi_optim.step
    draws.assert_all_used()
    for key in ("consistency_loss", "reward_loss", "value_loss", "total_loss", "grad_norm", "pi_loss", "pi_scale"):
        cmp.close(f"losses/{label}{key}", torch.tensor(info[key]), u["info"][key])
    cmp.close(f"losses/{label}scale", agent.scale.value.reshape(1), u["scale"].reshape(1))
    theirs_grads, theirs_pi = as_reference(agent, grads), as_reference(agent, pi_grads)
    for key, expected in u["grads"].items():
        cmp.close(f"grads/{label}{key}", theirs_grads[key], expected)
    for key, expected in u["pi_grads"].items():
        cmp.close(f"grads/{label}pi:{key}", theirs_pi[key], expected)
    cmp.equal(f"grads/{label}count", len(pi_grads), len(u["pi_grads"]))
    if not label:  # the first update's record has every gradient
        cmp.equal("grads/count", len(grads), len(u["grads"]))
    # multi-task: the policy loss's gradient on the task embedding, left for the next update
    pending = {n: p.grad for n, p in agent.model.named_parameters() if p.grad is not None}
    cmp.equal(f"grads/{label}pending_count", len(pending), len(u["pending_grads"]))
    theirs_pending = as_reference(agent, pending)
    for key, expected in u["pending_grads"].items():
        cmp.close(f"grads/{label}pending:{key}", theirs_pending[key], expected)
    after = to_reference({"model": agent.model.state_dict()})
    for key, expected in u["state_dict"].items():
        if torch.is_tensor(expected):
            cmp.close(f"params/{label}{key}", after[key], expected)


def compare_update(fx: dict, agent, cmp: Comparison) -> None:
    run_update(agent, fx["update"], cmp, "")


def compare_second_update(fx: dict, agent, cmp: Comparison) -> None:
    """The second update, after the first (Adam's moments and step 2, the value scale, the pending
    task-embedding gradient joining the new one); its record leaves out the largest tensors."""
    run_update(agent, fx["update"], Comparison(), "")
    run_update(agent, fx["update2"], cmp, "update2:")


# --- planning ----------------------------------------------------------------------------------
def planner_draws(draws: list[tuple[str, torch.Tensor]]) -> list[tuple[str, torch.Tensor]]:
    """The reference's ``_plan`` draws in the layout our planner asks for them (batch of 1): its
    samples' noise [H, N-P, A] is ours [1, N-P, H, A]; its head pair randperm(Q)[:2] is ours
    [1, 2]; its Gumbel draw -log(E), E ~ Exp(1), is ours -log(-log(u)) with u = exp(-E)."""
    out = []
    for name, value in draws:
        if name == "randn" and value.dim() == 3:
            out.append(("randn", value.permute(1, 0, 2).unsqueeze(0)))
        elif name in ("randn", "randn_like"):
            out.append(("randn", value.unsqueeze(0)))
        elif name == "randperm":
            out.append(("pairs", value[:2].unsqueeze(0)))
        elif name == "exponential_":
            out.append(("rand", torch.exp(-value).unsqueeze(0)))
        else:
            raise AssertionError(f"unexpected reference draw {name}")
    return out


def compare_plan(fx: dict, agent, cmp: Comparison) -> None:
    planner = agent.planners["train"]
    m = agent.model
    m.eval()
    for n, call in enumerate(fx["plan"]):
        noise = ReplayNoise(planner_draws(call["draws"]))
        task = None if call["task"] is None else torch.tensor([call["task"]])
        with torch.no_grad(), watch_locals(MPPIPlanner.iteration, ("elite_idx", "mean", "std", "weights")) as its:
            z = m.encode(call["obs"].unsqueeze(0), task)
            action = planner.plan(m, z, first_step=call["t0"], eval_mode=call["eval_mode"], noise=noise, task=task)
        noise.assert_all_used()
        label = f"plan{n}" + ("_warm" if not call["t0"] else "")
        if len(its) != len(call["iterations"]):
            cmp.failures.append(f"planning/{label}: {len(its)} iterations, the reference {len(call['iterations'])}")
        for i, (ours, theirs) in enumerate(zip(its, call["iterations"])):
            cmp.equal(f"planning/{label}/iter{i}/elite_idx", ours["elite_idx"][0], theirs["elite_idxs"])
            cmp.close(f"planning/{label}/iter{i}/mean", ours["mean"][0], theirs["mean"])
            cmp.close(f"planning/{label}/iter{i}/std", ours["std"][0], theirs["std"])
            cmp.close(f"planning/{label}/iter{i}/weights", ours["weights"][0], theirs["score"].squeeze(-1))
        cmp.close(f"planning/{label}/action", action[0], call["action"])
        cmp.close(f"planning/{label}/prev_mean", planner.prev_mean[0], call["prev_mean"])


PARTS = {"forward": compare_forward, "update": compare_update, "update2": compare_second_update, "plan": compare_plan}


def run_parity(fx: dict, part: str, state_dict: dict | None = None) -> Comparison:
    torch.manual_seed(0)
    agent = make_agent(fx, state_dict)
    cmp = Comparison()
    PARTS[part](fx, agent, cmp)
    cmp.check()
    return cmp


@pytest.mark.parametrize("part", list(PARTS))
def test_parity_with_reference(fixture, part):
    cmp = run_parity(fixture, part)
    print(f"tdmpc2 {'multi' if fixture['cfg']['multitask'] else 'single'} {part}: {cmp.summary()}")
    assert cmp.largest and all(math.isfinite(d) for d, _ in cmp.largest.values())


@pytest.mark.parametrize("part", list(PARTS))
def test_parity_detects_one_perturbed_weight(fixture, part):
    key = {"forward": "_Qs.params.2.weight", "update": "_reward.0.weight", "update2": "_pi.0.weight"}.get(
        part, "_dynamics.0.weight"
    )
    assert_detects(lambda: run_parity(fixture, part, perturbed(fixture["state_dict"], key)))


def test_fixtures_are_the_reference_weights_round_trip(fixture):
    """The fixture's state dict is TD-MPC2's own: ours -> theirs gives it back exactly."""
    back = to_reference(to_ours(fixture["state_dict"]))
    theirs = {k: v for k, v in fixture["state_dict"].items() if torch.is_tensor(v)}
    assert sorted(back) == sorted(theirs)
    for key, value in theirs.items():
        assert torch.equal(back[key], value), key
