"""Reference frames for tests/test_envs_pixels.py, made by TD-MPC2's own pixel env code.

TD-MPC2 (nicklashansen/tdmpc2 @ e9f5932, ``tdmpc2/envs/dmcontrol.py``: ``make_env``, its
``DMControlWrapper`` and ``Pixels``; MBDPO's ``MBDPO/envs/dmcontrol.py`` is the same code) is
run with ``obs=rgb`` on each task of :data:`TASKS` with ``seed`` :data:`SEED`: one reset, then
:data:`STEPS` steps with fixed actions (uniform in [-1, 1], ``np.random.RandomState(0)``). Its
observations (uint8 ``[9, 64, 64]``, the last 3 frames) and the actions are written to
``tests/fixtures/pixels/<task>.npz`` (compressed). The test replays the actions in our env, from
the same initial state (our env's simulator random state set to ``RandomState(SEED)``, as
``suite.load(..., task_kwargs={"random": SEED})`` makes it), and asks for the same pixels.

Frames depend on the OpenGL backend (and its version), so the renders are made with
``MUJOCO_GL=osmesa`` (Mesa's CPU renderer, the CI's), which is recorded in the fixture; the test
renders with the same backend. The committed fixtures were made with Mesa 22.3.6 (Debian 12's
libosmesa6), dm_control 1.0.28, mujoco 3.3.0.

Usage (from the repository root; the reference made CPU-runnable by ref_bench_patch.sh):
    python -m tools.parity.dmc_pixels_fixtures [--ref $REFBENCH/tdmpc2/tdmpc2]
"""

from __future__ import annotations

import argparse
import os
import sys
import types
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_DIR = REPO_ROOT / "tests" / "fixtures" / "pixels"
REFERENCE = "nicklashansen/tdmpc2@e9f5932"
TASKS = ("cheetah-run", "quadruped-walk")  # camera 0; camera 2 and actions rescaled to its bounds
SEED = 1
STEPS = 3
BACKEND = "osmesa"


def _run_with_newer_libraries(dmcontrol: types.ModuleType) -> None:
    """Two shims, neither touching what is rendered: the reference pins gymnasium 0.29, whose
    ``Wrapper`` accepts any env, while gymnasium 1.x asks for a ``gymnasium.Env`` (its
    ``DMControlWrapper`` is given ``gymnasium.Env`` as a second base, behind its own methods); and
    dm_control 1.0.28's quadruped calls ``np.in1d``, gone in numpy 2.4 (``np.isin``: the same for
    its 1-D arrays; our envs.dmc patches quadruped the same way)."""
    import gymnasium

    if not hasattr(np, "in1d"):  # dm_control's quadruped calls np.in1d, gone in numpy 2.4 (isin: same for 1-D)
        np.in1d = np.isin
    base = dmcontrol.DMControlWrapper
    if not issubclass(base, gymnasium.Env):
        dmcontrol.DMControlWrapper = type(base.__name__, (base, gymnasium.Env), {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    refbench = Path(os.environ.get("REFBENCH", "/tmp/refbench"))
    parser.add_argument("--ref", default=str(refbench / "tdmpc2" / "tdmpc2"), help="TD-MPC2's tdmpc2/ directory")
    args = parser.parse_args()
    os.environ["MUJOCO_GL"] = BACKEND  # before dm_control is imported
    code_dir = Path(args.ref).resolve()
    sys.path = [str(code_dir)] + [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT]
    from envs import dmcontrol  # the reference's envs package, not ours

    if code_dir not in Path(dmcontrol.__file__).resolve().parents:
        raise SystemExit(f"imported {dmcontrol.__file__}, not the reference's")
    _run_with_newer_libraries(dmcontrol)
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    for task in TASKS:
        env = dmcontrol.make_env(types.SimpleNamespace(task=task, obs="rgb", seed=SEED))
        actions = np.random.RandomState(0).uniform(-1, 1, (STEPS, *env.action_space.shape)).astype(np.float32)
        observations = [env.reset().numpy()]
        for action in actions:
            observations.append(env.step(action)[0].numpy())
        env.env.env.env.physics.free()  # Timeout > Pixels > DMControlWrapper > dm_control's env
        path = FIXTURE_DIR / f"{task}.npz"
        np.savez_compressed(
            path,
            observations=np.stack(observations),
            actions=actions,
            seed=SEED,
            backend=BACKEND,
            reference=REFERENCE,
        )
        print(f"{path.relative_to(REPO_ROOT)}: {len(observations)} observations, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
