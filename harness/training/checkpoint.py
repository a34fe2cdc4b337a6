"""Exact resume: what a checkpoint holds (the random states here), and how a run is asked to stop.

A checkpoint (``checkpoint.pt`` in the run directory) is taken only at an *episode boundary*:
right after an episode ended and before the environment is reset. At that point nothing about the
simulator needs saving except the random state its next ``reset()`` draws from, so a resumed run
is bit-for-bit the run that was never interrupted (on CPU; tests/test_resume.py checks it).
It holds:

- ``agent``: ``Algorithm.state_dict()`` (models, optimisers, replay buffer, planner warm starts,
  counters);
- ``step``: environment steps done; ``eval_todo``: the evaluation steps still to come;
  ``eval_rows``: the evaluation rows written so far (eval.csv is rewritten from them on resume);
- ``rng``: the torch (CPU and CUDA), numpy and python global generators and the harness's
  random-action generator;
- ``env_rng``: the simulator's random state (``get_rng_state()`` of every family's base env: for
  dm_control the ``numpy.random.RandomState`` its task draws initial states from) of the training
  environment and of every copy of the evaluation environment;
- ``run``: the resolved configuration, to refuse resuming under a different one.

Stopping: Slurm sends SIGUSR2 before a time limit or a preemption (submitit asks for it). The
training loop must not be interrupted mid-update, so the signal only *requests* a stop
(:func:`request_stop`); the loop checks :func:`stop_requested` at every episode boundary, saves a
checkpoint there and raises :class:`Preempted` (all in harness.stop, which imports no torch).
The job wrapper (harness.launchers) then hands over
to submitit, which requeues the job. The file itself (its format version, atomic writes, loading)
is harness.checkpoint_file; this module holds the random states.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from harness.checkpoint_file import CheckpointError


# --- random states -------------------------------------------------------------------------------
def rng_state(action_rng: torch.Generator) -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "action": action_rng.get_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], action_rng: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    action_rng.set_state(state["action"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:  # resumed on a machine with another GPU count: restore what fits
            for i, s in enumerate(cuda_states[: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(s, i)


def _random_state_env(env) -> Any:
    """``env`` itself when it has ``get_rng_state()``/``set_rng_state()`` (every family's base env
    does; a TransformedEnv or a batched env reaches them through TorchRL's attribute forwarding)."""
    if hasattr(env, "get_rng_state") and hasattr(env, "set_rng_state"):
        return env
    name = type(getattr(env, "base_env", env)).__name__
    raise CheckpointError(
        f"cannot find the simulator's random state in {name}; exact resume needs it "
        "(give the env get_rng_state()/set_rng_state())"
    )


def _check_in_process(env) -> None:
    from torchrl.envs import ParallelEnv

    if isinstance(env, ParallelEnv):
        raise CheckpointError("exact resume needs in-process environments (SerialEnv), not ParallelEnv")


def env_rng_state(env) -> list[Any] | None:
    """One random state per single env behind ``env`` (a SerialEnv's copies, or env itself).
    None for a batched env not started yet (it is seeded when it starts, as in a fresh run)."""
    from torchrl.envs import SerialEnv

    _check_in_process(env)
    if isinstance(env, SerialEnv):
        if env.is_closed:
            return None
        return list(_random_state_env(env).get_rng_state())  # TorchRL calls it on every copy, in order
    return [_random_state_env(env).get_rng_state()]


def set_env_rng_state(env, states: list[Any] | None) -> None:
    from torchrl.envs import SerialEnv

    if states is None:
        return
    _check_in_process(env)
    batched = isinstance(env, SerialEnv)
    if batched and env.is_closed:
        env.start()  # builds (and seeds) the copies; must happen before their state is set
    count = env.num_workers if batched else 1
    if count != len(states):
        raise CheckpointError(f"checkpoint has {len(states)} environment random states, the run has {count} envs")
    if batched:
        for i, state in enumerate(states):
            _random_state_env(env[i]).set_rng_state(state)  # env[i]: a view of copy i alone
    else:
        _random_state_env(env).set_rng_state(states[0])
