"""mode=offline: multi-task pretraining of a size-1 world model from a dataset exported from real
online runs of mt-smoke tasks; every task evaluated; resume equals uninterrupted; the report reads
the multi-task run as one run over the suite's tasks; bad offline settings fail in one line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml

from analysis.report import main as report_main
from harness import stop
from harness.config import ConfigError, parse_overrides
from harness.data.dataset_writer import export_runs
from harness.resolve import resolve_run
from harness.run import execute
from harness.rundir import RunDir
from harness.sweep import expand
from harness.training.offline import OfflineTrainer
from tests.helpers import signal_handlers_kept, stopped_run, tiny_algo

SUITE = "mt-smoke"
TASKS = ["cartpole-balance", "reacher-easy", "cheetah-run"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("online")
    for task in ("cartpole-balance", "reacher-easy"):  # cheetah-run has no episodes: exported as missing
        stopped_run(runs, task, 1, SUITE)
    out = tmp_path_factory.mktemp("data") / "mt-smoke"
    export_runs([runs], SUITE, out)
    return out


@pytest.fixture(scope="module")
def bare_dataset(dataset, tmp_path_factory) -> Path:
    """The dataset's chunk files without its dataset.json, as TD-MPC2's published ones: any suite
    may read them (the dims are checked when the storage is built)."""
    out = tmp_path_factory.mktemp("bare")
    for chunk in dataset.glob("chunk_*.pt"):
        (out / chunk.name).symlink_to(chunk)
    return out


def _offline(runs_dir: Path, dataset: Path, algo: str, *extra: str) -> dict:
    tiny = [t for t in tiny_algo(algo) if not t.startswith("algo.seed_steps")]  # no seed steps offline
    args = [
        "mode=offline",
        f"suite={SUITE}",
        f"dataset={dataset}",
        f"runs_dir={runs_dir}",
        "logger=none",
        "threads=1",
        "eval_episodes=1",
        f"algo={algo}",
        *tiny,
        "algo.batch_size=16",
        *extra,
    ]
    return parse_overrides(args)


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path / "eval.csv")))


def test_offline_run_evaluates_every_task_and_records_its_size(dataset, tmp_path):
    res = execute(
        _offline(tmp_path, dataset, "tdmpc2-pi", "steps=4", "eval_every=4", "eval_at_start=false"), verbose=False
    )
    path = Path(res["path"])
    assert path.relative_to(tmp_path).parts[:3] == (SUITE, "multitask", "tdmpc2-pi")
    rows = _rows(path)
    assert sorted((r["task"], int(r["step"])) for r in rows) == sorted((t, 4) for t in TASKS)  # 1 episode each
    assert all(int(r["length"]) == 500 for r in rows)
    config = yaml.safe_load((path / "config.yaml").read_text())
    assert config["run"]["mode"] == "offline" and config["num_parameters"] > 10_000  # the narrowed size-1 model

    out = tmp_path / "report"
    assert report_main([str(tmp_path), "--out", str(out), "--reps", "200"]) == 0
    per_task = list(csv.DictReader(open(out / "per_task.csv")))
    assert {r["task"] for r in per_task} == set(TASKS)
    assert any("offline" in r["algo"] for r in per_task)


def test_offline_resume_equals_uninterrupted(dataset, tmp_path):
    extra = ["steps=6", "eval_every=6", "eval_at_start=false"]
    whole = Path(execute(_offline(tmp_path / "whole", dataset, "tdmpc2-pi", *extra), verbose=False)["path"])
    stop.request_stop("test: stop after the first update")
    try:
        with pytest.raises(stop.Preempted):
            execute(_offline(tmp_path / "cut", dataset, "tdmpc2-pi", *extra), verbose=False)
    finally:
        stop.clear_stop()
    res = execute(_offline(tmp_path / "cut", dataset, "tdmpc2-pi", *extra), verbose=False)
    assert res["resumed_from"] == 1
    assert (Path(res["path"]) / "eval.csv").read_bytes() == (whole / "eval.csv").read_bytes()


def test_mbdpo_pretrains_offline_with_its_anchor_on_the_dataset_actions(dataset, tmp_path):
    resolved = resolve_run(_offline(tmp_path, dataset, "mbdpo", "steps=3"))
    with OfflineTrainer(resolved, RunDir(tmp_path / "run")) as trainer:
        agent = trainer.agent
        assert agent.model.multitask and agent.env_spec.tasks == tuple(TASKS)
        before = agent.energy.net[-1].weight.detach().clone()
        batch = trainer.replay.sample()
        assert set(batch["task"].tolist()) <= {0, 1}  # the dataset's tasks
        metrics = agent.learn(batch)
    assert metrics["energy_loss"] > 0  # F trained on the dataset's actions as positives
    assert not torch.equal(before, agent.energy.net[-1].weight)


def test_offline_sweep_expands_one_run_per_algorithm_seed_and_size(dataset, tmp_path):
    args = _offline(tmp_path, dataset, "mbdpo", "steps=2", "algo.model.size=[1,5]")
    args.update(algo=["tdmpc2", "mbdpo"], seeds=2)
    runs, _ = expand(args)
    assert len(runs) == 2 * 2 * 2
    assert {r.path.relative_to(tmp_path).parts[1] for r in runs} == {"multitask"}
    # each (algorithm, size) is its own variant, named as the same config run alone would be, so
    # the same configuration always finds the same directory
    assert len({(r.path.parent.parent.name, r.path.parent.name) for r in runs}) == 2 * 2
    alone = expand({**_offline(tmp_path, dataset, "mbdpo", "steps=2"), "algo.model.size": 1})[0]
    assert alone[0].path.parent in {r.path.parent for r in runs}
    assert len({r.path for r in runs}) == 8


@pytest.mark.parametrize(
    "extra, message",
    [
        (["suite=none"], "mode=offline needs suite=NAME"),
        (["-dataset"], "mode=offline needs dataset=DIR"),
        (["dataset=/nonexistent"], "no chunk_\\*.pt files there"),
        (["task=walker-run"], "leave task out"),
        (["algo=sac"], "sac lacks it"),
        (["mode=offine"], "bad value 'offine' for mode"),
    ],
)
def test_bad_offline_settings_fail_in_one_line(dataset, tmp_path, extra, message):
    drop = [e[1:] for e in extra if e.startswith("-")]  # "-key": leave the key out
    extra = [e for e in extra if not e.startswith("-")]
    overrides = {**_offline(tmp_path, dataset, "tdmpc2", "steps=2"), **parse_overrides(extra)}
    overrides = {k: v for k, v in overrides.items() if k not in drop}
    if "algo=sac" in extra:
        overrides = {k: v for k, v in overrides.items() if not k.startswith("algo.")} | {"algo": "sac"}
    with pytest.raises(ConfigError, match=message) as info:
        resolve_run(overrides)
    assert "\n" not in str(info.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "suite, size, task_dim",
    [("dmc-mt30", 1, 96), ("dmc-mt30", 5, 64), ("dmc-mt30", 48, 64), ("mt80", 5, 96), ("mt-smoke", 5, 96)],
)
def test_task_embedding_size_follows_tdmpc2s_rule(bare_dataset, tmp_path, suite, size, task_dim):
    overrides = {**_offline(tmp_path, bare_dataset, "tdmpc2", "steps=2"), "suite": suite, "algo.model.size": size}
    assert resolve_run(overrides).algo_cfg.model.task_dim == task_dim
    overrides["algo.model.task_dim"] = 32  # a user's choice wins
    assert resolve_run(overrides).algo_cfg.model.task_dim == 32


@pytest.mark.parametrize("suite, size, latent_dim", [("dmc-mt30", 19, 512), ("dmc-mt30", 48, 768), ("mt80", 19, 768)])
def test_latent_size_follows_tdmpc2s_rule(bare_dataset, tmp_path, suite, size, latent_dim):
    """TD-MPC2's parser: its mt30 model at size 19 has latent_dim 512 (configs/suites.yaml latent_dim_by_size)."""
    overrides = {**_offline(tmp_path, bare_dataset, "tdmpc2", "steps=2"), "suite": suite, "algo.model.size": size}
    overrides.pop("algo.model.latent_dim")  # the tiny model's; the rule fills in what the command line leaves out
    assert resolve_run(overrides).algo_cfg.model.resolved().latent_dim == latent_dim
    overrides["algo.model.latent_dim"] = 256  # a user's choice wins
    assert resolve_run(overrides).algo_cfg.model.resolved().latent_dim == 256


