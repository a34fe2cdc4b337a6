"""Training modes as a registry (harness/modes/), each value resolved once with its origin
(harness/resolve.py), and ``--show-config``: the layers a value passes through, the mode's
capability needs, the fields only another mode reads, and a fourth mode registered by one file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import algorithms
from configs.results import RUN_MODES
from harness import run as run_mod
from harness.config import ConfigError, RunConfig, parse_overrides
from harness.modes import Mode, all_modes, get_mode, mode_names, register_mode
from harness.resolve import resolve_run
from harness.sweep import expand


def test_every_mode_is_registered_with_its_results_format_and_reads_only_run_fields():
    assert mode_names() == list(RUN_MODES)  # online, offline, finetune
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    for mode in all_modes():
        assert mode.results is RUN_MODES[mode.name]
        assert all(f.split(".")[0] in fields for f in mode.reads)
        assert mode.needs is None or mode.needs in algorithms.registry.CAPABILITIES
        assert mode.trainer.__name__.endswith("Trainer")
    with pytest.raises(ConfigError, match=r"^bad value 'ofline' for mode; valid: online, offline, finetune$"):
        get_mode("ofline")


def test_a_mode_without_a_results_format_entry_or_with_a_foreign_field_is_refused():
    class EvaluateOnly(Mode):
        name = "evaluate-only"

    with pytest.raises(ValueError, match="no entry in configs/results.py RUN_MODES"):
        register_mode(EvaluateOnly())

    class Typo(Mode):
        name = "online"
        reads = ("datset",)

    with pytest.raises(ValueError, match="already registered"):
        register_mode(Typo())


def test_capabilities_say_which_algorithms_each_mode_takes():
    for mode in all_modes():
        for name in algorithms.algorithm_names():
            entry = algorithms.get_algorithm(name)
            able = mode.needs is None or mode.needs in entry.capabilities
            assert able == (mode.needs is None or entry.factory.learn is not algorithms.base.Algorithm.learn)
    with pytest.raises(ConfigError, match=r"^mode=offline needs learning from batches .*; sac lacks it; algorithms"):
        resolve_run(parse_overrides(["mode=offline", "algo=sac", "suite=mt-smoke", "dataset=/x"]))


def test_a_sweep_over_an_unsupported_pair_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^mode=finetune needs starting from another run's weights .*; random lacks"):
        expand(parse_overrides(["task=cartpole-balance", "algo=[tdmpc2,random]", "mode=finetune", "checkpoint=/x"]))


@pytest.mark.parametrize(
    "args, message",
    [
        (["dataset=/data"], r"^dataset=/data is only read by mode=offline \(this run: mode=online\)$"),
        (["source_task=walker-walk"], r"^source_task=walker-walk is only read by mode=finetune"),
        (["finetune.freeze=[encoder]"], r"^finetune.freeze=\['encoder'\] is only read by mode=finetune"),
    ],
)
def test_a_field_only_another_mode_reads_is_refused(args, message):
    with pytest.raises(ConfigError, match=message):
        resolve_run(parse_overrides(args))


def test_every_value_records_the_layer_that_set_it(tmp_path):
    r = resolve_run(
        parse_overrides(
            ["algo=mbdpo-noanchor", "preset=cpu", "algo.planner.num_elites=8", "seed=3", f"runs_dir={tmp_path}"]
        )
    )
    o = r.origins
    assert o["seed"] == o["algo"] == o["algo.planner.num_elites"] == "command line"
    assert o["steps"].startswith("default")
    assert o["algo.planner.kind"] == "configs/algos/mbdpo.yaml"  # MBDPO's difference from TD-MPC2
    assert o["algo.energy.enabled"].startswith("algorithm mbdpo-noanchor")  # the variant's change
    assert o["algo.planner.num_samples"] == "preset cpu (configs/presets/cpu.yaml)"
    assert o["algo.planner.horizon"].startswith("WorldModelAgentConfig defaults")  # the reference's value
    assert r.algo_cfg.planner.num_samples == 128 and r.algo_cfg.planner.num_elites == 8
    assert r.variant == "cpu+planner.num_elites=8-" + r.variant.rsplit("-", 1)[1]


def test_the_mode_layer_sits_under_the_command_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    import torch

    # the check reads the chunk files' keys, shapes and dtypes, not their rows or dims
    z = torch.zeros(1, 2)
    torch.save({"obs": z[..., None], "action": z[..., None], "reward": z, "task": z.long()}, data / "chunk_0.pt")
    base = ["mode=offline", "suite=dmc-mt30", f"dataset={data}", "algo.model.size=5", f"runs_dir={tmp_path}"]
    r = resolve_run(parse_overrides(base))
    assert r.algo_cfg.model.task_dim == 64 and r.origins["algo.model.task_dim"].startswith(
        "mode=offline: suite dmc-mt30"
    )
    assert r.run.task == "multitask" and r.origins["task"].endswith("then mode=offline")
    r = resolve_run(parse_overrides([*base, "algo.model.task_dim=32"]))
    assert r.algo_cfg.model.task_dim == 32 and r.origins["algo.model.task_dim"] == "command line"


def test_a_bad_preset_or_family_value_names_its_layer():
    from harness.config import Layer, resolve_algo_config

    with pytest.raises(ConfigError, match=r"^unknown config key 'algo.planner.num_sample' \(from preset x\); valid:"):
        resolve_algo_config("tdmpc2", [Layer("preset x", {"planner.num_sample": 3})])


def test_show_config_prints_values_with_origins_and_writes_nothing(tmp_path, capsys):
    args = ["algo=mbdpo", "preset=cpu", f"runs_dir={tmp_path / 'runs'}"]
    assert run_mod.main([*args, "--show-config"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# mbdpo [cpu] in online mode -> ")
    line = next(x for x in out if x.startswith("algo.planner.num_samples = 128 "))
    assert line.endswith("# preset cpu (configs/presets/cpu.yaml)")
    assert any(x.startswith("seed = 1 ") and x.endswith("# default (harness/config.py RunConfig)") for x in out)
    assert run_mod.main([*args, "--show-config=algo.planner"]) == 0
    only = [x for x in capsys.readouterr().out.splitlines() if not x.startswith("#")]
    assert only and all(x.startswith("algo.planner.") for x in only)
    assert run_mod.main([*args, "--show-config=algo.nope"]) == 2
    assert "--show-config=algo.nope: no such field" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_run_is_resolved_once(tmp_path, monkeypatch):
    calls = []
    real = run_mod.resolve_run
    monkeypatch.setattr(run_mod, "resolve_run", lambda ov: calls.append(ov) or real(ov))
    args = ["algo=random", "steps=10", "eval_every=10", "eval_episodes=1", "logger=none", f"runs_dir={tmp_path}"]
    assert run_mod.main(args) == 0
    assert len(calls) == 1
    assert len(list(Path(tmp_path).rglob("eval.csv"))) == 1


def test_a_sweep_shows_each_algorithms_config_and_what_varies_and_writes_nothing(tmp_path, capsys):
    from harness import sweep

    args = ["suite=dmc-smoke", "algo=[mbdpo,tdmpc2]", "seeds=2", "preset=cpu", f"runs_dir={tmp_path / 'runs'}"]
    assert sweep.main([*args, "--show-config=algo.planner.num_samples"]) == 0
    out = capsys.readouterr().out
    assert out.count("algo.planner.num_samples = 128  # preset cpu (configs/presets/cpu.yaml)") == 2
    assert "# 12 runs, 2 algorithm configurations" in out and "seed: 1, 2" in out and "algo: mbdpo, tdmpc2" in out
    assert not (tmp_path / "runs").exists()
