"""The training env is stepped through TorchRL's Collector: the transitions equal a hand-written
reset/step loop's, the collector never calls the policy on its own, and a run resumed from the
random state recorded at an episode end continues exactly."""

from types import SimpleNamespace

import pytest
import torch
from torchrl.collectors import Collector
from torchrl.envs.utils import step_mdp

from envs import get_task, make_env
from harness.training.collect import TrainingSteps

# a standard DMControl task, one of the custom ones and a Meta-World one (each keeps its random
# state elsewhere)
TASKS = ["cartpole-balance", "cup-spin", "mw-reach"]


def _random_agent():
    """Stands in for an agent during its seed steps: the policy then acts uniformly at random."""
    return SimpleNamespace(seed_steps=10**9, act=None)


def _manual(task: str, steps: int, seed: int = 1) -> list:
    env = make_env(task, seed=seed, device="cpu")
    rng = torch.Generator().manual_seed(seed)
    action_dim = env.action_spec.shape[-1]
    out, td = [], env.reset()
    for _ in range(steps):
        td["action"] = torch.rand(action_dim, generator=rng) * 2 - 1
        td = env.step(td)
        out.append(td.clone())
        td = env.reset() if td["next", "done"].any() else step_mdp(td)
    return out


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(bool((x == y).all()) for x, y in zip(a, b))


@pytest.mark.parametrize("task", TASKS)
def test_collector_transitions_equal_a_hand_written_loop(task):
    episode = get_task(task).episode_length
    env = make_env(task, seed=1, device="cpu")
    rng = torch.Generator().manual_seed(1)
    before = rng.get_state()
    steps = TrainingSteps(env, _random_agent(), env.action_spec.shape[-1], rng)
    assert isinstance(steps.collector, Collector)
    assert torch.equal(rng.get_state(), before)  # the collector did not call the policy to probe it
    got = [steps.next(i, first_step=(i % episode == 0)).clone() for i in range(episode + 50)]
    assert _same(got, _manual(task, episode + 50))


@pytest.mark.parametrize("task", TASKS)
def test_resume_from_the_state_recorded_at_an_episode_end(task):
    episode = get_task(task).episode_length
    env = make_env(task, seed=1, device="cpu")
    action_dim = env.action_spec.shape[-1]
    rng = torch.Generator().manual_seed(1)
    steps = TrainingSteps(env, _random_agent(), action_dim, rng)
    got = [steps.next(i, first_step=False).clone() for i in range(episode)]
    assert bool(got[-1]["next", "done"].all())
    state, action_state = steps.checkpoint_state(), rng.get_state()
    # a new process: another env (seeded differently), the run's state restored
    env2 = make_env(task, seed=99, device="cpu")
    rng2 = torch.Generator()
    rng2.set_state(action_state)
    resumed = TrainingSteps(env2, _random_agent(), action_dim, rng2, resume_state=state)
    got += [resumed.next(i, first_step=False).clone() for i in range(episode, episode + 50)]
    assert _same(got, _manual(task, episode + 50))
