"""Shared test settings: small thread counts so the suite behaves the same on a 2-core machine."""

import os

import pytest
import submitit  # noqa: F401
import torch

from envs import rendering

# dm_control chooses its OpenGL backend once, at its first import, from MUJOCO_GL (unset: glfw, which
# cannot render headless). A test that builds a state env imports it without MUJOCO_GL, and a later
# pixel test in the same process then fails (RenderingUnavailable ... chose 'glfw'). So the backend
# harness runs would choose (envs.rendering) is set here, before any test imports dm_control, where
# it can load; test_envs_pixels runs its fresh interpreters with MUJOCO_GL as given (GIVEN_MUJOCO_GL).
GIVEN_MUJOCO_GL = os.environ.get("MUJOCO_GL")
if GIVEN_MUJOCO_GL is None and rendering.unavailable_reason() is None:
    os.environ["MUJOCO_GL"] = rendering.preferred_backend()

# submitit's import runs logging.config.dictConfig, which closes every existing logging handler. Once
# absl (dm_control) has a handler on pytest's capture stream, importing submitit in a later test
# closes that stream ("I/O operation on closed file", "lost sys.stderr"): import it first, here.

torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
