"""Every registered algorithm end to end; checkpoints round-trip; resumed == uninterrupted;
the energy anchor classifies; score-only evaluation refuses an untrained score network."""

import copy
import csv

import pytest
import torch

import algorithms
from algorithms.base import EnvSpec
from algorithms.model_based import UntrainedScoreNetworkError
from algorithms.world_model.energy import EnergyClassifier
from algorithms.world_model.model import PolicySample
from harness.bench import fill_replay
from harness.config import build_algo_config, parse_overrides
from harness.run import execute
from tests.helpers import tiny_algo

SPEC = EnvSpec(obs_dim=5, action_dim=2, episode_length=50)


def _agent(name, **over):
    cfg = build_algo_config(
        name, [t.removeprefix("algo.") for t in tiny_algo(name)] + [f"{k}={v}" for k, v in over.items()]
    )
    return algorithms.get_algorithm(name).factory(cfg, SPEC, torch.device("cpu"), total_steps=1000)


def test_registry_lists_every_variant():
    assert set(algorithms.algorithm_names()) >= {
        "tdmpc2",
        "tdmpc2-pi",
        "mppi",
        "cem",
        "mbdpo",
        "mbdpo-aligned",
        "mbdpo-noanchor",
        "mbdpo-score",
        "random",
        "sac",
    }


def test_random_policy_is_uniform_in_the_action_bounds_and_seeded():
    entry = algorithms.get_algorithm("random")
    agent = entry.factory(
        entry.config(),
        EnvSpec(obs_dim=3, action_dim=4, episode_length=10, action_low=-2.0, action_high=1.0),
        torch.device("cpu"),
        100,
    )
    torch.manual_seed(3)
    a = agent.act(torch.zeros(5000, 3), eval_mode=True, first_step=True)
    assert a.shape == (5000, 4) and a.min() >= -2 and a.max() <= 1
    assert a.mean().item() == pytest.approx(-0.5, abs=0.02) and a.var().item() == pytest.approx(9 / 12, rel=0.05)
    torch.manual_seed(3)
    assert torch.equal(a, agent.act(torch.zeros(5000, 3), eval_mode=False, first_step=False))
    assert agent.seed_steps == 0 and agent.update(0) == {} and agent.num_parameters() == 0
    assert entry.capabilities == frozenset({"pixels"})  # it ignores its observations: any kind will do


# mbdpo-score cannot act greedily before its score network's first update (the first episode ends
# at step 500): its evaluations are covered by test_score_only_run_skips_evaluation_until_trained.
@pytest.mark.parametrize("name", [n for n in algorithms.algorithm_names() if n != "mbdpo-score"])
def test_tiny_online_run_end_to_end(tmp_path, name):
    overrides = {
        "task": "cartpole-balance",
        "algo": name,
        "seed": 1,
        "steps": 160,
        "eval_every": 160,
        "eval_episodes": 1,
        "eval_at_start": False,
        "runs_dir": str(tmp_path),
        "logger": "none",
    }
    overrides.update(parse_overrides(tiny_algo(name)))
    res = execute(overrides, verbose=False)
    assert res["state"] == "done"
    rows = list(csv.DictReader(open(f"{res['path']}/eval.csv")))
    assert len(rows) == 1 and all(int(r["length"]) == 500 for r in rows)


def _sample_actions(agent, obs, n=3):
    return torch.stack([agent.act(obs, eval_mode=False, first_step=i == 0) for i in range(n)])


