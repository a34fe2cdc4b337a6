"""Pixel observations (``obs="rgb"``) for DMControl: 64x64 renders, 3 frames stacked, headless,
one render per agent step, pixel for pixel TD-MPC2's (a committed fixture made by its own code).

dm_control chooses its OpenGL backend once per process, when first imported, so the envs are
built in fresh Python processes (other tests of this session have imported dm_control already,
without ``MUJOCO_GL``). Skipped, with the reason, where no headless backend is installed
(on CPU: ``apt-get install libosmesa6``).
"""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envs import env_info, rendering
from tests.conftest import GIVEN_MUJOCO_GL

ROOT = Path(__file__).resolve().parents[1]
REASON = rendering.unavailable_reason()
needs_rendering = pytest.mark.skipif(REASON is not None, reason=f"no headless OpenGL: {REASON}")


FIXTURES = ROOT / "tests" / "fixtures" / "pixels"  # TD-MPC2's own frames: tools/parity/dmc_pixels_fixtures.py
FIXTURE_BACKEND = "osmesa"  # the frames were rendered with Mesa's CPU renderer


def _run(code: str, **env_vars: str) -> tuple[dict, str]:
    """Run ``code`` in a fresh interpreter (MUJOCO_GL as in this process unless ``env_vars`` set
    it); it prints one JSON line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env_vars}
    if GIVEN_MUJOCO_GL is None and "MUJOCO_GL" not in env_vars:  # conftest set it for this process only
        env.pop("MUJOCO_GL", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


# One process checks everything that needs renders (each env costs an OpenGL context): the specs,
# the frame stack and reset rule, the renders per reset and per agent step (dm_control's
# Physics.render counted, with its height, width and camera), seeding, and TD-MPC2's own frames
# (tests/fixtures/pixels/<task>.npz: a reset and 3 steps of fixed actions from RandomState(seed),
# the simulator's initial state drawn as suite.load(random=seed) draws it).
PIXELS = r"""
import inspect, json, os, numpy as np, torch, envs
from torchrl.envs.utils import check_env_specs

out = {"gl_before": os.environ.get("MUJOCO_GL")}
env = envs.make_env("cheetah-run", 0, obs="rgb")  # dm_control is imported here, after MUJOCO_GL is chosen
out["gl_after"] = os.environ.get("MUJOCO_GL")
from dm_control.mujoco import Physics

renders, render = [], Physics.render
def counted_render(self, *args, **kwargs):
    call = inspect.signature(render).bind(self, *args, **kwargs)
    call.apply_defaults()
    renders.append([call.arguments["height"], call.arguments["width"], call.arguments["camera_id"]])
    return render(self, *args, **kwargs)
Physics.render = counted_render

spec = env.observation_spec["observation"]
out["spec"] = [list(spec.shape), str(spec.dtype)]
out["keys"] = sorted(env.observation_spec.keys())
check_env_specs(env, seed=0)

def replay(task):
    # TD-MPC2's actions from TD-MPC2's initial state: our frames, the renders each call made
    fixture = np.load(f"tests/fixtures/pixels/{task}.npz")
    seed = int(fixture["seed"])
    e = envs.make_env(task, seed, obs="rgb")
    e.base_env.set_rng_state(np.random.RandomState(seed).get_state())
    del renders[:]
    td = e.reset()
    observations, calls = [td["observation"]], [renders[:]]
    for action in fixture["actions"]:
        del renders[:]
        td["action"] = torch.from_numpy(action)
        td = e.step(td)["next"]
        observations.append(td["observation"])
        calls.append(renders[:])
    e.close()
    ours, theirs = torch.stack(observations).numpy(), fixture["observations"]
    out[task] = {
        "renders": calls,
        "shape": [list(ours.shape[1:]), str(ours.dtype)],
        "not_blank": float(ours.std()) > 5,
        "reset_fills_stack": bool((ours[0, 0:3] == ours[0, 3:6]).all() and (ours[0, 3:6] == ours[0, 6:9]).all()),
        # after a step the newest frame is channels 6:9 and the older two move down by one frame
        "stack_shifts": all(bool((ours[t, 0:6] == ours[t - 1, 3:9]).all()) for t in range(1, len(ours))),
        "new_frames_differ": all(bool((ours[t, 6:9] != ours[t - 1, 6:9]).any()) for t in range(1, len(ours))),
        "differing_pixels_vs_reference": int((ours != theirs).sum()),
        "reference_backend": str(fixture["backend"]),
    }

replay("cheetah-run")  # action repeat 2, camera 0
replay("quadruped-walk")  # camera 2; actions rescaled to its bounds
env.set_seed(0)
first = env.reset()["observation"]
again = envs.make_env("cheetah-run", 0, obs="rgb")
other = envs.make_env("cheetah-run", 1, obs="rgb")
out["same_seed_same_frames"] = torch.equal(again.reset()["observation"], first)
out["other_seed_other_frames"] = not torch.equal(other.reset()["observation"], first)
for e in (env, again, other):
    e.close()
