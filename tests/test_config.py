"""Run labels and the refusals of harness.run's resolution (harness/config.py, harness/resolve.py):
a preset labels only the algorithms it changes; a list of values for a one-value field points to
harness.sweep in one line; every range check names its key, the bad value and what is allowed."""

from __future__ import annotations

import pytest

import harness.run as run_mod
import harness.sweep as sweep_mod
from harness.config import RUN_RANGES, ConfigError, parse_overrides
from harness.resolve import resolve_run


def test_a_preset_labels_only_the_algorithms_whose_fields_it_changes(tmp_path):
    base = {"task": "cartpole-balance", "runs_dir": str(tmp_path)}

    def variant(algo, preset, **more):
        return resolve_run({**base, "algo": algo, "preset": preset, **more}).variant

    # random has no fields; laptop sets SAC's batch and seed steps, cpu only planners SAC lacks
    assert [variant("random", p) for p in ("", "laptop", "cpu")] == ["default"] * 3
    assert (variant("sac", "laptop"), variant("sac", "cpu")) == ("laptop", "default")
    assert (variant("tdmpc2", "laptop"), variant("mbdpo", "cpu")) == ("laptop", "cpu")
    # a preset that changes nothing adds no prefix to a command-line diff either
    assert variant("sac", "cpu", **{"algo.batch_size": 128}).startswith("batch_size=128-")
    # a sweep over both: tdmpc2/laptop and random/default, each once per seed
    runs, _ = sweep_mod.expand(
        parse_overrides(["algo=[tdmpc2,random]", "task=[cartpole-balance]", "preset=laptop", "seeds=2"])
        | {"runs_dir": str(tmp_path)}
    )
    got = sorted(str(r.path.relative_to(tmp_path)) for r in runs)
    assert got == [
        f"none/cartpole-balance/{algo}/{variant}/seed_{seed}"
        for algo, variant in (("random", "default"), ("tdmpc2", "laptop"))
        for seed in (1, 2)
    ]
    assert sorted(r.label for r in runs)[0] == "cartpole-balance random[default] seed 1"
    assert not any(tmp_path.iterdir())  # expanding writes nothing


@pytest.mark.parametrize(
    "arg,message",
    [
        (
            "algo=[tdmpc2,mbdpo]",
            "algo=[tdmpc2,mbdpo]: harness.run runs one algorithm; "
            "for several use python -m harness.sweep algo=[tdmpc2,mbdpo] ...",
        ),
        ("task=[cartpole-balance,cup-catch]", "task=[cartpole-balance,cup-catch]: harness.run runs one task; "),
        ("seed=[1,2]", "seed=[1,2]: harness.run runs one seed; for several use python -m harness.sweep seed=[1,2] ..."),
        ("eval_at_start=[true,false]", "harness.run takes one value of eval_at_start; for several use"),
        ("algo.planner.horizon=[3,5]", "algo.planner.horizon=[3,5]: harness.run takes one value of algo.planner"),
        ("steps=-5", "bad value -5 for steps: must be a whole number from 1 to 9007199254740992"),
        ("eval_every=0", "bad value 0 for eval_every: must be a whole number from 1 to"),
        ("eval_episodes=0", "bad value 0 for eval_episodes: must be a whole number from 1 to 10000"),
    ],
)
def test_harness_run_refuses_in_one_line_naming_the_key(tmp_path, capsys, monkeypatch, arg, message):
    def train(*args, **kwargs):
        raise AssertionError(f"{arg} was accepted")

    monkeypatch.setattr(run_mod, "execute", train)  # never trains, whatever happens
    runs = tmp_path / "runs"
    assert run_mod.main(["task=cartpole-balance", f"runs_dir={runs}", arg]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err == f"error: {message}" or (err.startswith("error: ") and message in err), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and not runs.exists()


def test_a_list_field_is_still_taken_as_a_list(tmp_path):
    """finetune.freeze holds a list: no refusal pointing to the sweep (mode=finetune reads it)."""
    with pytest.raises(ConfigError) as err:
        resolve_run({"finetune.freeze": ["encoder"], "runs_dir": str(tmp_path)})
    assert "harness.sweep" not in str(err.value) and "finetune.freeze" in str(err.value)


def test_every_run_range_check_names_its_key_the_value_and_the_range(tmp_path):
    for key, (low, high) in RUN_RANGES.items():
        for bad in (low - 1, high + 1):
            with pytest.raises(ConfigError) as err:
                resolve_run({key: bad, "runs_dir": str(tmp_path)})
            assert str(err.value) == f"bad value {bad} for {key}: must be a whole number from {low} to {high}"


@pytest.mark.parametrize(
    "algo,key,value,message",
    [
        ("sac", "utd", 0, "utd=0 must be positive"),
        ("sac", "alpha_lr", -1.0, "alpha_lr=-1.0 must be positive"),
        ("sac", "seed_steps", -1, "seed_steps=-1 must be >= 0"),
        ("mbdpo", "energy.clip", 0.0, "energy.clip=0.0 must be > 0"),
        ("mbdpo", "energy.neg_noise", -1.0, "energy.neg_noise=-1.0 must be >= 0"),
        ("mbdpo-score", "score.embed_dim", 1, "score.embed_dim=1 must be >= 2"),
        ("tdmpc2", "planner.large_action_extra_iterations", -1, "planner.large_action_extra_iterations=-1 must be"),
    ],
)
def test_every_algorithm_check_names_its_key_and_value(algo, key, value, message):
    from harness.config import build_algo_config

    with pytest.raises(ConfigError) as err:
        build_algo_config(algo, {key: value})
    assert str(err.value).startswith(f"algo: {message}"), err.value
