"""Shared test settings: small thread counts so the suite behaves the same on a 2-core machine."""

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


# The cheapest real TD-MPC2: size-1 model, small planner and batch. Used by end-to-end tests.
TINY_ALGO = [
    "algo.model.size=1",
    "algo.batch_size=32",
    "algo.seed_steps=100",
    "algo.planner.num_samples=32",
    "algo.planner.num_elites=4",
    "algo.planner.num_pi_trajs=4",
    "algo.planner.iterations=2",
]

# The cheapest real SAC.
TINY_SAC = ["algo.hidden_dims=[64,64]", "algo.batch_size=32", "algo.seed_steps=100"]


def tiny_algo(name: str) -> list[str]:
    """Tiny-budget overrides for a registered algorithm (world-model agents vs SAC)."""
    import dataclasses

    import algorithms
    from harness.config import build_algo_config

    entry = algorithms.get_algorithm(name)
    fields = {f.name for f in dataclasses.fields(entry.config_cls)}
    if not fields:  # nothing to make smaller (the random policy)
        return []
    if "model" not in fields:
        return TINY_SAC
    lacks = entry.lacks({t.split("=")[0].removeprefix("algo."): None for t in TINY_ALGO})  # e.g. planner.* for tdmpc2-pi
    tiny = [t for t in TINY_ALGO if t.split("=")[0].removeprefix("algo.") not in lacks]
    if build_algo_config(name, []).planner.kind == "diffusion":  # 20 denoising steps by default
        tiny.append("algo.planner.diffusion_steps=4")
    return tiny
