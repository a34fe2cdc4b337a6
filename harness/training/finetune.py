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

import algorithms
from algorithms.base import EnvSpec
from harness.data import suite_layout
from harness.training.offline import multitask_spec
from harness.training.pretrained import PretrainedError, find_pretrained
from harness.training.task_view import TaskView
from harness.training.trainer import OnlineTrainer

#: a fine-tuned model's task set names a known target's own (pretrained) row ``<task>@pretrained``
PRETRAINED_ROW = "@pretrained"


class FinetuneTrainer(OnlineTrainer):
    """Fine-tunes ``run.checkpoint``'s model on ``run.task`` (see the module docstring)."""

    def make_agent(self):
        c = self.config
        self.pretrained = find_pretrained(c.checkpoint, c.format, (c.task,))
        own = self.spec  # the environment's own dims (the collector's random actions use them)
        ft = c.finetune
        agent, spec, task_id, source_id = self._pretrained_agent(self.pretrained.state(), own)
        agent.set_task(task_id)
        if source_id is not None and ft.discount == "source":
            agent.copy_task_discount(source_id, task_id)
        if ft.reset_energy_statistics:
            agent.reset_energy_statistics()
        if not ft.train_score:
            agent.leave_score_out_of_optimiser()
        if ft.freeze:
            try:
                agent.freeze(ft.freeze)
            except ValueError as exc:
                raise PretrainedError(f"finetune.freeze for algo={c.algo}: {exc}") from None
        # what was done, in config.yaml's `pretrained:` (beside the run's own finetune.* switches)
        self.source = {
            "task_id": task_id,
            "source_task": c.source_task or None,
            "new_task_row": source_id is not None,
            "source_task_id": source_id,
            **self.pretrained.provenance(),
        }
        hold = not ft.first_update_at_episode_end
        return TaskView(agent, task_id, own.action_dim, hold_first_update=hold)

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.agent.awaiting_first_episode = False  # a checkpoint is written after the first episode

    def _pretrained_agent(self, state: dict[str, Any], own: EnvSpec):
        """A fresh agent (optimisers, replay, no seed steps) with the pretrained weights, the
        target's task id and the id of the task its new embedding row was copied from (both None
        for a single-task model; the source None when a known task keeps its own row). ``state``:
        the checkpoint's; a multi-task model's spec is the one it records, else its suite's."""
        c, pre_run = self.config, self.pretrained
        source_id = None
        cfg = copy.deepcopy(self.resolved.algo_cfg)
        cfg.seed_steps = 0  # the reference: no random seed phase with a checkpoint
        if not pre_run.multitask:  # a single-task model fine-tunes as it is (the mode's check: same dims)
            spec, task_id = own, None
        else:
            if "spec" in state:
                spec = EnvSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["spec"].items()})
            else:
                spec = multitask_spec(suite_layout(pre_run.config["run"]["suite"]))
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
        agent = algorithms.get_algorithm(c.algo).factory(cfg, spec, self.device, c.steps)
        try:
            agent.load_weights(state["agent"], new_task_rows_from=() if source_id is None else (source_id,))
        except ValueError as exc:
            raise PretrainedError(f"checkpoint={c.checkpoint} does not fit algo={c.algo}: {exc}") from None
        return agent, spec, task_id, source_id

    def checkpoint_state(self, step: int) -> dict[str, Any]:
        state = super().checkpoint_state(step)
        state["pretrained"] = self.source
        return state
