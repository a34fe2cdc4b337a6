"""A planner's search under ``torch.compile`` (``algo.compile=planner``).

At small sizes a plan is bound by per-op overhead, not arithmetic: one MBDPO action at preset=laptop
is ~7 denoising iterations of a few dozen tiny LayerNorm / Mish / matmul calls each. Compiling one
iteration (an MPPI/CEM refit or a denoising step, ``dynamic=False``; the same graph serves every
iteration, so compile time does not grow with their number) lets inductor fuse the pointwise work
into a few C++ kernels and removes the Python dispatch between them.

Random draws keep ATen's generator (``fallback_random``), so a compiled plan draws the same numbers
as the eager one and differs from it only by the fused kernels' rounding. Per-element generators
(batched evaluation that reproduces single-environment runs) take the eager search. Where compiling
fails (no C++ compiler, an unsupported op), the search warns once and stays eager.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

from algorithms.planning.noise import NoiseSource
from algorithms.world_model.layers import raise_recompile_limit

#: ``algo.compile`` values: what runs under torch.compile
COMPILE_MODES = ("none", "planner")


class CompiledSearch:
    """Calls ``iteration(planner, model, z, init, noise, *rest)`` compiled, or eagerly where it must.

    One instance per planner class is shared by every planner of that class (an agent has two, for
    training and evaluation), so their identical iterations compile once: Dynamo guards on the
    configuration values a search reads, not on which planner holds them.
    """

    def __init__(self, search: Callable) -> None:
        self.eager = search
        self.compiled: Callable | None = None
        self.failed = False

    def __call__(self, planner, model, z: torch.Tensor, init: torch.Tensor, noise: NoiseSource, *rest):
        if self.failed or noise.per_element:
            return self.eager(planner, model, z, init, noise, *rest)
        if self.compiled is None:
            raise_recompile_limit()
            self.compiled = torch.compile(self.eager, dynamic=False, options={"fallback_random": True})
        try:
            return self.compiled(planner, model, z, init, noise, *rest)
        except Exception as exc:  # no C++ compiler, an op inductor cannot lower...
            self.failed = True
            warnings.warn(f"torch.compile of the planner failed ({exc!r:.200}); planning eagerly", stacklevel=2)
            return self.eager(planner, model, z, init, noise, *rest)
