"""mode=finetune: a tiny offline-pretrained mt-smoke model fine-tuned online on one of its tasks and
on a task it has not seen (its embedding from the source task's), resumed exactly, reported beside
the from-scratch run; a checkpoint is never modified; bad checkpoints and tasks fail in one line."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
import yaml

from harness.config import ConfigError, parse_overrides, resolve_run
from harness.data.export import export_runs
from harness.run import execute
from harness.training import checkpoint as ckpt_mod
from harness.training import stop
from tests.helpers import stopped_run, tiny_algo

SUITE = "mt-smoke"


def _stop_first(overrides: dict) -> Path:
    stop.request_stop("test: stop at the first safe point")
    try:
        with pytest.raises(stop.Preempted):
            execute(overrides, verbose=False)
    finally:
        stop.clear_stop()
    return resolve_run(overrides).path


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """An offline-pretrained size-1 tdmpc2-pi on mt-smoke, stopped after one update (its checkpoint.pt)."""
    root = tmp_path_factory.mktemp("pre")
    for task in ("cartpole-balance", "reacher-easy"):
        stopped_run(root / "online", task, 1, SUITE)
    export_runs([root / "online"], SUITE, root / "data")
    tiny = [t for t in tiny_algo("tdmpc2-pi") if not t.startswith("algo.seed_steps")]
    args = [
        "mode=offline",
        f"suite={SUITE}",
        f"dataset={root / 'data'}",
        f"runs_dir={root / 'runs'}",
        "steps=5",
        "eval_every=5",
        "eval_at_start=false",
        "logger=none",
        "threads=1",
        "algo=tdmpc2-pi",
        *tiny,
    ]
    return _stop_first(parse_overrides(args))


def _finetune(pretrained: Path, runs_dir: Path, task: str, *extra: str) -> dict:
    tiny = [t for t in tiny_algo("tdmpc2-pi") if not t.startswith(("algo.seed_steps", "algo.model.size"))]
    args = [
        "mode=finetune",
        f"checkpoint={pretrained}",
        f"task={task}",
        f"runs_dir={runs_dir}",
        "algo=tdmpc2-pi",
        "steps=520",
        "eval_every=520",
        "eval_episodes=1",
        "logger=none",
        "threads=1",
        *tiny,
        *extra,
    ]
    return parse_overrides(args)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_finetune_a_new_task_from_its_source_tasks_embedding(pretrained, tmp_path):
    before = _digest(pretrained / "checkpoint.pt")
    res = execute(_finetune(pretrained, tmp_path, "reacher-hard"), verbose=False)  # reacher-easy's embedding
    path = Path(res["path"])
    rows = list(csv.DictReader(open(path / "eval.csv")))
    # the variant of a from-scratch run with the same fields (so a report pairs them), in its own directory
    scratch = {**_finetune(pretrained, tmp_path, "reacher-hard"), "mode": "online", "checkpoint": "", "source_task": ""}
    variant = resolve_run({**scratch, "algo.model.size": 1}).variant  # the checkpoint's size, given to both
    assert path.parent.name.split("+finetune-")[0] == variant and {r["variant"] for r in rows} == {variant}
    assert [int(r["step"]) for r in rows] == [0, 520]
    config = yaml.safe_load((path / "config.yaml").read_text())
    assert config["run"]["mode"] == "finetune" and config["run"]["source_task"] == "reacher-easy"
    assert config["pretrained"]["path"] == str(pretrained / "checkpoint.pt") and config["pretrained"]["task_id"] == 3
    assert config["pretrained"]["run"]["suite"] == SUITE and len(config["pretrained"]["commit"]) >= 7
    assert _digest(pretrained / "checkpoint.pt") == before  # never modified

    # the new embedding row started as the source's; its action mask is reacher-hard's own 2 dims
    state = ckpt_mod.load(pretrained / "checkpoint.pt")["agent"]["model"]
    emb = state["task_embedding.weight"]
    assert emb.shape[0] == 3


def test_finetune_a_pretrained_task_and_resume_exactly(pretrained, tmp_path):
    whole = Path(execute(_finetune(pretrained, tmp_path / "whole", "cartpole-balance"), verbose=False)["path"])
    cut = _stop_first(_finetune(pretrained, tmp_path / "cut", "cartpole-balance"))  # at the first episode end
    assert (cut / "checkpoint.pt").exists()
    res = execute(_finetune(pretrained, tmp_path / "cut", "cartpole-balance"), verbose=False)
    assert res["resumed_from"] == 500
    assert (Path(res["path"]) / "eval.csv").read_bytes() == (whole / "eval.csv").read_bytes()


def test_freezing_parts(pretrained, tmp_path):
    from harness.rundir import RunDir
    from harness.training.finetune import FinetuneTrainer

    resolved = resolve_run(_finetune(pretrained, tmp_path, "cartpole-balance", "finetune.freeze=[encoder,dynamics]"))
    with FinetuneTrainer(resolved, RunDir(tmp_path / "r")) as trainer:
        model = trainer.agent.inner.model
        assert not any(p.requires_grad for p in model.encoder.parameters())
        assert all(p.requires_grad for p in model.qs.parameters())
        assert trainer.agent.seed_steps == 0 and len(trainer.agent.replay) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["algo=tdmpc2"], "was trained by tdmpc2-pi, not tdmpc2; use algo=tdmpc2-pi"),
        (["algo.model.size=5"], "has model.size=1; leave it out or use algo.model.size=1"),
        (["task=cartpole-swingup"], "configs/finetune.yaml names no source task for it; give source_task=NAME"),
        (["task=reacher-hard", "source_task=walker-walk"], "source_task=walker-walk is not a task of checkpoint"),
        (["finetune.freeze=[encodr]"], "unknown finetune.freeze part 'encodr'; valid: encoder"),
        (["checkpoint=/nonexistent"], "no such file or run directory"),
    ],
)
def test_bad_finetune_settings_fail_in_one_line(pretrained, tmp_path, extra, message):
    overrides = {**_finetune(pretrained, tmp_path, "cartpole-balance"), **parse_overrides(extra)}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        resolve_run(overrides)
    assert "\n" not in str(info.value) and not any(tmp_path.iterdir())


def test_a_task_the_model_cannot_take_and_a_truncated_checkpoint(pretrained, tmp_path):
    from harness.training.pretrained import PretrainedError, find_pretrained

    with pytest.raises(ConfigError, match="has 24 observations and 6 actions; the model .* takes at most 17 and 6"):
        resolve_run(_finetune(pretrained, tmp_path, "walker-run", "source_task=cheetah-run"))
    assert not any(tmp_path.iterdir())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.yaml").write_text((pretrained / "config.yaml").read_text())
    (bad / "checkpoint.pt").write_bytes((pretrained / "checkpoint.pt").read_bytes()[:1000])
    with pytest.raises(PretrainedError, match="is unreadable"):
        find_pretrained(str(bad)).state()


# ----------------------------------------------------------------------------- harness.evaluate
def test_evaluate_each_kind_of_checkpoint_into_a_table_the_report_reads(pretrained, tmp_path, capsys):
    from analysis.report import main as report_main
    from harness.evaluate import main as evaluate_main

    root = pretrained.parents[5]
    (online,) = (root / "online" / SUITE / "cartpole-balance").glob("*/*/seed_1")  # checkpoint.pt at step 500
    tuned = Path(execute(_finetune(pretrained, tmp_path / "ft", "reacher-hard"), verbose=False)["path"])  # final.pt
    files = [online / "checkpoint.pt", pretrained / "checkpoint.pt", tuned / "final.pt"]
    before = [_digest(f) for f in files]
    out = tmp_path / "evaluations"
    for ckpt, task in ((online, "cartpole-balance"), (pretrained, "reacher-easy"), (tuned, "reacher-hard")):
        assert evaluate_main([f"checkpoint={ckpt}", f"task={task}", "episodes=2", f"out={out}", "threads=1"]) == 0
    assert [_digest(f) for f in files] == before  # only read

    runs = {p.parts[len(out.parts) + 1]: p for p in out.glob("*/*/*/*/seed_1")}
    assert set(runs) == {"cartpole-balance", "multitask", "reacher-hard"}
    for name, step, mode, task in (
        ("cartpole-balance", 500, "online", "cartpole-balance"),
        ("multitask", 1, "offline", "reacher-easy"),
        ("reacher-hard", 520, "finetune", "reacher-hard"),
    ):
        rows = list(csv.DictReader(open(runs[name] / "eval.csv")))
        assert [(int(r["step"]), r["task"], int(r["length"])) for r in rows] == [(step, task, 500)] * 2, name
        config = yaml.safe_load((runs[name] / "config.yaml").read_text())
        assert config["run"]["mode"] == mode and config["evaluation"]["step"] == step
        assert (runs[name] / "done.json").exists()
        assert runs[name].parent.name.endswith(("+eval-checkpoint", "+eval-final"))

    # done evaluations are skipped, not redone
    stamp = (runs["multitask"] / "eval.csv").stat().st_mtime_ns
    assert evaluate_main([f"checkpoint={pretrained}", "task=reacher-easy", "episodes=2", f"out={out}"]) == 0
    assert "already evaluated" in capsys.readouterr().out
    assert (runs["multitask"] / "eval.csv").stat().st_mtime_ns == stamp

    report = tmp_path / "report"
    assert report_main([str(out), "--out", str(report), "--reps", "200"]) == 0
    listed = list(csv.DictReader(open(report / "runs.csv")))
    assert sorted(r["mode"] for r in listed) == ["finetune", "offline", "online"]
    assert "(offline)" in (report / "report.md").read_text()


def test_evaluate_bad_input_is_one_line_and_writes_nothing(pretrained, tmp_path, capsys):
    import shutil

    from harness.evaluate import main as evaluate_main

    cut = tmp_path / "cut"
    cut.mkdir()
    shutil.copy(pretrained / "config.yaml", cut / "config.yaml")
    (cut / "checkpoint.pt").write_bytes((pretrained / "checkpoint.pt").read_bytes()[:5000])
    out = tmp_path / "evaluations"
    for args, needle in (
        ([f"checkpoint={pretrained}", "task=walker-run"], "trained on cartpole-balance, reacher-easy, cheetah-run"),
        ([f"checkpoint={tmp_path / 'nothing'}"], "no such file or run directory"),
        ([f"checkpoint={pretrained}", "episodes=0"], "bad value 0 for episodes"),
        ([f"checkpoint={pretrained}", "suite=mt-smok"], "unknown suite 'mt-smok'"),
        ([f"checkpoint={pretrained}", "episode=3"], "unknown key 'episode' for harness.evaluate; valid:"),
        (["task=cartpole-balance"], "checkpoint= is required"),
        ([f"checkpoint={cut}"], "checkpoint.pt is truncated or damaged"),
    ):
        assert evaluate_main([*args, f"out={out}"]) == 2, args
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1 and err.startswith("error: "), (args, err)
    assert not out.exists()  # each refused before anything was written
