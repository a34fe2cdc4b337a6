"""Offline-to-online fine-tuning (``mode=finetune``), as MBDPO's ``scripts/offline_to_online.py``.

The pretrained model (an offline multi-task run, or an online run) is loaded from its checkpoint.
A multi-task model's target task always gets a new task-embedding row copied from ``source_task``'s
(a task the checkpoint knows and MBDPO's map does not name is its own source), with the source's
action mask and discount. F's normalisation statistics restart at 0 / 1; the optimisers are fresh
and, as the reference's ``_rebuild_optimizers``, leave the score network out; the replay starts
empty and there are no random seed steps: one update per environment step from the step after the
first episode is stored. Each of these is a ``finetune.*`` switch (docs/fidelity.md, "Fine-tuning").
Everything is trained unless ``finetune.freeze`` names parts. The loop is the online one
(:class:`OnlineTrainer`), with the environment's observations zero-padded to the model's size and
the model's actions cut to the environment's. A resumed fine-tune is rebuilt from the same
checkpoint, then restored exactly.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from tensordict import TensorDictBase

import algorithms
from algorithms.base import EnvSpec
from harness.config import FREEZABLE
from harness.data import suite_layout, task_dims
from harness.training.offline import multitask_spec
from harness.training.pretrained import PretrainedError, find_pretrained
from harness.training.trainer import OnlineTrainer

#: a fine-tuned model's task set names a known target's own (pretrained) row ``<task>@pretrained``
PRETRAINED_ROW = "@pretrained"


class TaskAdapter:
    """A pretrained agent acting on one task: pads observations to the model's size (in acting and
    in what it stores), pads actions with zeros, and cuts its actions to the task's own dims. With
    ``hold_first_update`` it skips the update of the step that stores the first episode, as the
    reference's loop updates before it adds a finished episode to an empty buffer."""

    def __init__(self, agent, obs_dim: int, action_dim: int, hold_first_update: bool = False) -> None:
        self.inner, self.obs_dim, self.action_dim = agent, obs_dim, action_dim
        self.awaiting_first_episode = hold_first_update  # cleared by a resume (FinetuneTrainer.restore)
        self._hold = False

    def __getattr__(self, name: str) -> Any:  # everything else is the agent's
        return getattr(self.inner, name)

    def _pad(self, x: torch.Tensor, size: int) -> torch.Tensor:
        return F.pad(x.float(), (0, size - x.shape[-1])) if x.shape[-1] < size else x

    def act(self, obs: torch.Tensor, **kw: Any) -> torch.Tensor:
        return self.inner.act(self._pad(obs, self.inner.env_spec.obs_dim), **kw)[..., : self.action_dim]

    def observe(self, transition: TensorDictBase) -> None:
        spec = self.inner.env_spec
        td = transition.clone(False)
        td["observation"] = self._pad(td["observation"], spec.obs_dim)
        td["action"] = self._pad(td["action"], spec.action_dim)
        td["next", "observation"] = self._pad(td["next", "observation"], spec.obs_dim)
        self.inner.observe(td)
        if self.awaiting_first_episode and bool(td["next", "done"].any()):
            self.awaiting_first_episode, self._hold = False, True

    def update(self, step: int) -> dict[str, float]:
        if self._hold:
            self._hold = False
            return {}
        return self.inner.update(step)


def _parts(agent) -> dict[str, Any]:
    m = agent.model
    parts = {
        "encoder": m.encoder,
        "dynamics": m.dynamics,
        "reward": m.reward_head,
        "pi": m.pi_head,
        "q": m.qs,
        "task_embedding": m.task_embedding,
        "energy": agent.energy,
        "score": agent.score_net,
    }
    assert set(parts) == set(FREEZABLE)
    return parts


