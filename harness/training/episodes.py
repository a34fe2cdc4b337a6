"""Evaluation episodes: N at once in a batched environment, no exploration noise, and the
``eval.csv`` rows they make (the results format, docs/results-format.md)."""

from __future__ import annotations

from typing import Callable

import torch
from tensordict import TensorDictBase
from torchrl.envs import EnvBase
from torchrl.envs.utils import step_mdp

from algorithms.base import Algorithm
from configs.suites import normalised_score


@torch.no_grad()
def evaluate_episodes(
    agent: Algorithm, env: EnvBase, max_steps: int, on_step: Callable[[int, int], None] | None = None
) -> list[dict]:
    """Run one episode in each of ``env``'s batched copies; returns one dict per episode with
    ``return``, ``length`` and ``success`` (success at the last step, as the reference reports it;
    None when the task has no success signal). ``on_step(t, max_steps)`` after each step t."""
    td: TensorDictBase = env.reset()
    n = td.batch_size[0]
    returns = torch.zeros(n, dtype=torch.float64)
    lengths = torch.zeros(n, dtype=torch.int64)
    finished = torch.zeros(n, dtype=torch.bool)
    success = None
    for t in range(max_steps):
        td["action"] = agent.act(td["observation"], eval_mode=True, first_step=(t == 0)).to(td.device or "cpu")
        td = env.step(td)
        nxt = td["next"]
        alive = ~finished
        returns += nxt["reward"].reshape(n).double() * alive
        lengths += alive.long()
        if "success" in nxt.keys():
            step_success = nxt["success"].reshape(n).double()
            success = step_success if success is None else torch.where(alive, step_success, success)
        finished |= nxt["done"].reshape(n)
        if on_step:
            on_step(t + 1, max_steps)
        if finished.all():
            break
        td = step_mdp(td)
    return [
        {
            "episode": i,
            "return": float(returns[i]),
            "length": int(lengths[i]),
            "success": None if success is None else float(success[i]),
        }
        for i in range(n)
    ]


def eval_rows(
    episodes: list[dict], *, suite: str, task: str, algo: str, variant: str, seed: int, step: int
) -> list[dict]:
    """``eval.csv`` rows of :func:`evaluate_episodes`' episodes of ``task``: the run's identity,
    each episode's fields and its normalised score."""
    return [
        {
            "suite": suite,
            "task": task,
            "algo": algo,
            "variant": variant,
            "seed": seed,
            "step": step,
            **ep,
            "score": normalised_score(task, ep["return"], ep["success"]),
        }
        for ep in episodes
    ]