@pytest.mark.parametrize("name", [n for n in algorithms.algorithm_names() if n != "random"])  # random: no state
def test_checkpoint_round_trip_and_resume_equals_uninterrupted(name):
    torch.manual_seed(0)
    agent = _agent(name, seed_steps=0)
    fill_replay(agent, SPEC, episodes=2)
    agent.update(0)  # pretraining
    obs = torch.randn(1, SPEC.obs_dim)
    agent.act(obs, eval_mode=False, first_step=True)

    state = copy.deepcopy(agent.state_dict())
    rng = torch.get_rng_state()
    metrics_a = [agent.update(1 + i) for i in range(2)]
    actions_a = _sample_actions(agent, obs)

    other = _agent(name, seed_steps=0)
    other.load_state_dict(state)
    torch.set_rng_state(rng)
    metrics_b = [other.update(1 + i) for i in range(2)]
    actions_b = _sample_actions(other, obs)
    assert metrics_a == metrics_b
    assert torch.equal(actions_a, actions_b)
    for (k, a), (_, b) in zip(agent.model.state_dict().items(), other.model.state_dict().items()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("name", ["mbdpo"])  # its networks are tdmpc2's and F
def test_bf16_matmuls_learn_like_fp32_and_resume_exactly(name):
    """matmul_precision=bf16: the first updates' losses are those of fp32 within bf16 rounding, and
    a restored agent continues exactly (the cached bf16 weights follow the loaded ones)."""
    runs = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        agent = _agent(name, seed_steps=0, matmul_precision=precision)
        fill_replay(agent, SPEC, episodes=2)
        torch.manual_seed(1)
        runs[precision] = (agent, [agent.update(1 + i) for i in range(3)])
    (_, m32), (agent, m16) = runs["fp32"], runs["bf16"]
    for a, b in zip(m32, m16):
        for k in ("consistency_loss", "reward_loss", "value_loss"):
            assert abs(a[k] - b[k]) <= 0.05 * abs(a[k]) + 1e-3, (k, a[k], b[k])
        assert a["consistency_loss"] != b["consistency_loss"]  # the products were rounded
    obs = torch.randn(1, SPEC.obs_dim)
    agent.act(obs, eval_mode=False, first_step=True)
    state, rng = copy.deepcopy(agent.state_dict()), torch.get_rng_state()
    after = [agent.update(10 + i) for i in range(2)], _sample_actions(agent, obs)
    other = _agent(name, seed_steps=0, matmul_precision="bf16")
    other.act(obs, eval_mode=False, first_step=True)  # fills its bf16 caches with its own weights
    other.load_state_dict(state)
    torch.set_rng_state(rng)
    again = [other.update(10 + i) for i in range(2)], _sample_actions(other, obs)
    assert after[0] == again[0] and torch.equal(after[1], again[1])


def test_checkpoint_refuses_mismatched_config():
    a = _agent("mbdpo")
    b = _agent("mbdpo-noanchor")
    with pytest.raises(ValueError, match="energy"):
        b.load_state_dict(a.state_dict())


def test_score_only_evaluation_refuses_untrained_score_network():
    agent = _agent("mbdpo-score", seed_steps=0)
    obs = torch.randn(2, SPEC.obs_dim)
    with pytest.raises(UntrainedScoreNetworkError, match="never been trained"):
        agent.act(obs, eval_mode=True, first_step=True)
    # weights alone (e.g. loaded from a file) do not count as training
    agent.score_net.load_state_dict(_agent("mbdpo-score").score_net.state_dict())
    with pytest.raises(UntrainedScoreNetworkError):
        agent.act(obs, eval_mode=True, first_step=True)
    fill_replay(agent, SPEC, episodes=1)
    agent.update(0)
    assert agent.act(obs, eval_mode=True, first_step=True).shape == (2, SPEC.action_dim)


def test_energy_classifier_separates_data_from_random_actions():
    """Toy set: data actions are a deterministic function of z; F learns to tell them apart."""
    torch.manual_seed(0)
    Z, A = 8, 2
    f = EnergyClassifier(Z, A, 64, momentum=0.9, clip=5.0, neg_noise=0.5, positives="aligned")
    opt = torch.optim.Adam(f.parameters(), lr=3e-3)
    w = torch.randn(Z, A)

    def data_action(z):
        return torch.tanh(z @ w)

    def bad_pi(z, task=None):  # a policy that has not learned the data: uniform actions
        a = torch.rand(*z.shape[:-1], A) * 2 - 1
        zero = torch.zeros(*z.shape[:-1], 1)
        return PolicySample(a, a, zero, zero)

    for _ in range(300):
        z = torch.randn(1, 256, Z)  # [H, B, Z]
        loss, scores = f.loss(z, data_action(z), bad_pi)
        opt.zero_grad()
        loss.backward()
        opt.step()
        f.update_statistics(scores)
    z = torch.randn(1000, Z)
    with torch.no_grad():
        pos = f.normalised(z, data_action(z))
        neg = f.normalised(z, torch.rand(1000, A) * 2 - 1)
    accuracy = ((pos > neg).float().mean()).item()
    assert accuracy > 0.9, accuracy
    assert pos.abs().max() <= 5.0 and neg.abs().max() <= 5.0  # clipped
    assert loss.item() < 0.5


def test_score_only_run_skips_evaluation_until_trained(tmp_path):
    """mbdpo-score: evaluations before the score network's first update (data arrives when the first
    500-step episode ends) are skipped with a note; the one after it happens."""
    overrides = {
        "task": "cartpole-balance",
        "algo": "mbdpo-score",
        "seed": 1,
        "steps": 510,
        "eval_every": 255,
        "eval_episodes": 1,
        "eval_at_start": True,
        "runs_dir": str(tmp_path),
        "logger": "none",
    }
    overrides.update(parse_overrides(tiny_algo("mbdpo-score")))
    res = execute(overrides, verbose=False)
    steps = sorted({int(r["step"]) for r in csv.DictReader(open(f"{res['path']}/eval.csv"))})
    assert steps == [510]
