"""MyoSuite (``envs/myosuite.py``): the 10 hand tasks built and stepped, 100-step episodes whatever
MyoSuite says, success = MyoSuite's ``solved``, seeding, and exact resume of a tiny run."""

from __future__ import annotations

import sys
import warnings

import pytest
import torch
from torchrl.envs.utils import check_env_specs

from envs import get_task, make_env, task_names
from envs.myosuite import MYOSUITE_TASKS, MyoSuiteMissing

pytest.importorskip("myosuite")

# observation size per task kind (actions: the hand's 39 muscles, for every task)
OBS_DIMS = {"reach": 115, "pose": 108, "obj-hold": 91, "key-turn": 93, "pen-twirl": 83}


def _myo(env):
    return env.base_env._env.unwrapped  # MyoSuite's own env, for these checks only


def _random_actions(env, n: int, seed: int = 0):
    """Resets ``env``, then steps it ``n`` times with uniform actions in [-1, 1]; yields each step's
    tensordict and MyoSuite's own (terminated, solved) for that step."""
    g = torch.Generator().manual_seed(seed)
    td = env.reset()
    for _ in range(n):
        td["action"] = torch.rand(env.action_spec.shape, generator=g) * 2 - 1
        td = env.step(td)
        yield td["next"], bool(_myo(env).rwd_dict["done"]), bool(_myo(env).rwd_dict["solved"])
        td = td["next"]


@pytest.fixture(scope="module")
def envs():
    """Every task's env, seed 0, built once for the tests below (each test resets what it uses)."""
    built = {name: make_env(name, seed=0) for name in MYOSUITE_TASKS}
    yield built
    for env in built.values():
        env.close()


def test_every_task_is_built_and_stepped(envs):
    assert task_names("myosuite") == sorted(MYOSUITE_TASKS) and len(MYOSUITE_TASKS) == 10
    for name, env_id in MYOSUITE_TASKS.items():
        spec = get_task(name)
        assert (spec.task, spec.episode_length, spec.action_repeat) == (env_id, 100, 1)
        env = envs[name]
        obs_dim = OBS_DIMS[name.removeprefix("myo-").removesuffix("-hard")]
        obs = env.observation_spec["observation"]
        assert obs.shape == (obs_dim,) and obs.dtype == torch.float32, name
        assert env.action_spec.shape == (39,) and env.action_spec.dtype == torch.float32
        assert (env.action_spec.space.low == -1).all() and (env.action_spec.space.high == 1).all()
        assert env.observation_spec["success"].dtype == torch.bool and env.observation_spec["success"].shape == (1,)
        assert env.reward_spec.dtype == torch.float32 and env.reward_spec.shape == (1,)
        assert env.reset()["success"].tolist() == [False]
        check_env_specs(env, seed=0)  # TorchRL's own check of the specs against real steps
        for td, _, solved in _random_actions(env, 3):
            assert td["observation"].shape == (obs_dim,) and td["observation"].dtype == torch.float32
            assert td["success"].item() == solved and torch.isfinite(td["reward"]).all()


def test_episode_is_100_steps_whatever_myosuite_says(envs):
    """Pen twirl: MyoSuite registers a 50-step limit and ends the episode when the pen drops (its
    ``terminated``, here at step 20 with these random actions): ours goes on to step 100."""
    from myosuite.utils import gym as myo_gym

    assert myo_gym.spec("myoHandPenTwirlFixed-v0").max_episode_steps == 50
    steps = list(_random_actions(envs["myo-pen-twirl"], 100))
    native_terminated = [t for _, t, _ in steps]
    assert any(native_terminated[:50])  # MyoSuite's own end fired early...
    done = [td["done"].item() for td, _, _ in steps]
    assert done == [False] * 99 + [True]  # ...and ours ended at step 100 only,
    assert steps[-1][0]["truncated"].item() and not any(td["terminated"].item() for td, _, _ in steps)  # truncated
    assert all(td["success"].item() == solved for td, _, solved in steps)


def test_success_is_myosuite_solved_also_when_true(envs):
    """Key turn is solved when the key is turned past ``goal_th``: put the key there through the
    simulator mid-episode; ``success`` follows MyoSuite's ``solved`` from False to True."""
    env = envs["myo-key-turn"]
    myo = _myo(env)
    g = torch.Generator().manual_seed(0)
    td = env.reset()
    success, solved = [], []
    for i in range(8):
        if i == 4:
            myo.sim.data.qpos[-1] = myo.goal_th + 0.5
            myo.sim.forward()
        td["action"] = torch.rand(39, generator=g) * 2 - 1
        td = env.step(td)["next"]
        success.append(td["success"].item())
        solved.append(bool(myo.rwd_dict["solved"]))
    assert success == solved and success[:4] == [False] * 4 and all(success[4:])


