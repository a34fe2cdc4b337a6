"""Pixel observations (``obs="rgb"``) for DMControl: 64x64 renders, 3 frames stacked, headless.

dm_control chooses its OpenGL backend once per process, when first imported, so the envs are
built in fresh Python processes (other tests of this session have imported dm_control already,
without ``MUJOCO_GL``). Skipped, with the reason, where no headless backend is installed
(on CPU: ``apt-get install libosmesa6``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envs import rendering

ROOT = Path(__file__).resolve().parents[1]
REASON = rendering.unavailable_reason()
needs_rendering = pytest.mark.skipif(REASON is not None, reason=f"no headless OpenGL: {REASON}")


def _run(code: str) -> tuple[dict, str]:
    """Run ``code`` in a fresh interpreter (MUJOCO_GL as in this process); it prints one JSON line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


PIXELS = r"""
import json, os, torch, envs
from torchrl.envs.utils import check_env_specs

out = {"gl_before": os.environ.get("MUJOCO_GL")}
env = envs.make_env("cartpole-swingup", 0, obs="rgb")
out["gl_after"] = os.environ.get("MUJOCO_GL")
spec = env.observation_spec["observation"]
out["spec"] = [list(spec.shape), str(spec.dtype)]
out["keys"] = sorted(env.observation_spec.keys())
td = env.reset()
obs = td["observation"]
out["obs"] = [list(obs.shape), str(obs.dtype)]
out["reset_fills_stack"] = torch.equal(obs[0:3], obs[3:6]) and torch.equal(obs[3:6], obs[6:9])
out["not_blank"] = obs.float().std().item() > 5
td["action"] = torch.ones(1)
nxt = env.step(td)["next", "observation"]
out["stack_shifts"] = torch.equal(nxt[0:6], obs[3:9]) and not torch.equal(nxt[6:9], obs[6:9])
check_env_specs(env, seed=0)
out["specs_ok"] = True
env.set_seed(0)
first = env.reset()["observation"]
again = envs.make_env("cartpole-swingup", 0, obs="rgb")
other = envs.make_env("cartpole-swingup", 1, obs="rgb")
out["same_seed_same_frames"] = torch.equal(again.reset()["observation"], first)
out["other_seed_other_frames"] = not torch.equal(other.reset()["observation"], first)
for e in (env, again, other):
    e.close()
for task in ("cheetah-run-backwards", "quadruped-walk"):  # a custom task; quadruped renders camera 2
    e = envs.make_env(task, 0, obs="rgb")
    o = e.rand_step(e.reset())["next", "observation"]
    out[task] = [list(o.shape), o.float().std().item() > 5]
    e.close()
print(json.dumps(out))
"""


@needs_rendering
def test_rgb_observations():
    out, stderr = _run(PIXELS)
    assert out["gl_after"] == (out["gl_before"] or rendering.preferred_backend())
    assert out["spec"] == out["obs"] == [[9, 64, 64], "torch.uint8"]
    assert out["keys"] == ["observation", "step_count"]
    assert out["reset_fills_stack"] and out["not_blank"] and out["stack_shifts"] and out["specs_ok"]
    assert out["same_seed_same_frames"] and out["other_seed_other_frames"]
    assert out["cheetah-run-backwards"] == out["quadruped-walk"] == [[9, 64, 64], True]
    assert "Exception ignored" not in stderr, stderr[-2000:]  # closed envs free their GL contexts


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
    if os.environ.get("MUJOCO_GL"):
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
