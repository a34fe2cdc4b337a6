"""Trainers: one object per run owning its environments, its agent, the evaluation schedule and
the run directory.

:class:`Trainer` is what every training mode shares: it builds the agent and the evaluation env,
evaluates (:meth:`~Trainer.evaluate`: rows appended to ``eval.csv``), takes and restores exact
checkpoints (:meth:`~Trainer.checkpoint`, :meth:`~Trainer.restore`), reports progress and training
metrics (:meth:`~Trainer.after_step`) and handles stop requests and periodic checkpoints at the
points where a checkpoint is exact (:meth:`~Trainer.at_safe_point`). A mode is a subclass with its
own :meth:`~Trainer.run` loop and, where it has state of its own, :meth:`~Trainer.build`,
:meth:`~Trainer.checkpoint_state` and :meth:`~Trainer.restore`:

- :class:`OnlineTrainer`: random seed steps, then act, observe and update once per environment step
  (the training env stepped through TorchRL's Collector, harness/training/collect.py); its safe
  points are episode ends.
- :class:`~harness.training.offline.OfflineTrainer` (``mode=offline``): no training env; its steps
  are gradient updates on dataset batches, any update is a safe point, and each evaluation covers
  every task of a suite (it overrides ``evaluate``).
- :class:`~harness.training.finetune.FinetuneTrainer` (``mode=finetune``): the online loop with an
  agent built from pretrained weights (it overrides ``make_agent``).

A trainer is a context manager: entering pins torch's thread count, seeds every generator and
builds the envs and the agent; leaving closes the envs and gives the caller its thread count back::

    with OnlineTrainer(resolved, rundir, log=log) as trainer:
        if checkpoint is not None:
            trainer.restore(checkpoint)
        rows = trainer.run()

Checkpoints (harness/training/checkpoint.py) of the online mode are taken at episode boundaries
only, after the episode's last step and its update, with the simulator's random state from before
the next episode's reset. A resumed run continues from there and is identical to one that was
never interrupted.
"""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Any, Callable

import numpy as np
import torch

import algorithms
from algorithms.base import EnvSpec
from envs import get_task, make_batched_env, make_env
from harness.checkpoint_file import FORMAT_VERSION, atomic_torch_save
from harness.config import ResolvedRun
from harness.devices import resolve_device
from harness.rundir import RunDir
from harness.stop import Preempted, stop_reason, stop_requested
from harness.training.checkpoint import (
    env_rng_state,
    rng_state,
    set_env_rng_state,
    set_rng_state,
)
from harness.training.collect import TrainingSteps
from harness.training.episodes import eval_rows, evaluate_episodes

