"""What every algorithm sees of the world (an `EnvSpec`) and what the harness sees of an algorithm.

Algorithms know no launcher, run directory or environment module: the harness builds an `EnvSpec`
from the environment's TorchRL specs and hands it over together with a typed config.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from tensordict import TensorDictBase


@dataclass(frozen=True)
class EnvSpec:
    """The shapes and horizon an algorithm needs; built from TorchRL specs by the harness."""

    obs_dim: int  # multi-task: the largest of the task set (observations are zero-padded to it)
    action_dim: int  # multi-task: the largest; each env receives its first action_dims[task] entries
    episode_length: int  # agent steps per episode (multi-task: the longest)
    action_low: float = -1.0
    action_high: float = 1.0
    # multi-task (empty: single-task): the task set in id order, each task's own action dims and
    # episode length (for its action mask and its discount)
    tasks: tuple[str, ...] = ()
    action_dims: tuple[int, ...] = ()
    episode_lengths: tuple[int, ...] = ()
    # the observation's shape: (obs_dim,) for a state vector (filled in when left empty), (C, H, W)
    # for stacked uint8 frames (obs=rgb; obs_dim is then C * H * W)
    obs_shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.obs_shape:
            object.__setattr__(self, "obs_shape", (self.obs_dim,))
        object.__setattr__(self, "obs_shape", tuple(int(d) for d in self.obs_shape))
        if math.prod(self.obs_shape) != self.obs_dim:
            raise ValueError(f"obs_dim={self.obs_dim} is not the size of obs_shape={self.obs_shape}")

    @classmethod
    def of_shape(cls, obs_shape: Sequence[int], **fields: Any) -> "EnvSpec":
        """A spec from the observation's shape (obs_dim: the number of its values)."""
        return cls(obs_dim=math.prod(obs_shape), obs_shape=tuple(obs_shape), **fields)

    @property
    def pixels(self) -> bool:
        """Observations are images [C, H, W] (uint8 frames), not a vector."""
        return len(self.obs_shape) == 3

    @property
    def multitask(self) -> bool:
        return bool(self.tasks)

    def task_id(self, name: str) -> int:
        if name not in self.tasks:
            raise ValueError(f"task {name!r} is not in this task set; valid: {', '.join(self.tasks)}")
        return self.tasks.index(name)


class Algorithm(abc.ABC):
    """An RL agent driven by the harness's training loops.

    Online, the harness calls, in order, per environment step: ``act`` (after ``seed_steps`` random
    steps), ``observe`` with the transition, then ``update``. ``act`` is batched: a batch of
    observations in, a batch of actions out (evaluation runs many environments at once).

    What the other training modes need is optional and tied to a capability
    (algorithms.registry.CAPABILITIES, from the config's ``capabilities()``):

    - ``offline_learning`` (``mode=offline``): :attr:`replay_slice` and :meth:`learn`;
    - ``pretrained_weights`` (``mode=finetune``): :meth:`load_weights`, :meth:`set_task`,
      :meth:`freeze` with names from :attr:`PARTS`, and the fine-tune rules
      :meth:`copy_task_discount`, :meth:`reset_energy_statistics`, :meth:`leave_score_out_of_optimiser`.

    An algorithm without the capability keeps these defaults, which raise NotImplementedError
    naming the algorithm and what it cannot do.
    """

    #: the parts :meth:`freeze` can name (``finetune.freeze``); none by default
    PARTS: tuple[str, ...] = ()

    #: set by the harness: ``on_update(done, total)`` is called inside an ``update`` call that makes
    #: many gradient steps (the burst after the seed steps), so that a long burst shows progress
    on_update: Callable[[int, int], None] | None = None

    def __init__(self, cfg: Any, env_spec: EnvSpec, device: torch.device, total_steps: int) -> None:
        self.cfg = cfg
        self.env_spec = env_spec
        self.device = device
        self.total_steps = total_steps

    @property
    @abc.abstractmethod
    def seed_steps(self) -> int:
        """Number of initial environment steps taken with uniformly random actions."""

    @abc.abstractmethod
    def act(self, obs: torch.Tensor, *, eval_mode: bool, first_step: bool) -> torch.Tensor:
        """obs [B, *obs_shape] -> actions [B, action_dim] in [-1, 1]. ``first_step``: episodes just reset."""

    @abc.abstractmethod
    def observe(self, transition: TensorDictBase) -> None:
        """Record one environment transition (TorchRL layout: obs, action, ("next", ...))."""

    @abc.abstractmethod
    def update(self, step: int) -> dict[str, float]:
        """Learn after environment step ``step`` (called every step from ``seed_steps`` on)."""

    def not_ready_to_evaluate(self) -> str | None:
        """Why evaluating now would be meaningless (None: ready). The trainer skips such evals."""
        return None

    @abc.abstractmethod
    def num_parameters(self) -> int:
        """Trained parameters (what the scaling report plots)."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (models, optimisers, buffers, RNG-free counters)."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    # --- what offline training and fine-tuning need (see the class docstring) -------------------
    def cannot(self, what: str) -> NotImplementedError:
        """The one-line error of an optional method this algorithm does not implement."""
        return NotImplementedError(f"{type(self).__name__} cannot {what}")

    @property
    def replay_slice(self) -> tuple[int, int]:
        """``(batch_size, horizon)`` of the batches :meth:`learn` takes: ``batch_size`` slices of
        ``horizon + 1`` consecutive rows of one episode (algorithms/replay.py's layout)."""
        raise self.cannot("learn from a dataset (it has no replay slice)")

    def learn(self, batch: TensorDictBase) -> dict[str, float]:
        """One gradient step from a replay-slice batch (obs [H+1, B, O], action [H, B, A], reward
        and terminated [H, B, 1]; a multi-task dataset's adds task [B]); returns its metrics."""
        raise self.cannot("learn from a batch of a dataset")

    def load_weights(self, weights: dict[str, Any], new_task_rows_from: Sequence[int] = ()) -> None:
        """The networks from ``weights`` (another run's or a converted reference file's; no
        optimiser, replay or planner state). A multi-task model built with ``len(new_task_rows_from)``
        more tasks than ``weights`` has gets each new task's embedding row copied from the listed
        source task's row. Raises ValueError (one line) when the weights do not fit this agent."""
        raise self.cannot("start from pretrained weights")

    def set_task(self, task_id: int | None) -> None:
        """The task that acting and online learning use from now on (a multi-task model; None: a
        single-task one)."""
        raise self.cannot("select a task")

    def freeze(self, names: Sequence[str]) -> None:
        """Stop training the named parts (from :attr:`PARTS`): their parameters' requires_grad off.
        Raises ValueError (one line) for a name not in :attr:`PARTS` or a part this model lacks."""
        raise self.cannot("freeze parts")

    def copy_task_discount(self, source: int, target: int) -> None:
        """Task ``target``'s discount becomes task ``source``'s (a new task row takes its source's)."""
        raise self.cannot("copy a task's discount")

    def reset_energy_statistics(self) -> None:
        """Restart the energy anchor's normalisation statistics (a no-op without one)."""
        raise self.cannot("reset energy statistics")

    def leave_score_out_of_optimiser(self) -> None:
        """Rebuild the optimiser without the score network (a no-op without one)."""
        raise self.cannot("leave a score network out of its optimiser")
