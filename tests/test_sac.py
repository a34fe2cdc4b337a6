"""Model-free SAC: action shapes and bounds, deterministic evaluation, updates that move the actor,
finite losses and an adapting temperature, the config defaults, and a trivial problem it solves."""

import copy

import pytest
import torch
from tensordict import TensorDict

import algorithms
from algorithms.base import EnvSpec
from algorithms.sac import SACAgent
from harness.bench import fill_replay
from harness.config import ConfigError, build_algo_config

SPEC = EnvSpec(obs_dim=5, action_dim=2, episode_length=50)
SMALL = ["hidden_dims=[64,64]", "batch_size=64", "seed_steps=0"]


@pytest.fixture(autouse=True)
def one_thread():
    """These networks are tiny: one intra-op thread is faster, and on a loaded 2-core machine two
    threads were measured ~100x slower per update (5 ms -> 500 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _agent(*over, spec=SPEC, total_steps=1000):
    cfg = build_algo_config("sac", [*SMALL, *over])
    return algorithms.get_algorithm("sac").factory(cfg, spec, torch.device("cpu"), total_steps=total_steps)


def _actor_params(agent):
    return [p.detach().clone() for p in agent.actor.parameters()]


def test_registered_with_defaults():
    entry = algorithms.get_algorithm("sac")
    assert entry.factory is SACAgent and entry.defaults_yaml is None  # the dataclass holds every default
    cfg = build_algo_config("sac", [])
    assert cfg.hidden_dims == [256, 256] and cfg.lr == 3e-4 and cfg.batch_size == 256 and cfg.tau == 0.005
    agent = entry.factory(cfg, EnvSpec(obs_dim=5, action_dim=2, episode_length=500), torch.device("cpu"), 20_000)
    assert agent.seed_steps == 2500  # max(1000, 5 episodes)
    assert agent.replay.storage.max_size == 20_000  # every step of the run
    assert agent.discount == pytest.approx(0.99)  # TD-MPC2's heuristic at 500 steps
    assert agent.target_entropy == -2.0
    # actor 5-256-256-4, two critics 7-256-256-1, log_alpha; targets not counted
    assert (
        agent.num_parameters()
        == (5 * 256 + 256 + 256 * 256 + 256 + 256 * 4 + 4) + 2 * (7 * 256 + 256 + 256 * 256 + 256 + 256 + 1) + 1
    )


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="activation"):
        build_algo_config("sac", ["activation=sigmoid"])
    with pytest.raises(ConfigError, match="tau"):
        build_algo_config("sac", ["tau=0"])
    with pytest.raises(ConfigError, match="unknown config key"):
        build_algo_config("sac", ["model.size=1"])


@pytest.mark.parametrize("batch", [1, 8])
def test_act_shapes_bounds_and_deterministic_eval(batch):
    torch.manual_seed(0)
    agent = _agent()
    obs = torch.randn(batch, SPEC.obs_dim, dtype=torch.float64) * 10
    for eval_mode in (True, False):
        a = agent.act(obs, eval_mode=eval_mode, first_step=True)
        assert a.shape == (batch, SPEC.action_dim) and a.dtype == torch.float32 and a.device.type == "cpu"
        assert a.abs().max() <= 1.0 and torch.isfinite(a).all()
    e1 = agent.act(obs, eval_mode=True, first_step=True)
    e2 = agent.act(obs, eval_mode=True, first_step=False)
    assert torch.equal(e1, e2)
    loc = agent.actor.module[0](TensorDict(observation=obs.float(), batch_size=[batch]))["loc"]
    torch.testing.assert_close(e1, torch.tanh(loc))  # the squashed mean
    s1 = agent.act(obs, eval_mode=False, first_step=False)
    s2 = agent.act(obs, eval_mode=False, first_step=False)
    assert not torch.equal(s1, s2)  # training actions are samples


def test_observe_update_and_seed_steps():
    torch.manual_seed(0)
    agent = _agent("seed_steps=60", "utd=2")
    fill_replay(agent, SPEC, episodes=2)
    assert len(agent.replay) == 100
    assert agent.update(59) == {}  # still seeding
    before = _actor_params(agent)
    target_before = [t.clone() for t in agent.loss.target_qvalue_network_params.flatten_keys().values()]
    metrics = agent.update(60)
    assert agent.num_updates == 2  # utd
    assert set(metrics) == {"loss_actor", "loss_qvalue", "loss_alpha", "alpha", "entropy"}
    assert all(isinstance(v, float) and v == v and abs(v) < float("inf") for v in metrics.values())
    assert any(not torch.equal(b, p) for b, p in zip(before, agent.actor.parameters()))  # act() sees the update
    # the target critics move, but only by Polyak steps
    after = agent.loss.target_qvalue_network_params.flatten_keys().values()
    diff = max((a - b).abs().max().item() for a, b in zip(after, target_before))
    assert 0 < diff < 0.01


def test_losses_finite_and_alpha_adapts():
    torch.manual_seed(0)
    agent = _agent()
    fill_replay(agent, SPEC, episodes=4)
    alphas = []
    for step in range(60):
        m = agent.update(step)
        assert all(torch.isfinite(torch.tensor(v)) for v in m.values()), m
        alphas.append(m["alpha"])
    # the policy's entropy starts far above the target -|A|, so the temperature falls
    assert alphas[0] == pytest.approx(1.0) and alphas[-1] < 0.99
    fixed = _agent("fixed_alpha=true", "alpha_init=0.2")
    fill_replay(fixed, SPEC, episodes=1)
    assert [fixed.update(i)["alpha"] for i in range(3)] == pytest.approx([0.2] * 3)
    with pytest.raises(ValueError, match="fixed_alpha"):
        fixed.load_state_dict(agent.state_dict())


def test_learns_a_contextual_bandit():
    """One-step episodes (terminated) with reward -|a - a*(s)|^2: Q is the reward, and the
    deterministic policy must move to a*(s) = 0.6 * s[:A] from off-policy uniform actions."""
    torch.manual_seed(0)
    spec = EnvSpec(obs_dim=3, action_dim=2, episode_length=1)
    agent = _agent("lr=3e-3", "alpha_lr=3e-3", spec=spec)
    n = 1000
    obs = torch.rand(n, 3) * 2 - 1
    act = torch.rand(n, 2) * 2 - 1
    best = 0.6 * obs[:, :2]
    reward = -(act - best).pow(2).sum(-1, keepdim=True)
    ones = torch.ones(n, 1, dtype=torch.bool)
    agent.observe(
        TensorDict(
            observation=obs,
            action=act,
            next=TensorDict(
                observation=torch.rand(n, 3) * 2 - 1, reward=reward, terminated=ones, done=ones, batch_size=[n]
            ),
            batch_size=[n],
        )
    )
    assert len(agent.replay) == n
    test_obs = torch.rand(256, 3) * 2 - 1
    target = 0.6 * test_obs[:, :2]
    error0 = (agent.act(test_obs, eval_mode=True, first_step=True) - target).abs().mean()
    for step in range(300):
        agent.update(step)
    error = (agent.act(test_obs, eval_mode=True, first_step=True) - target).abs().mean()
    assert error < 0.1 and error < error0 / 2, (error0, error)


def test_state_dict_round_trip_is_exact():
    torch.manual_seed(0)
    agent = _agent()
    fill_replay(agent, SPEC, episodes=2)
    agent.update(0)
    state = copy.deepcopy(agent.state_dict())
    rng = torch.get_rng_state()
    a = [agent.update(i) for i in (1, 2)]
    other = _agent()
    other.load_state_dict(state)
    torch.set_rng_state(rng)
    b = [other.update(i) for i in (1, 2)]
    assert a == b and other.num_updates == agent.num_updates == 3 and len(other.replay) == 100
    for (k, x), (_, y) in zip(agent.model.state_dict().items(), other.model.state_dict().items()):
        assert torch.equal(x, y), k


def test_bench_counts_sac_flops():
    """FlopCounterMode's module tracker trips over the TensorDictParams inside SACLoss; the bench
    must still time SAC and count its FLOPs."""
    from harness.bench import bench_one

    row = bench_one("sac", 1, SPEC, repeats=1, device=torch.device("cpu"), overrides=["hidden_dims=[64,64]"])
    assert row["size"] == "-" and row["params_M"] > 0
    for key in ("update", "act1", "act8"):
        assert row[f"{key}_ms"] > 0 and row[f"{key}_gflops"] > 0, (key, row)