class FinetuneTrainer(OnlineTrainer):
    """Fine-tunes ``run.checkpoint``'s model on ``run.task`` (see the module docstring)."""

    def make_agent(self):
        c = self.config
        self.pretrained = find_pretrained(c.checkpoint, c.format, (c.task,))
        own = self.spec  # the environment's own dims (the collector's random actions use them)
        ft = c.finetune
        agent, spec, task_id, source_id = self._pretrained_agent(self.pretrained.state(), own)
        agent.task_id = task_id
        if source_id is not None and ft.discount == "source":
            agent.copy_task_discount(source_id, task_id)
        if ft.reset_energy_statistics:
            agent.reset_energy_statistics()
        if not ft.train_score:
            agent.leave_score_out_of_optimiser()
        for name in ft.freeze:
            part = _parts(agent)[name]
            if part is None:
                raise PretrainedError(f"finetune.freeze={name}: this {c.algo} model has no {name}")
            part.requires_grad_(False)
        # what was done, in config.yaml's `pretrained:` (beside the run's own finetune.* switches)
        self.source = {
            "task_id": task_id,
            "source_task": c.source_task or None,
            "new_task_row": source_id is not None,
            "source_task_id": source_id,
            **self.pretrained.provenance(),
        }
        return TaskAdapter(agent, own.obs_dim, own.action_dim, hold_first_update=not ft.first_update_at_episode_end)

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.agent.awaiting_first_episode = False  # a checkpoint is written after the first episode

    def _pretrained_agent(self, state: dict[str, Any], own: EnvSpec):
        """A fresh agent (optimisers, replay, no seed steps) with the pretrained weights, the
        target's task id and the id of the task its new embedding row was copied from (both None
        for a single-task model; the source None when a known task keeps its own row). ``state``:
        the checkpoint's; a multi-task model's spec is the one it records, else its suite's."""
        c, pre_run, pre = self.config, self.pretrained, state["agent"]
        source_id = None
        cfg = copy.deepcopy(self.resolved.algo_cfg)
        cfg.seed_steps = 0  # the reference: no random seed phase with a checkpoint
        model_state = dict(pre["model"])
        if not pre_run.multitask:  # a single-task model fine-tunes as it is, on a task of its own shape
            pre_dims = task_dims(pre_run.tasks[0])
            if (pre_dims.obs_dim, pre_dims.action_dim) != (own.obs_dim, own.action_dim):
                raise PretrainedError(
                    f"task={c.task} has {own.obs_dim} observations and {own.action_dim} actions; the single-task "
                    f"model of checkpoint={c.checkpoint} takes {pre_dims.obs_dim} and {pre_dims.action_dim}"
                )
            spec, task_id = own, None
        else:
            if "spec" in state:
                spec = EnvSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["spec"].items()})
            else:
                spec = multitask_spec(suite_layout(pre_run.config["run"]["suite"]))
            if own.obs_dim > spec.obs_dim or own.action_dim > spec.action_dim:
                raise PretrainedError(
                    f"task={c.task} has {own.obs_dim} observations and {own.action_dim} actions; the model of "
                    f"checkpoint={c.checkpoint} takes at most {spec.obs_dim} and {spec.action_dim}"
                )
            if not c.finetune.new_task_row and c.task in spec.tasks:  # its own trained row, as it is
                task_id = spec.task_id(c.task)
            else:  # MBDPO's _append_new_task_embedding: a new row copied from the source task's
                source_id = spec.task_id(c.source_task)
                # the target's name now means the new row; a known target's old row is renamed
                renamed = tuple(f"{t}{PRETRAINED_ROW}" if t == c.task else t for t in spec.tasks)
                spec = EnvSpec(
                    obs_dim=spec.obs_dim,
                    action_dim=spec.action_dim,
                    episode_length=max(spec.episode_length, own.episode_length),
                    tasks=(*renamed, c.task),
                    action_dims=(
                        *spec.action_dims,
                        spec.action_dims[source_id] if c.finetune.action_mask == "source" else own.action_dim,
                    ),
                    episode_lengths=(*spec.episode_lengths, own.episode_length),
                )
                task_id = len(spec.tasks) - 1
                emb = model_state["task_embedding.weight"]
                model_state["task_embedding.weight"] = torch.cat([emb, emb[source_id : source_id + 1]], dim=0)
        agent = algorithms.get_algorithm(c.algo).factory(cfg, spec, self.device, c.steps)
        if "action_masks" in model_state:
            model_state["action_masks"] = agent.model.action_masks  # the new task's mask included
        try:
            agent.model.load_state_dict(model_state)
            for name in ("energy", "score_net"):
                net = getattr(agent, name)
                if (net is None) != (pre.get(name) is None):
                    raise ValueError(
                        f"{name} is {'absent' if net is None else 'present'} here but not in the checkpoint"
                    )
                if net is not None:
                    net.load_state_dict(pre[name])
        except (RuntimeError, ValueError) as exc:
            raise PretrainedError(
                f"checkpoint={c.checkpoint} does not fit algo={c.algo}: {str(exc).splitlines()[0]}"
            ) from None
        return agent, spec, task_id, source_id

    def checkpoint_state(self, step: int) -> dict[str, Any]:
        state = super().checkpoint_state(step)
        state["pretrained"] = self.source
        return state
