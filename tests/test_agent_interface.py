"""The Algorithm interface the training modes use (algorithms/base.py): each registered algorithm
either has a mode's capability and implements its methods, or refuses them in one line; loading
weights with new task rows, freezing named parts and weights that do not fit."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

import algorithms
from algorithms.base import EnvSpec
from harness.config import build_algo_config
from harness.training.task_view import TaskView
from tests.helpers import tiny_algo

SPEC = EnvSpec(obs_dim=5, action_dim=2, episode_length=50)
MULTI = EnvSpec(
    obs_dim=5, action_dim=2, episode_length=50, tasks=("a", "b"), action_dims=(2, 1), episode_lengths=(50, 20)
)
OFFLINE = "offline_learning"
PRETRAINED = "pretrained_weights"


def _agent(name: str, spec: EnvSpec = SPEC, *over: str):
    cfg = build_algo_config(name, [t.removeprefix("algo.") for t in tiny_algo(name)] + list(over))
    return algorithms.get_algorithm(name).factory(cfg, spec, torch.device("cpu"), total_steps=1000)


def _batch(batch_size: int, horizon: int, spec: EnvSpec) -> TensorDict:
    gen = torch.Generator().manual_seed(0)
    H, B = horizon, batch_size
    return TensorDict(
        obs=torch.randn(H + 1, B, spec.obs_dim, generator=gen),
        action=torch.rand(H, B, spec.action_dim, generator=gen) * 2 - 1,
        reward=torch.rand(H, B, 1, generator=gen),
        terminated=torch.zeros(H, B, 1, dtype=torch.bool),
        batch_size=[],
    )


def _multitask_agent(name: str):
    """``name`` on a two-task spec (a world model with its task embedding)."""
    over = ["model.task_dim=8"] if "world_model" in algorithms.get_algorithm(name).capabilities else []
    return _agent(name, MULTI, *over)


def _calls(agent) -> dict[str, list]:
    """capability -> zero-argument calls of every method it promises."""

    def learn():
        batch = _batch(*agent.replay_slice, agent.env_spec)
        batch["task"] = torch.tensor([0, 1]).repeat(batch["obs"].shape[1] // 2)
        return agent.learn(batch)

    return {
        OFFLINE: [lambda: agent.replay_slice, learn],
        PRETRAINED: [
            lambda: agent.load_weights(agent.state_dict()),
            lambda: agent.set_task(1),
            lambda: agent.freeze(()),
            lambda: agent.copy_task_discount(0, 1),
            lambda: agent.reset_energy_statistics(),
            lambda: agent.leave_score_out_of_optimiser(),
        ],
    }


@pytest.mark.parametrize("name", algorithms.algorithm_names())
def test_each_algorithm_implements_what_its_capabilities_promise_or_refuses_in_one_line(name):
    torch.manual_seed(0)
    entry = algorithms.get_algorithm(name)
    agent = _multitask_agent(name)
    for capability, calls in _calls(agent).items():
        for call in calls:
            if capability in entry.capabilities:
                call()
            else:
                with pytest.raises(NotImplementedError) as info:
                    call()
                message = str(info.value)
                assert message.startswith(f"{type(agent).__name__} cannot ") and "\n" not in message
    if PRETRAINED in entry.capabilities:
        assert agent.task_id == 1 and float(agent.discount[1]) == float(agent.discount[0])
    assert (entry.parts != ()) == (PRETRAINED in entry.capabilities)
    assert entry.parts == type(agent).PARTS


def test_a_learn_step_returns_finite_metrics_and_changes_the_weights():
    torch.manual_seed(0)
    agent = _agent("tdmpc2")
    before = [p.detach().clone() for p in agent.model.encoder.parameters()]
    metrics = agent.learn(_batch(*agent.replay_slice, SPEC))
    assert metrics and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert any(not torch.equal(b, p) for b, p in zip(before, agent.model.encoder.parameters()))
    assert agent.replay_slice == (32, agent.cfg.planner.horizon)


def test_load_weights_copies_each_new_rows_source_row():
    torch.manual_seed(0)
    source = _agent("mbdpo", MULTI, "model.task_dim=8")
    four = EnvSpec(
        obs_dim=5,
        action_dim=2,
        episode_length=50,
        tasks=("a", "b", "c", "d"),
        action_dims=(2, 1, 1, 2),
        episode_lengths=(50, 20, 20, 50),
    )
    target = _agent("mbdpo", four, "model.task_dim=8")
    target.load_weights(source.state_dict(), new_task_rows_from=(1, 0))
    emb, emb0 = target.model.task_embedding.weight.detach(), source.model.task_embedding.weight.detach()
    assert torch.equal(emb[:2], emb0) and torch.equal(emb[2], emb0[1]) and torch.equal(emb[3], emb0[0])
    # the action masks are the target's own (its spec's), every other weight the source's
    assert torch.equal(target.model.action_masks, torch.tensor([[1.0, 1], [1, 0], [1, 0], [1, 1]]))
    for net, net0 in ((target.model.encoder, source.model.encoder), (target.energy, source.energy)):
        state, state0 = net.state_dict(), net0.state_dict()
        assert list(state) == list(state0) and all(torch.equal(state[k], state0[k]) for k in state)


def test_freeze_turns_off_exactly_the_named_part_and_refuses_unknown_or_missing_parts():
    torch.manual_seed(0)
    agent = _agent("mbdpo-score", MULTI, "model.task_dim=8")  # every part present
    parts = agent.parts()
    assert tuple(parts) == agent.PARTS and all(m is not None for m in parts.values())
    for name, module in parts.items():
        agent.freeze([name])
        frozen = {id(p) for p in module.parameters()}
        assert frozen
        for other in parts.values():
            for p in other.parameters():
                assert p.requires_grad == (id(p) not in frozen), name
        for other in parts.values():
            other.requires_grad_(True)
    with pytest.raises(ValueError) as info:
        agent.freeze(["encodr"])
    assert str(info.value) == f"unknown part 'encodr'; valid: {', '.join(agent.PARTS)}"
    single = _agent("tdmpc2")  # no energy anchor, no task embedding
    for name in ("energy", "task_embedding", "score"):
        with pytest.raises(ValueError, match=f"^this model has no {name}$"):
            single.freeze([name])


def test_weights_that_do_not_fit_raise_one_line_value_errors():
    torch.manual_seed(0)
    agent = _agent("tdmpc2")
    wider = _agent("tdmpc2", EnvSpec(obs_dim=7, action_dim=2, episode_length=50))
    with pytest.raises(ValueError) as info:
        agent.load_weights(wider.state_dict())
    message = str(info.value)
    assert "\n" not in message and message.startswith("the weights do not fit this model: ")
    assert "encoder" in message  # names the first tensor that does not fit
    with pytest.raises(ValueError, match="^energy is absent here but not in the checkpoint$"):
        agent.load_weights(_agent("mbdpo").state_dict())
    multi = _agent("tdmpc2", MULTI, "model.task_dim=8")
    with pytest.raises(ValueError, match="task_embedding"):  # a row more than the weights give
        _agent("tdmpc2", MULTI, "model.task_dim=8").load_weights(multi.state_dict(), new_task_rows_from=(0,))


def test_a_task_view_acts_as_the_agent_on_its_padded_task():
    torch.manual_seed(0)
    agent = _agent("tdmpc2-pi", MULTI, "model.task_dim=8")
    obs = torch.randn(3, 4)  # a task with fewer observations than the model's 5
    view = TaskView(agent, 1, 1)
    padded = torch.nn.functional.pad(obs, (0, 1))
    expected = agent.act(padded, eval_mode=True, first_step=True, task=torch.ones(3, dtype=torch.long))
    assert torch.equal(view.act(obs, eval_mode=True, first_step=True), expected[..., :1])
    TaskView(agent, 0, 2)  # another view takes its turn: the first selects its task again when acting
    assert torch.equal(view.act(obs, eval_mode=True, first_step=True), expected[..., :1])