e = envs.make_env("cheetah-run-backwards", 0, obs="rgb")  # a custom task
o = e.rand_step(e.reset())["next", "observation"]
out["cheetah-run-backwards"] = [list(o.shape), o.float().std().item() > 5]
e.close()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def pixels_run() -> tuple[dict, str]:
    return _run(PIXELS)


@needs_rendering
def test_rgb_observations(pixels_run):
    out, stderr = pixels_run
    assert env_info("cheetah-run").action_repeat == 2  # so one render per step is not one per control step
    assert out["gl_after"] == (out["gl_before"] or rendering.preferred_backend())
    assert out["spec"] == [[9, 64, 64], "torch.uint8"]
    assert out["keys"] == ["observation", "step_count"]
    for task, camera in (("cheetah-run", 0), ("quadruped-walk", 2)):
        run = out[task]
        assert run["shape"] == [[9, 64, 64], "uint8"] and run["not_blank"], task
        assert run["reset_fills_stack"] and run["stack_shifts"] and run["new_frames_differ"], task
        # exactly one 64x64 render from the task's camera per reset and per agent step
        assert run["renders"] == [[[64, 64, camera]]] * 4, (task, run["renders"])
    assert out["same_seed_same_frames"] and out["other_seed_other_frames"]
    assert out["cheetah-run-backwards"] == [[9, 64, 64], True]
    assert "Exception ignored" not in stderr, stderr[-2000:]  # closed envs free their GL contexts


@needs_rendering
def test_frames_equal_tdmpc2s(pixels_run):
    """Pixel for pixel TD-MPC2's observations (its own env code made the fixture), rendered with
    the fixture's backend: the same camera, size and renderer settings, each frame rendered after
    the action repeat, the same stacking."""
    out, _ = pixels_run
    if out["gl_after"] != FIXTURE_BACKEND:
        if ctypes.util.find_library("OSMesa") is None:
            pytest.skip(f"the reference frames were rendered with MUJOCO_GL={FIXTURE_BACKEND}, not installed here")
        out, _ = _run(PIXELS, MUJOCO_GL=FIXTURE_BACKEND)
    for task in ("cheetah-run", "quadruped-walk"):
        assert out[task]["reference_backend"] == FIXTURE_BACKEND
        assert out[task]["differing_pixels_vs_reference"] == 0, (task, out[task])


AFTER_DM_CONTROL = r"""
import json, os, envs
from envs.rendering import RenderingUnavailable
from dm_control import suite  # imported before any pixels are asked for
from dm_control import _render
out = {"backend": _render.BACKEND}
try:
    envs.make_env("cartpole-swingup", 0, obs="rgb").close()
    out["error"] = None
except RenderingUnavailable as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""


@needs_rendering
def test_rgb_after_dm_control_was_imported_without_mujoco_gl():
    """Too late to choose a backend: fine if dm_control picked a headless one, else a clear error."""
    if GIVEN_MUJOCO_GL:
        pytest.skip("MUJOCO_GL is set in this environment")
    out, _ = _run(
        AFTER_DM_CONTROL.replace("import json, os, envs", "import json, os, envs\nos.environ.pop('DISPLAY', None)")
    )
    if out["backend"] in ("egl", "osmesa"):
        assert out["error"] is None
    else:
        assert "MUJOCO_GL" in out["error"] and "\n" not in out["error"]


# --- backend choice (no rendering) -----------------------------------------------------------------


def test_backend_choice(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(rendering, "_cuda_visible", lambda: True)
    assert rendering.preferred_backend() == "egl"
    monkeypatch.setattr(rendering, "_cuda_visible", lambda: False)
    assert rendering.preferred_backend() == "osmesa"
    monkeypatch.setenv("MUJOCO_GL", "glfw")
    assert rendering.preferred_backend() == "glfw"


def test_configure_sets_mujoco_gl_only_if_unset(monkeypatch):
    monkeypatch.delitem(sys.modules, "dm_control._render", raising=False)  # as if not imported yet
    monkeypatch.setattr(rendering, "_cuda_visible", lambda: False)
    monkeypatch.setattr(rendering.ctypes.util, "find_library", lambda name: f"lib{name}.so")
    monkeypatch.setenv("MUJOCO_GL", "egl")
    assert rendering.configure() == "egl" and os.environ["MUJOCO_GL"] == "egl"
    monkeypatch.delenv("MUJOCO_GL")
    assert rendering.configure() == "osmesa" and os.environ["MUJOCO_GL"] == "osmesa"


def test_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.delitem(sys.modules, "dm_control._render", raising=False)
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(rendering, "_cuda_visible", lambda: False)
    monkeypatch.setattr(rendering.ctypes.util, "find_library", lambda name: None)
    assert "libosmesa6" in rendering.unavailable_reason()
    with pytest.raises(rendering.RenderingUnavailable, match="libosmesa6"):
        rendering.configure()
    assert "MUJOCO_GL" not in os.environ
