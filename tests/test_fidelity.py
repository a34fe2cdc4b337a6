"""Known answers for the places where the reference codes differ from a plain reading of the papers
(docs/fidelity.md): the policy's scaled entropy, the replay capacity rule, the planner-iteration
rule, MBDPO's fixed TD-target heads, its initialisation, F's positive pairs and the score loss."""

import math

import pytest
import torch

import algorithms
from algorithms.base import EnvSpec
from algorithms.conventions import replay_capacity
from algorithms.planning import PlannerConfig
from algorithms.world_model import ModelConfig, WorldModel
from algorithms.world_model.energy import EnergyClassifier, positive_pairs
from algorithms.world_model.model import gaussian_log_prob, scaled_entropy, squash_log_prob


# --- the policy's entropy term -------------------------------------------------------------
def test_scaled_entropy_is_minus_action_dims_times_the_pre_squash_log_prob():
    """TD-MPC2 world_model.py:166-182 on numbers worked out by hand."""
    eps = torch.tensor([[0.5, -1.0, 2.0]])
    log_std = torch.tensor([[0.0, math.log(0.5), -1.0]])
    by_hand = sum(-0.5 * e**2 - s - 0.5 * math.log(2 * math.pi) for e, s in zip(eps[0].tolist(), log_std[0].tolist()))
    pre = gaussian_log_prob(eps, log_std)
    assert pre.item() == pytest.approx(by_hand, abs=1e-6)
    mu = torch.tensor([[0.1, -0.2, 0.3]])
    sample = torch.tanh(mu + eps * log_std.exp())
    post = squash_log_prob(pre, sample)
    squash_by_hand = sum(
        math.log(1 - math.tanh(m + e * math.exp(s)) ** 2 + 1e-6)
        for m, e, s in zip(mu[0].tolist(), eps[0].tolist(), log_std[0].tolist())
    )
    assert post.item() == pytest.approx(by_hand - squash_by_hand, abs=1e-5)
    # -log_prob * entropy_scale with entropy_scale = A * pre / (post + 1e-8)
    expected = -post.item() * (3 * pre.item() / (post.item() + 1e-8))
    assert scaled_entropy(pre, post, 3).item() == pytest.approx(expected, rel=1e-6)
    assert scaled_entropy(pre, post, 3).item() == pytest.approx(-3 * by_hand, rel=1e-5)


def test_policy_returns_the_scaled_entropy_of_its_sample():
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(size=1), obs_dim=4, action_dim=2)
    z = model.encode(torch.randn(6, 4))
    eps = torch.randn(6, 2)
    out = model.pi(z, eps=eps)
    mu, log_std = model.pi_head(z).chunk(2, dim=-1)
    log_std = model.log_std_min + 0.5 * model.log_std_dif * (torch.tanh(log_std) + 1)
    assert torch.allclose(out.scaled_entropy, -2 * gaussian_log_prob(eps, log_std), rtol=1e-4, atol=1e-4)
    assert torch.allclose(out.action, torch.tanh(mu + eps * log_std.exp()))


# --- replay capacity ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "buffer_size, steps, episode, expected",
    [
        (1_000_000, 10_000, 500, 10_000),  # min(buffer_size, steps): the references' rule
        (1_000_000, 4_000_000, 500, 1_000_000),
        (5_000, 10_000, 500, 5_000),
        (1_000_000, 300, 500, 501),  # shorter than one episode: one episode still fits
    ],
)
def test_replay_capacity_rule(buffer_size, steps, episode, expected):
    assert replay_capacity(buffer_size, steps, episode) == expected


def _agent(name, steps=10_000, episode=500, obs=5, act=1, **overrides):
    entry = algorithms.get_algorithm(name)
    cfg = entry.config({**({} if name == "sac" else {"model.size": 1}), **overrides})
    return entry.factory(cfg, EnvSpec(obs_dim=obs, action_dim=act, episode_length=episode), torch.device("cpu"), steps)


def test_world_model_and_sac_agents_keep_min_of_buffer_size_and_steps():
    assert _agent("tdmpc2").replay.buffer.storage.max_size == 10_000
    assert _agent("mbdpo", buffer_size=2_000).replay.buffer.storage.max_size == 2_000
    assert _agent("sac", steps=7_000).replay.storage.max_size == 7_000


