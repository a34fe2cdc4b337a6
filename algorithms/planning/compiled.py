"""A planner's search under ``torch.compile`` (``algo.compile=planner`` or ``all``;
algorithms/compiling.py says why and how).

One iteration is compiled (an MPPI/CEM refit or a denoising step): the same graph serves every
iteration, so compile time does not grow with their number. Per-element generators (batched
evaluation that reproduces single-environment runs) take the eager search.
"""

from __future__ import annotations

from typing import Callable

import torch

from algorithms.compiling import CompiledFunction
from algorithms.planning.noise import NoiseSource


class CompiledSearch(CompiledFunction):
    """Calls ``iteration(planner, model, z, init, noise, *rest)`` compiled, or eagerly where it must."""

    def __init__(self, search: Callable) -> None:
        super().__init__(search, "the planner")

    def __call__(self, planner, model, z: torch.Tensor, init: torch.Tensor, noise: NoiseSource, *rest):
        if noise.per_element:
            return self.eager(planner, model, z, init, noise, *rest)
        return super().__call__(planner, model, z, init, noise, *rest)
