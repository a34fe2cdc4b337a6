"""A TorchRL ``GymWrapper`` whose simulator's numpy RNG can be saved and restored, for exact resume.

Meta-World and MyoSuite draw their initial states and goals from the gymnasium env's own
``np_random`` (a numpy Generator, or MyoSuite's wrapper of one that forwards ``bit_generator``);
``harness.training.checkpoint`` saves ``get_rng_state()`` and restores it with ``set_rng_state``.
Each family's subclass says how ``set_seed`` reseeds that generator."""

from __future__ import annotations

import copy
from typing import Any

from torchrl.envs import GymWrapper


class SeededGymWrapper(GymWrapper):
    """``GymWrapper`` with the state of the wrapped env's ``np_random`` (see the module doc)."""

    def get_rng_state(self) -> dict[str, Any]:
        return copy.deepcopy(self._env.unwrapped.np_random.bit_generator.state)

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self._env.unwrapped.np_random.bit_generator.state = copy.deepcopy(state)