def test_seeding_and_random_state_round_trip():
    """The hard variants draw a new target at every reset from the env's own RNG: the same seed
    gives the same targets, and a restored RNG state gives the same following episodes."""
    env, same, other = (make_env("myo-reach-hard", seed=s) for s in (3, 3, 4))
    first = [env.reset()["observation"] for _ in range(2)]
    assert not torch.equal(first[0], first[1])
    assert all(torch.equal(obs, same.reset()["observation"]) for obs in first)
    assert not torch.equal(first[0], other.reset()["observation"])

    state = env.get_rng_state()
    after = [env.reset()["observation"] for _ in range(3)]
    other.set_rng_state(state)  # another env, another seed: restored, it follows the first
    assert all(torch.equal(obs, other.reset()["observation"]) for obs in after)
    assert env.get_rng_state() == other.get_rng_state()
    for e in (env, same, other):
        e.close()


def test_resume_equals_uninterrupted(tmp_path):
    """A tiny run of the random policy on myo-reach-hard (new targets every episode), stopped at its
    first episode end (step 100, after the evaluation at 50) and resumed, evaluates at 100, 150 and
    200 exactly as the run never stopped, and ends with the same simulator random states."""
    from harness import stop
    from harness.config import parse_overrides
    from harness.run import execute

    run = ["task=myo-reach-hard", "algo=random", "seed=2", "steps=200", "eval_every=50", "eval_episodes=1"]
    run += ["eval_at_start=false", "threads=1", "suite=none", "logger=none"]

    def overrides(name):
        return parse_overrides([*run, f"runs_dir={tmp_path / name}"])

    execute(overrides("uninterrupted"), verbose=False)
    stop.request_stop("test: stop at the first episode end")
    try:
        with pytest.raises(stop.Preempted):
            execute(overrides("resumed"), verbose=False)
    finally:
        stop.clear_stop()
    assert execute(overrides("resumed"), verbose=False)["resumed_from"] == 100

    (ref,) = (tmp_path / "uninterrupted").glob("*/*/*/*/seed_2")
    (res,) = (tmp_path / "resumed").glob("*/*/*/*/seed_2")
    rows = (ref / "eval.csv").read_text()
    assert rows.count("\n") == 1 + 4 and (res / "eval.csv").read_text() == rows
    final, ref_final = (torch.load(p / "final.pt", weights_only=False) for p in (res, ref))
    assert final["env_rng"] == ref_final["env_rng"] and len(final["env_rng"]["eval"]) == 1


def test_pixels_are_refused(capsys, tmp_path):
    with pytest.raises(ValueError, match="unsupported observation kind 'rgb' for task 'myo-reach'; supported: state"):
        make_env("myo-reach", seed=0, obs="rgb")
    from harness.run import main

    assert main(["task=myo-reach", "obs=rgb", f"runs_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err == "error: bad value 'rgb' for obs: task 'myo-reach' (myosuite) has state observations\n"
    assert not any(tmp_path.iterdir())


def test_without_myosuite_one_line_says_how_to_install(monkeypatch, capsys, tmp_path):
    """Building a task fails with one line; a run is refused before anything is written (exit 2)."""
    for name in [m for m in sys.modules if m == "myosuite" or m.startswith("myosuite.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "myosuite", None)  # import myosuite -> ModuleNotFoundError
    with pytest.raises(MyoSuiteMissing) as info:
        make_env("myo-reach", seed=0)
    hint = "pip install --no-deps -c constraints.txt myosuite==2.11.6"
    assert "\n" not in str(info.value) and hint in str(info.value)
    from harness.run import main

    assert main(["task=myo-pose", f"runs_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: task 'myo-pose': MyoSuite is not installed: " + hint) and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_myosuite_prints_nothing_of_its_own(monkeypatch, capfd):
    """MyoSuite's import banner, its credits and its warnings stay off our output."""
    for name in [m for m in sys.modules if m == "myosuite" or m.startswith("myosuite.")]:
        monkeypatch.delitem(sys.modules, name)  # imported afresh below, as in a new process
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_env("myo-reach", seed=0).rollout(3)
    out = capfd.readouterr()
    assert "myosuite" in sys.modules and out.out == "" and out.err == "" and not caught, out.out + out.err
