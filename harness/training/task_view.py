"""One task seen through an agent whose model is larger than the task (a multi-task model, or a
model fine-tuned on a task of fewer dims): the pad-and-cut adapter evaluation and fine-tuning share."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from tensordict import TensorDictBase

from algorithms.base import Algorithm


def pad_to(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x`` with its last dim zero-padded to ``size`` (as float); unchanged if already that wide."""
    return F.pad(x.float(), (0, size - x.shape[-1])) if x.shape[-1] < size else x


class TaskView:
    """``inner`` acting on one task: observations zero-padded to the model's size (in acting and in
    what it stores), stored actions zero-padded, actions cut to the task's own ``action_dim``. A
    multi-task model's ``task_id`` is selected (``Algorithm.set_task``) when the view is made and
    before each action, so several views of one agent can take turns.

    With ``hold_first_update`` it skips the update of the step that stores the first episode, as
    MBDPO's fine-tune loop updates before it adds a finished episode to an empty buffer. Anything
    else (``update``, ``state_dict``, ``env_spec``...) is the agent's."""

    def __init__(self, inner: Algorithm, task_id: int | None, action_dim: int, *, hold_first_update: bool = False):
        self.inner, self.task_id, self.action_dim = inner, task_id, action_dim
        self.awaiting_first_episode = hold_first_update  # cleared by a resume (FinetuneTrainer.restore)
        self._hold = False
        if task_id is not None:
            inner.set_task(task_id)

    def __getattr__(self, name: str) -> Any:  # everything else is the agent's
        return getattr(self.inner, name)

    def act(self, obs: torch.Tensor, **kw: Any) -> torch.Tensor:
        if self.task_id is not None:
            self.inner.set_task(self.task_id)
        return self.inner.act(pad_to(obs, self.inner.env_spec.obs_dim), **kw)[..., : self.action_dim]

    def observe(self, transition: TensorDictBase) -> None:
        spec = self.inner.env_spec
        td = transition.clone(False)
        td["observation"] = pad_to(td["observation"], spec.obs_dim)
        td["action"] = pad_to(td["action"], spec.action_dim)
        td["next", "observation"] = pad_to(td["next", "observation"], spec.obs_dim)
        self.inner.observe(td)
        if self.awaiting_first_episode and bool(td["next", "done"].any()):
            self.awaiting_first_episode, self._hold = False, True

    def update(self, step: int) -> dict[str, float]:
        if self._hold:
            self._hold = False
            return {}
        return self.inner.update(step)
