"""``algo.compile``: which parts of a world-model agent run under ``torch.compile``.

At small sizes a plan and an update are bound by per-op overhead, not arithmetic (one MBDPO action
at preset=laptop is ~7 denoising iterations of a few dozen tiny LayerNorm / Mish / matmul calls; an
update is a few hundred such calls forward and as many backward). Compiling lets inductor fuse the
pointwise work into a few C++ kernels and removes the Python dispatch between them.

Graphs are static-shaped (``dynamic=False``: one compilation per batch size) and keep ATen's random
draws (``fallback_random``), so a compiled call draws the same numbers as the eager one and differs
from it only by the fused kernels' rounding. Where compiling fails (no C++ compiler, an op inductor
cannot lower), the call warns once and runs eagerly from then on.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

from algorithms.world_model.layers import raise_recompile_limit

#: ``algo.compile`` values -> the parts compiled: the planner's search (one graph per MPPI/CEM
#: iteration or denoising step) and the update's forward and backward (the model losses and the
#: policy objective; the optimiser steps, the score network's loss and the bookkeeping stay eager)
COMPILE_MODES: dict[str, tuple[str, ...]] = {
    "none": (),
    "planner": ("planner",),
    "update": ("update",),
    "all": ("planner", "update"),
}


#: inductor's options for every compiled part. ``fallback_random``: ATen's random draws (see above).
#: ``cpp_wrapper``: the code that calls the fused kernels is C++, not Python: each call of these small
#: graphs makes ~75 tensor views and allocations around its kernels, which the Python wrapper pays for
#: per op. The kernels are the same. Measured at preset=laptop on 1 thread of a 2-core Xeon with AMX
#: (python -m harness.bench algo=[tdmpc2,mbdpo] sizes=1 preset=laptop threads=1 repeats=30, two
#: alternations): an action 7.6/6.7 -> 6.0/5.3 ms (tdmpc2) and 15.8/14.6 -> 12.3/11.5 ms (mbdpo), an
#: update 16.9/16.6 -> 16.7/14.1 ms and 36.4/37.5 -> 34.3/32.5 ms; compiling both from an empty cache
#: 153 -> 104 s of CPU.
INDUCTOR_OPTIONS: dict[str, bool] = {"fallback_random": True, "cpp_wrapper": True}


class CompiledFunction:
    """Calls ``fn(*args)`` compiled, or eagerly once compiling has failed.

    Built once per function at import time and shared by every caller (an agent's two planners,
    several agents in one process), so identical calls compile once: Dynamo guards on the
    configuration values a call reads and on the tensors' shapes, not on which object holds them.
    """

    def __init__(self, fn: Callable, what: str) -> None:
        self.eager = fn
        self.what = what  # for the warning: "the planner", "the update"
        self.compiled: Callable | None = None
        self.failed = False

    def when(self, enabled: bool) -> Callable:
        """This compiled function where ``enabled``, else the plain eager one."""
        return self if enabled else self.eager

    def __call__(self, *args):
        if self.failed:
            return self.eager(*args)
        if self.compiled is None:
            raise_recompile_limit()
            self.compiled = torch.compile(self.eager, dynamic=False, options=INDUCTOR_OPTIONS)
        try:
            return self.compiled(*args)
        except Exception as exc:  # no C++ compiler, an op inductor cannot lower...
            self.failed = True
            warnings.warn(f"torch.compile of {self.what} failed ({exc!r:.200}); running it eagerly", stacklevel=2)
            return self.eager(*args)
