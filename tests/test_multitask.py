"""The multi-task world model (TD-MPC2's world_model.py in multi-task mode, as MBDPO copies it):
task embeddings on every input, per-task action masks in the policy and every planner, the
entropy scaled by each task's own action dims, and a per-task discount."""

import pytest
import torch
from tensordict import TensorDict

import algorithms
from algorithms.base import EnvSpec
from algorithms.conventions import heuristic_discount
from algorithms.planning import NoiseSource, PlannerConfig, make_planner
from algorithms.world_model import ModelConfig, WorldModel
from algorithms.world_model.energy import positive_pairs
from algorithms.world_model.model import gaussian_log_prob

# mt-smoke: cartpole-balance (5 obs / 1 action), reacher-easy (6 / 2), cheetah-run (17 / 6)
SPEC = EnvSpec(
    obs_dim=17,
    action_dim=6,
    episode_length=500,
    tasks=("cartpole-balance", "reacher-easy", "cheetah-run"),
    action_dims=(1, 2, 6),
    episode_lengths=(500, 500, 500),
)


def _model():
    torch.manual_seed(0)
    return WorldModel(ModelConfig(size=1), SPEC.obs_dim, SPEC.action_dim, action_dims=SPEC.action_dims)


def test_task_embedding_joins_every_input():
    model = _model()
    assert model.task_embedding.num_embeddings == 3 and model.task_embedding.embedding_dim == 96
    assert model.task_embedding.max_norm == 1
    assert model.encoder[0].in_features == 17 + 96
    assert model.dynamics[0].in_features == 128 + 96 + 6
    assert model.pi_head[0].in_features == 128 + 96
    assert model.qs.weights[0].shape[1] == 128 + 96 + 6
    assert model.task_embedding.weight.abs().max() <= 0.02  # TD-MPC2's weight_init: U(-0.02, 0.02)
    # the embedding changes the latent: the same observation under two tasks
    obs = torch.randn(1, 17)
    assert not torch.allclose(model.encode(obs, torch.tensor([0])), model.encode(obs, torch.tensor([2])))


def test_single_task_models_have_no_task_parts():
    model = WorldModel(ModelConfig(size=1), 5, 1)
    assert model.task_embedding is None and "action_masks" not in model.state_dict()
    assert model.encoder[0].in_features == 5


def test_policy_masks_padding_and_scales_entropy_by_the_tasks_own_dims():
    model = _model()
    task = torch.tensor([0, 1, 2, 1])
    z = model.encode(torch.randn(4, 17), task)
    eps = torch.randn(4, 6)
    out = model.pi(z, eps=eps, task=task)
    for row, dims in enumerate([1, 2, 6, 2]):
        assert (out.action[row, dims:] == 0).all() and (out.mean[row, dims:] == 0).all()
        assert (out.action[row, :dims] != 0).all()
    mu, log_std = model.pi_head(model.with_task(z, task)).chunk(2, dim=-1)
    log_std = model.log_std_min + 0.5 * model.log_std_dif * (torch.tanh(log_std) + 1)
    mask = model.action_masks[task]
    pre = gaussian_log_prob(eps * mask, log_std * mask)
    expected = -torch.tensor([[1.0], [2.0], [6.0], [2.0]]) * pre
    assert torch.allclose(out.scaled_entropy, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["mppi", "cem", "diffusion"])
def test_every_planner_acts_only_on_the_tasks_own_dims(kind):
    model = _model().eval()
    task = torch.tensor([0, 1, 2])
    z = model.encode(torch.randn(3, 17), task)
    cfg = PlannerConfig(
        kind=kind, num_samples=16, num_elites=4, num_pi_trajs=2 if kind != "cem" else 0, iterations=2, diffusion_steps=3
    )
    discount = torch.tensor([heuristic_discount(L, 5, 0.95, 0.995) for L in SPEC.episode_lengths])
    planner = make_planner(cfg, 6, discount)
    for eval_mode in (True, False):
        action = planner.plan(model, z, first_step=True, eval_mode=eval_mode, noise=NoiseSource(3, z.device), task=task)
        assert action.shape == (3, 6)
        for row, dims in enumerate(SPEC.action_dims):
            assert (action[row, dims:] == 0).all(), (kind, row)
        warm = planner.prev_mean if kind != "diffusion" else planner.prev_plan
        assert (warm[0, :, 1:] == 0).all() and (warm[1, :, 2:] == 0).all()


def test_per_task_discount_from_episode_length():
    spec = EnvSpec(
        obs_dim=39,
        action_dim=6,
        episode_length=500,
        tasks=("walker-run", "mw-reach"),
        action_dims=(6, 4),
        episode_lengths=(500, 100),
    )
    entry = algorithms.get_algorithm("tdmpc2")
    agent = entry.factory(entry.config({"model.size": 1}), spec, torch.device("cpu"), 1000)
    assert agent.discount.tolist() == pytest.approx([0.99, 0.95])
    assert agent.discount_of(torch.tensor([1, 0, 1])).squeeze(-1).tolist() == pytest.approx([0.95, 0.99, 0.95])


def _batch(B=8, H=3):
    task = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])[:B]
    mask = torch.tensor([[1.0] + [0] * 5, [1.0, 1] + [0] * 4, [1.0] * 6])[task]
    obs = torch.randn(H + 1, B, 17)
    obs[..., 5:][:, task == 0] = 0  # zero-padded observations
    action = (torch.rand(H, B, 6) * 2 - 1) * mask
    return TensorDict(
        obs=obs,
        action=action,
        reward=torch.rand(H, B, 1),
        terminated=torch.zeros(H, B, 1, dtype=torch.bool),
        task=task,
        batch_size=[],
    )


@pytest.mark.parametrize("name", ["tdmpc2", "mbdpo", "mbdpo-score"])
def test_multitask_agents_learn_from_batches_with_task_ids(name):
    torch.manual_seed(0)
    entry = algorithms.get_algorithm(name)
    over = {"model.size": 1, "batch_size": 8, "planner.diffusion_steps": 3, "score.mc_samples": 4}
    agent = entry.factory(entry.config(over), SPEC, torch.device("cpu"), 1000)
    before = agent.model.task_embedding.weight.detach().clone()
    for _ in range(3):
        metrics = agent.learn(_batch())
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert not torch.equal(before, agent.model.task_embedding.weight)  # the embedding is trained
    # acting needs a task: given per call, or the agent's task_id (fine-tuning one task)
    with pytest.raises(ValueError, match="needs a task id"):
        agent.act(torch.randn(1, 17), eval_mode=True, first_step=True)
    agent.task_id = 1
    action = agent.act(torch.randn(1, 17), eval_mode=False, first_step=True)
    assert action.shape == (1, 6) and (action[0, 2:] == 0).all()


def test_reference_pairs_take_task_ids_batch_major_like_the_actions():
    H, B = 3, 2
    ids = torch.tensor([[10.0 * t + b for b in range(B)] for t in range(H)])[..., None]
    task = torch.tensor([7, 9])
    _, _, ref_task = positive_pairs(ids, ids, "reference", task)
    assert ref_task.tolist() == [7, 7, 7, 9, 9, 9]  # MBDPO: task.repeat_interleave(H)
    _, _, al_task = positive_pairs(ids, ids, "aligned", task)
    assert al_task.tolist() == [7, 9, 7, 9, 7, 9]  # the task of each time-major latent