def test_replay_wraps_without_slices_crossing_episodes():
    """A 10k-row buffer overfills with 20 episodes of 501 rows, as TD-MPC2's does at 10k steps."""
    agent = _agent("tdmpc2", steps=60, episode=10, buffer_size=60, batch_size=64)
    replay = agent.replay
    for ep in range(8):  # 88 rows into 60
        rows = torch.arange(11, dtype=torch.float32) + 100 * ep
        from tensordict import TensorDict

        replay.add_episode(
            TensorDict(
                obs=rows[:, None].expand(11, 5).clone(),
                action=rows[:, None].clone(),
                reward=rows[:, None].clone(),
                terminated=torch.zeros(11, 1, dtype=torch.bool),
                batch_size=[11],
            )
        )
    assert len(replay) == 60
    batch = replay.sample()
    obs = batch["obs"][..., 0]  # [H+1, B]
    assert ((obs // 100).diff(dim=0) == 0).all()  # one episode per slice
    assert (obs.diff(dim=0) == 1).all()  # consecutive rows
    assert torch.isfinite(batch["action"]).all()


# --- planner iterations ------------------------------------------------------------------------
def test_mppi_adds_two_iterations_from_twenty_action_dims_and_diffusion_does_not():
    cfg = PlannerConfig()
    assert [cfg.iterations_for(a) for a in (1, 6, 19, 20, 38)] == [6, 6, 6, 8, 8]
    counts = []

    class CountingModel:
        num_q = 2

        def __init__(self, a):
            self.action_dim = a

        def reward(self, z, a, task=None):
            counts.append(1)
            return torch.zeros(*a.shape[:-1], 1)

        def next(self, z, a, task=None):
            return z

        def pi(self, z, eps=None, task=None):
            from algorithms.world_model.model import PolicySample

            a = torch.zeros(*z.shape[:-1], self.action_dim)
            zero = torch.zeros(*z.shape[:-1], 1)
            return PolicySample(a, a, zero, zero)

        def q_pairs(self, z, a, pairs, task=None):
            return torch.zeros(*z.shape[:-1], 1)

    from algorithms.planning import make_planner

    for kind, action_dim, expected in (("mppi", 6, 6), ("mppi", 21, 8), ("cem", 24, 8), ("diffusion", 21, 19)):
        counts.clear()
        planner_cfg = PlannerConfig(kind=kind, horizon=1, num_samples=8, num_elites=2, num_pi_trajs=0)
        make_planner(planner_cfg, action_dim, 0.99).plan(
            CountingModel(action_dim), torch.zeros(1, 4), first_step=True, eval_mode=True
        )
        assert len(counts) == expected, kind  # one value estimate (horizon 1) per iteration


# --- MBDPO as its code does ---------------------------------------------------------------------
def test_presets_follow_each_reference():
    td, mb = (algorithms.get_algorithm(n).config() for n in ("tdmpc2", "mbdpo"))
    assert (td.td_target_heads, td.model.q_init) == ("random", "tdmpc2")
    assert (mb.td_target_heads, mb.model.q_init, mb.energy.positives) == ("first_two", "torch_default", "reference")
    assert mb.energy.zero_init_last and not mb.score.detach_latent
    assert algorithms.get_algorithm("mbdpo-aligned").config().energy.positives == "aligned"


def test_td_target_uses_heads_zero_and_one_when_fixed():
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(size=1, num_q=5), obs_dim=3, action_dim=2)
    with torch.no_grad():
        # give each target head a distinct constant output: last-layer bias of head i -> value i
        last_bias = model.target_qs.biases[-1]
        last_bias.zero_()
        bins = model.two_hot.bins
        for head in range(5):
            value = torch.tensor([[float(head + 1)]])
            idx = (bins - torch.sign(value) * torch.log1p(value.abs())).abs().argmin()
            last_bias[head, 0, idx] = 50.0  # a near one-hot distribution at symlog(head + 1)
    z, a = torch.rand(4, 128), torch.rand(4, 2)
    every_head = model.two_hot.decode(model.q_logits(z, a, target=True))  # [5, 4, 1]: about 1, 2, ..., 5
    fixed = model.q(z, a, "min", target=True, heads="first_two")
    assert torch.equal(fixed, every_head[:2].min(0).values)  # heads 0 and 1, every time
    assert torch.allclose(fixed, every_head[0]) and not torch.allclose(fixed, every_head[1])
    seen = {round(float(model.q(z, a, "min", target=True)[0]), 3) for _ in range(60)}
    assert len(seen) > 1  # random pairs give other minima


def test_mbdpo_initialisation():
    torch.manual_seed(0)
    td = WorldModel(ModelConfig(size=1), obs_dim=4, action_dim=2)
    mb = WorldModel(ModelConfig(size=1, q_init="torch_default"), obs_dim=4, action_dim=2)
    for model in (td, mb):
        assert (model.qs.weights[-1] == 0).all()  # last layer weights zero in both codes
        assert all((g == 1).all() for g in model.qs.ln_weights)
    # TD-MPC2 HEAD: truncated normal 0.02, zero biases
    assert td.qs.weights[0].std().item() == pytest.approx(0.02, rel=0.1) and (td.qs.biases[0] == 0).all()
    assert (td.qs.biases[-1] == 0).all()
    # MBDPO: nn.Linear's default U(+-1/sqrt(fan_in)), biases too, the last bias included
    fan_in = mb.qs.weights[0].shape[1]
    bound = 1 / math.sqrt(fan_in)
    w = mb.qs.weights[0]
    assert w.abs().max().item() <= bound and w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert mb.qs.biases[0].abs().max().item() <= bound and mb.qs.biases[0].abs().max().item() > bound / 2
    assert mb.qs.biases[-1].abs().max().item() > 0
    # F's last layer starts at zero (MBDPO), unless switched off
    f = EnergyClassifier(8, 2, 16, momentum=0.99, clip=5.0, neg_noise=0.5)
    assert (f.net[-1].weight == 0).all()
    assert not (
        EnergyClassifier(8, 2, 16, momentum=0.99, clip=5.0, neg_noise=0.5, zero_init_last=False).net[-1].weight == 0
    ).all()


def test_positive_pairs_by_hand():
    """H=3, B=2: latent (t, b) has id 10*t + b and its action id 10*t + b as well."""
    H, B = 3, 2
    ids = torch.tensor([[10.0 * t + b for b in range(B)] for t in range(H)])  # [H, B]
    z, a = ids[..., None], ids[..., None]
    z_al, a_al, _ = positive_pairs(z, a, "aligned")
    assert z_al[:, 0].tolist() == a_al[:, 0].tolist() == [0, 1, 10, 11, 20, 21]
    z_ref, a_ref, _ = positive_pairs(z, a, "reference")
    assert z_ref[:, 0].tolist() == [0, 1, 10, 11, 20, 21]  # time-major: (t, b) = (i // B, i % B)
    assert a_ref[:, 0].tolist() == [0, 10, 20, 1, 11, 21]  # batch-major: (t, b) = (i % H, i // H)
    own = (z_ref == a_ref).squeeze(-1)
    assert own.tolist() == [True, False, False, False, False, True]  # only the first and the last


def test_reference_pairing_at_the_papers_batch():
    H, B = 3, 256
    ids = torch.arange(H * B, dtype=torch.float32).reshape(H, B, 1)
    z, a, _ = positive_pairs(ids, ids, "reference")
    assert int((z == a).sum()) == 2  # method.md: 2 of 768 pairs are a latent with its own action


def test_score_loss_reaches_the_encoder_only_when_not_detached():
    torch.manual_seed(0)
    tiny = {
        "planner.num_samples": 8,
        "planner.num_elites": 2,
        "planner.num_pi_trajs": 0,
        "planner.diffusion_steps": 3,
        "score.mc_samples": 4,
        "energy.enabled": False,
    }
    grads = {}
    for detach in (False, True):
        agent = _agent("mbdpo-score", obs=3, act=1, **tiny, **{"score.detach_latent": detach})
        z = agent.model.encode(torch.randn(4, 3))
        agent.model.zero_grad()
        agent._score_loss(z).backward()
        grads[detach] = sum(float(p.grad.abs().sum()) for p in agent.model.encoder.parameters() if p.grad is not None)
    assert grads[False] > 0 and grads[True] == 0