def test_a_full_disk_while_building_the_storage_fails_the_run_in_one_line(dataset, tmp_path, capsys, monkeypatch):
    """Issue 26, item 2: the memory-mapped storage's blocks are allocated before the copy, so a full
    disk is an OSError (ENOSPC), not a bus error while writing through the map: the run fails
    (status failed, one line, exit 1) and leaves no storage and no temporary directory. The free
    space is checked first, too."""
    import errno
    import json
    import shutil
    from types import SimpleNamespace

    import harness.data.memmap_store as store
    from harness.run import main

    data = tmp_path / "data"
    data.mkdir()
    for name in ("chunk_0.pt", "dataset.json"):
        shutil.copy(dataset / name, data / name)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "posix_fallocate", full)
    runs = tmp_path / "runs"
    args = [f"{k}={v}" for k, v in _offline(runs, data, "tdmpc2", "steps=2", "eval_every=2").items()]
    with signal_handlers_kept():
        assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: no space left on device: {data / '.memmap'}", err
    assert sorted(p.name for p in data.iterdir()) == ["chunk_0.pt", "dataset.json"]
    (status,) = runs.rglob("status.json")
    st = json.loads(status.read_text())
    assert st["state"] == "failed" and st["error"] == f"no space left on device: {data / '.memmap'}"

    from harness.data import suite_layout

    layout = suite_layout(SUITE)
    monkeypatch.setattr(store.os, "statvfs", lambda p: SimpleNamespace(f_bavail=10, f_frsize=4096))
    with pytest.raises(OSError, match="MiB needed") as info:
        store.open_or_build(data, layout)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(data / ".memmap")
    assert sorted(p.name for p in data.iterdir()) == ["chunk_0.pt", "dataset.json"]