#: ``log(name, value, step)``, as made by harness.training.metric_logger
MetricLog = Callable[[str, float, int], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def env_spec_of(env, episode_length: int) -> EnvSpec:
    """Shapes from the TorchRL specs (algorithms never see the env module itself)."""
    obs_shape = env.observation_spec["observation"].shape[len(env.batch_size) :]  # a batched env's leads
    action_spec = env.action_spec
    return EnvSpec.of_shape(
        tuple(obs_shape),
        action_dim=int(action_spec.shape[-1]),
        episode_length=episode_length,
        action_low=float(action_spec.space.low.min()),
        action_high=float(action_spec.space.high.max()),
    )


def eval_steps(total: int, every: int, at_start: bool) -> list[int]:
    steps = list(range(0 if at_start else every, total, every))
    return steps + [total] if total not in steps else steps


#: progress is reported at least this often (besides every log_every steps)
PROGRESS_EVERY_S = 5.0

#: on a CPU without ``preset=``, a first evaluation estimated to take longer than this says so once
SLOW_EVALUATION_S = 60.0


def slow_cpu_hint(device: str, preset: str, seconds_per_step: float, length: int, episodes: int) -> str | None:
    """The line a run prints once when its first evaluation is measured to be slow on a CPU without
    a preset (the reference-size planner: minutes per evaluation), or None."""
    total = seconds_per_step * length
    if device != "cpu" or preset or total < SLOW_EVALUATION_S:
        return None
    return (
        f"[note] on this CPU without preset=, an evaluation step takes {seconds_per_step:.1f} s ({episodes} "
        f"episodes at once): about {total / 60:.0f} min per evaluation of {length} steps, the planner at its "
        "reference size; preset=laptop (the main job's) or preset=cpu is many times faster (README: Configuration)"
    )


class Trainer:
    """The shared part of every training mode (see the module docstring); subclasses implement
    :meth:`run`. ``config.steps`` is the budget in the mode's own steps.

    ``log``: training and evaluation metrics; ``progress(step, activity, timed)``: called every
    ``log_every`` steps and at least every PROGRESS_EVERY_S seconds (RunStatus.progress: what the
    run is doing when not stepping as usual, and whether its rate says anything of what follows);
    ``on_checkpoint(step)``: after each checkpoint is written; ``on_built(trainer)``: once the envs
    and the agent exist."""

    def __init__(
        self,
        resolved: ResolvedRun,
        rundir: RunDir,
        *,
        log: MetricLog | None = None,
        progress: Callable[[int, str | None, bool], None] | None = None,
        on_checkpoint: Callable[[int], None] | None = None,
        on_built: Callable[[Trainer], None] | None = None,
    ) -> None:
        self.resolved = resolved
        self.config = resolved.run
        self.rundir = rundir
        self.log, self.progress, self.on_checkpoint, self.on_built = log, progress, on_checkpoint, on_built
        self.eval_todo = eval_steps(self.config.steps, self.config.eval_every, self.config.eval_at_start)
        self.eval_rows: list[dict[str, Any]] = []
        self.start = 0  # the step this attempt starts from (a checkpoint's, on resume)
        self.last_checkpoint = 0
        self.threads = 0
        self._caller_threads = 0
        self._envs: list[Any] = []
        self._clock = (time.perf_counter(), 0)
        self._last_progress = time.perf_counter()
        self._steps_done = 0  # the steps done so far (after_step's; the checkpoint's step on resume)
        self._hinted = False  # slow_cpu_hint was considered (at the first evaluation)

    # --- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> Trainer:
        # Results depend (in the last bits) on the intra-op thread count, and TorchRL changes it when
        # a batched env is closed (SerialEnv.close adds its workers back). Pin it for the whole run.
        self._caller_threads = torch.get_num_threads()
        self.threads = self.config.threads or self._caller_threads
        torch.set_num_threads(self.threads)
        try:
            seed_everything(self.config.seed)
            self.device = resolve_device(self.config.device)
            self.build()
            if self.on_built:  # e.g. record the agent's parameter count in config.yaml
                self.on_built(self)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for env in self._envs:
            try:
                env.close()
            except Exception:  # closing must not hide the run's own error
                pass
        self._envs = []
        torch.set_num_threads(self._caller_threads)

    def open_env(self, env: Any) -> Any:
        """Keep ``env`` to be closed with the trainer."""
        self._envs.append(env)
        return env

    def build(self) -> None:
        """The evaluation env, the agent and the run's own random generator (after seeding).
        Subclasses build their own envs first, then call this."""
        c = self.config
        self.task = get_task(c.task)
        self.eval_env = self.open_env(
            make_batched_env(c.task, seed=c.seed + 100_000, num_envs=c.eval_episodes, device="cpu", obs=c.obs)
        )
        self.spec = self.env_spec()
        self.agent = self.make_agent()
        self.agent.on_update = self._burst_progress
        self.rng = torch.Generator().manual_seed(c.seed)  # e.g. the online mode's random seed-step actions

    def make_agent(self):
        """A fresh agent for ``self.spec`` (the fine-tune mode loads pretrained weights into one)."""
        c = self.config
        return algorithms.get_algorithm(c.algo).factory(self.resolved.algo_cfg, self.spec, self.device, c.steps)

    def env_spec(self) -> EnvSpec:
        return env_spec_of(self.eval_env, self.task.episode_length)

    def run(self) -> list[dict[str, Any]]:
        """Train until ``config.steps``, evaluating on the schedule; returns every evaluation row."""
        raise NotImplementedError

    # --- checkpoints ------------------------------------------------------------------------------
    def checkpoint_state(self, step: int) -> dict[str, Any]:
        """Everything a resumed run needs (harness/training/checkpoint.py); subclasses add theirs."""
        return {
            "format": FORMAT_VERSION,
            "step": step,
            "threads": self.threads,
            "run": self.resolved.to_dict(),
            "agent": self.agent.state_dict(),
            "spec": dataclasses.asdict(self.agent.env_spec),  # what the agent was built for (harness.evaluate)
            "rng": rng_state(self.rng),
            "env_rng": self.env_rng_states(),
            "eval_todo": list(self.eval_todo),
            "eval_rows": list(self.eval_rows),
        }

    def env_rng_states(self) -> dict[str, Any]:
        """The simulators' random states a resume restores (the evaluation env's here)."""
        return {"eval": env_rng_state(self.eval_env)}

    def restore_env_rng(self, states: dict[str, Any]) -> None:
        set_env_rng_state(self.eval_env, states["eval"])

    def checkpoint(self, step: int) -> None:
        """Write ``checkpoint.pt`` (atomically) for a resume at ``step``; the one before stays as
        ``checkpoint.prev.pt`` (a kill or a damaged file then costs one checkpoint interval)."""
        self.rundir.keep_previous_checkpoint()
        atomic_torch_save(self.checkpoint_state(step), self.rundir.checkpoint_path)
        self.last_checkpoint = step
        if self.on_checkpoint:
            self.on_checkpoint(step)

    def save_final(self) -> None:
        """The finished run's state as ``final.pt`` (the checkpoint format, at ``config.steps``): its
        replay buffer is what harness.export turns into a dataset."""
        atomic_torch_save(self.checkpoint_state(self.config.steps), self.rundir.final_path)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a loaded checkpoint (harness.checkpoint_file.load). The global random
        states are set last here: a subclass must not draw random numbers after calling this."""
        self.agent.load_state_dict(state["agent"])
        self.restore_env_rng(state["env_rng"])
        set_rng_state(state["rng"], self.rng)  # last: nothing may draw after it
        self.start = self.last_checkpoint = int(state["step"])
        self._steps_done = self.start  # progress (e.g. the first-update burst right after it) counts on from here
        if state.get("threads") not in (None, self.threads):
            print(
                f"[note] resuming with {self.threads} torch threads, the checkpoint was written with "
                f"{state['threads']}: results may differ from an uninterrupted run in the last bits"
            )
        self.eval_todo = list(state["eval_todo"])
        self.eval_rows = list(state["eval_rows"])
        self.rundir.rewrite_evals(self.eval_rows)  # drops rows an interrupted attempt wrote after the checkpoint

    def at_safe_point(self, steps_done: int) -> None:
        """Where a checkpoint is exact (online: an episode end). On a stop request: checkpoint and
        raise :class:`Preempted`; else checkpoint every ``checkpoint_every`` steps. Nothing at the end."""
        if steps_done >= self.config.steps:
            return
        if stop_requested():
            self.checkpoint(steps_done)
            raise Preempted(steps_done, stop_reason())
        every = self.config.checkpoint_every
        if every and steps_done - self.last_checkpoint >= every:
            self.checkpoint(steps_done)

    # --- evaluation -------------------------------------------------------------------------------
    def evaluate(self, step: int) -> list[dict[str, Any]]:
        """``eval_episodes`` episodes without exploration; the rows are appended to ``eval.csv``."""
        c = self.config
        reason = self.agent.not_ready_to_evaluate()
        if reason:  # e.g. the score-only policy before its network was ever trained
            print(f"[{c.task} {c.algo} seed {c.seed}] no evaluation at step {step}: {reason}", flush=True)
            return []
        episodes = evaluate_episodes(
            self.agent, self.eval_env, self.task.episode_length, self.eval_progress(step, c.eval_episodes)
        )
        rows = eval_rows(
            episodes, suite=c.suite, task=c.task, algo=c.algo, variant=self.resolved.variant, seed=c.seed, step=step
        )
        self.rundir.append_evals(rows)
        self.eval_rows.extend(rows)
        if self.log:
            self.log("eval/return", float(np.mean([r["return"] for r in rows])), step)
            self.log("eval/score", float(np.mean([r["score"] for r in rows])), step)
        return rows

    def evaluate_due(self, step: int) -> None:
        """Evaluate now if the schedule says so for ``step``."""
        if self.eval_todo and self.eval_todo[0] == step:
            self.evaluate(self.eval_todo.pop(0))

    def evaluate_remaining(self) -> None:
        while self.eval_todo:
            self.evaluate(self.eval_todo.pop(0))

    # --- progress ---------------------------------------------------------------------------------
    def start_clock(self) -> None:
        self._clock = (time.perf_counter(), 0)
        self._last_progress = time.perf_counter()

    def activity(self, steps_done: int) -> str | None:
        """What the run is doing at ``steps_done`` when its steps are not its usual ones (the
        online mode's random seed steps); None otherwise. Progress then carries no ETA."""
        return None

    def progress_due(self) -> bool:
        """PROGRESS_EVERY_S seconds have passed since the last progress report."""
        return time.perf_counter() - self._last_progress >= PROGRESS_EVERY_S

    def report_progress(self, steps_done: int, activity: str | None, timed: bool = True) -> None:
        self._last_progress = time.perf_counter()
        if self.progress:
            self.progress(steps_done, activity, timed)

    def eval_progress(self, step: int, episodes: int, what: str = "") -> Callable[[int, int], None]:
        """An ``evaluate_episodes`` step callback: long evaluations show progress too."""

        marks: list[float] = []

        def on_step(t: int, length: int) -> None:
            if t in (1, 4) and not self._hinted:  # steps 2 to 4 (past the first call's warm-up): time per step
                marks.append(time.perf_counter())
                if len(marks) == 2:
                    self._hinted = True
                    hint = slow_cpu_hint(
                        self.device.type, self.config.preset, (marks[1] - marks[0]) / 3, length, episodes
                    )
                    if hint:
                        print(hint, flush=True)
            if self.progress_due():
                self.report_progress(step, f"evaluating{what} at step {step}: {t}/{length} of {episodes} episodes")

        return on_step

    def _burst_progress(self, done: int, total: int) -> None:
        """The agent's many-update call (the burst after the seed steps) shows progress too. It
        runs in the update of the step after the last one ``after_step`` saw."""
        if self.progress_due():
            self.report_progress(self._steps_done + 1, f"first updates {done}/{total}", timed=False)

    def after_step(self, steps_done: int, metrics: dict[str, float] | None) -> None:
        """Training metrics every ``log_every`` steps; progress then too, and at least every
        PROGRESS_EVERY_S seconds (status.json and the console: step, rate, ETA)."""
        t_start, timed = self._clock[0], self._clock[1] + 1
        self._clock = (t_start, timed)
        self._steps_done = steps_done
        if steps_done % self.config.log_every:
            if self.progress_due():
                activity = self.activity(steps_done)
                self.report_progress(steps_done, activity, timed=activity is None)
            return
        if self.log and metrics:
            for k, v in metrics.items():
                self.log(f"train/{k}", v, steps_done)
            self.log("train/steps_per_second", timed / (time.perf_counter() - t_start), steps_done)
        activity = self.activity(steps_done)
        self.report_progress(steps_done, activity, timed=activity is None)


def train(
    resolved: ResolvedRun,
    rundir: RunDir,
    *,
    resume_from: dict[str, Any] | None = None,
    trainer: type[Trainer] | None = None,
    **hooks: Any,
) -> list[dict[str, Any]]:
    """Train one run with ``trainer`` (default :class:`OnlineTrainer`), from the checkpoint
    ``resume_from`` when given; ``hooks``: ``log``, ``progress``, ``on_checkpoint``. Saves the
    finished run's state as ``final.pt``. Returns every evaluation row."""
    with (trainer or OnlineTrainer)(resolved, rundir, **hooks) as t:
        if resume_from is not None:
            t.restore(resume_from)
        rows = t.run()
        t.save_final()
        return rows


class OnlineTrainer(Trainer):
    """Online RL: random seed steps, then act, observe and update once per environment step."""

    _resume_train_env_rng: list[Any] | None = None

    def build(self) -> None:
        c = self.config
        self.env = self.open_env(make_env(c.task, seed=c.seed, device="cpu", obs=c.obs))
        super().build()

    def env_spec(self) -> EnvSpec:
        return env_spec_of(self.env, self.task.episode_length)

    def activity(self, steps_done: int) -> str | None:
        seed = self.agent.seed_steps
        return f"random seed steps ({seed})" if steps_done < seed else None

    def checkpoint_state(self, step: int) -> dict[str, Any]:
        state = super().checkpoint_state(step)
        state["env_rng"] = {"train": self.steps.checkpoint_state(), **state["env_rng"]}
        return state

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self._resume_train_env_rng = state["env_rng"]["train"]  # set by TrainingSteps, before its first reset

    def run(self) -> list[dict[str, Any]]:
        # The training env is stepped through TorchRL's Collector; built here, after every random
        # state is restored, because it resets the env at once.
        self.steps = TrainingSteps(
            self.env, self.agent, self.spec.action_dim, self.rng, resume_state=self._resume_train_env_rng
        )
        first_step = True
        self.start_clock()
        for step in range(self.start, self.config.steps):
            self.evaluate_due(step)
            td = self.steps.next(step, first_step)  # seed steps: uniform random actions; then agent.act
            self.agent.observe(td)
            metrics = self.agent.update(step)
            done = bool(td["next", "done"].any())
            first_step = done
            self.after_step(step + 1, metrics)
            if done:
                self.at_safe_point(step + 1)
        self.evaluate_remaining()
        return self.eval_rows
