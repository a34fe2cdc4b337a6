"""mode=finetune: a tiny offline-pretrained mt-smoke model fine-tuned online on one of its tasks and
on a task it has not seen, each from a new embedding row copied from its source task's (MBDPO's
scripts/offline_to_online.py), with the reference's optimiser, F statistics and update schedule;
resumed exactly, reported beside the from-scratch run; a checkpoint is never modified; bad
checkpoints and tasks fail in one line."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
import torch
import yaml
from tensordict import TensorDict

from harness import checkpoint_file as ckpt_mod
from harness import stop
from harness.config import ConfigError, parse_overrides
from harness.data.dataset_writer import export_runs
from harness.resolve import resolve_run
from harness.run import execute
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
def dataset(tmp_path_factory) -> Path:
    """mt-smoke data: one real 500-step episode of cartpole-balance and of reacher-easy."""
    root = tmp_path_factory.mktemp("pre")
    for task in ("cartpole-balance", "reacher-easy"):
        stopped_run(root / "online", task, 1, SUITE)
    export_runs([root / "online"], SUITE, root / "data")
    return root / "data"


def _pretrain(dataset: Path, algo: str) -> Path:
    """An offline-pretrained size-1 ``algo`` on mt-smoke, stopped after one update (its checkpoint.pt)."""
    tiny = [t for t in tiny_algo(algo) if not t.startswith("algo.seed_steps")]
    args = [
        "mode=offline",
        f"suite={SUITE}",
        f"dataset={dataset}",
        f"runs_dir={dataset.parent / 'runs'}",
        "steps=5",
        "eval_every=5",
        "eval_at_start=false",
        "logger=none",
        "threads=1",
        f"algo={algo}",
        *tiny,
    ]
    return _stop_first(parse_overrides(args))


@pytest.fixture(scope="module")
def pretrained(dataset) -> Path:
    return _pretrain(dataset, "tdmpc2-pi")


@pytest.fixture(scope="module")
def pretrained_mbdpo(dataset) -> Path:
    """With F and a learned score network (mbdpo-score)."""
    return _pretrain(dataset, "mbdpo-score")


def _finetune(pretrained: Path, runs_dir: Path, task: str, *extra: str, algo: str = "tdmpc2-pi") -> dict:
    tiny = [t for t in tiny_algo(algo) if not t.startswith(("algo.seed_steps", "algo.model.size"))]
    args = [
        "mode=finetune",
        f"checkpoint={pretrained}",
        f"task={task}",
        f"runs_dir={runs_dir}",
        f"algo={algo}",
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
    assert config["pretrained"]["new_task_row"] and config["pretrained"]["source_task_id"] == 1
    assert config["pretrained"]["run"]["suite"] == SUITE and len(config["pretrained"]["commit"]) >= 7
    assert _digest(pretrained / "checkpoint.pt") == before  # never modified

    state = ckpt_mod.load(pretrained / "checkpoint.pt")["agent"]["model"]
    assert state["task_embedding.weight"].shape[0] == 3
    # the reference's schedule: the first episode ends at step 500 (index 499), the first update
    # comes at the next step (offline_to_online.py checks buffer.num_eps before adding the episode)
    tuned = ckpt_mod.load(path / "final.pt")["agent"]
    assert tuned["model"]["task_embedding.weight"].shape[0] == 4 and tuned["num_updates"] == 20
    # the switch to our online loop's order: the first update at the step that stores the episode
    ours = _finetune(pretrained, tmp_path / "ours", "reacher-hard", "finetune.first_update_at_episode_end=true")
    ours_path = Path(execute(ours, verbose=False)["path"])
    assert ckpt_mod.load(ours_path / "final.pt")["agent"]["num_updates"] == 21


def test_the_checkpoints_model_shape_is_taken_over(pretrained, tmp_path):
    """A model made with explicit widths fine-tunes without repeating them (they come from its
    config.yaml, recorded as the mode's); one given otherwise is refused in one line."""
    args = {k: v for k, v in _finetune(pretrained, tmp_path, "reacher-hard").items() if not k.startswith("algo.model.")}
    r = resolve_run(args)
    assert (r.algo_cfg.model.enc_dim, r.algo_cfg.model.latent_dim) == (64, 32)  # tests.helpers.TINY_ALGO's
    assert r.origins["algo.model.enc_dim"].startswith("mode=finetune: the model of checkpoint=")
    assert r.variant == resolve_run(_finetune(pretrained, tmp_path, "reacher-hard")).variant
    with pytest.raises(ConfigError, match=r"^algo.model.enc_dim=32: checkpoint=.* has model.enc_dim=64; leave it out"):
        resolve_run({**args, "algo.model.enc_dim": 32})


def test_finetune_a_pretrained_task_and_resume_exactly(pretrained, tmp_path):
    whole = Path(execute(_finetune(pretrained, tmp_path / "whole", "cartpole-balance"), verbose=False)["path"])
    config = yaml.safe_load((whole / "config.yaml").read_text())  # a known task: a new row from its own
    assert config["run"]["source_task"] == "cartpole-balance" and config["run"]["finetune"]["new_task_row"]
    assert config["pretrained"]["task_id"] == 3 and config["pretrained"]["source_task_id"] == 0
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


def _trainer(resolved, where: Path):
    from harness.rundir import RunDir
    from harness.training.finetune import FinetuneTrainer

    return FinetuneTrainer(resolved, RunDir(where))


def test_a_known_task_gets_a_new_row_copied_from_its_source(pretrained, tmp_path):
    pre = ckpt_mod.load(pretrained / "checkpoint.pt")["agent"]["model"]
    emb0, masks0 = pre["task_embedding.weight"], pre["action_masks"]
    smoke = ("cartpole-balance", "reacher-easy", "cheetah-run")
    for i, (extra, source, source_id) in enumerate(
        (
            ((), "cartpole-balance", 0),  # not in MBDPO's map: its own trained row, copied
            (("source_task=reacher-easy",), "reacher-easy", 1),  # source_task= is honoured
            (("source_task=cheetah-run", "finetune.action_mask=target"), "cheetah-run", 2),
        )
    ):
        resolved = resolve_run(_finetune(pretrained, tmp_path, "cartpole-balance", *extra))
        assert resolved.run.source_task == source
        with _trainer(resolved, tmp_path / f"r{i}") as trainer:
            agent = trainer.agent.inner
            assert agent.env_spec.tasks == ("cartpole-balance@pretrained", *smoke[1:], "cartpole-balance")
            assert agent.task_id == 3 and trainer.source["source_task_id"] == source_id
            emb = agent.model.task_embedding.weight.detach()
            assert torch.equal(emb[:3], emb0) and torch.equal(emb[3], emb0[source_id])
            # the source's action mask (cheetah-run: 6 dims), or with action_mask=target cartpole's 1
            mask = masks0[source_id] if "finetune.action_mask=target" not in extra else masks0[0]
            assert torch.equal(agent.model.action_masks[3], mask) and torch.equal(agent.model.action_masks[:3], masks0)
            assert float(agent.discount[3]) == float(agent.discount[source_id])
    # the switch back to keeping a known task's own row (as before issue 24)
    resolved = resolve_run(_finetune(pretrained, tmp_path, "cartpole-balance", "finetune.new_task_row=false"))
    assert resolved.run.source_task == "" and "+finetune-" in resolved.path.parent.name
    with _trainer(resolved, tmp_path / "own") as trainer:
        agent = trainer.agent.inner
        assert agent.task_id == 0 and agent.env_spec.tasks == smoke and trainer.source["source_task_id"] is None
        assert torch.equal(agent.model.task_embedding.weight.detach(), emb0)
    # different switches, different run directories
    default = resolve_run(_finetune(pretrained, tmp_path, "cartpole-balance")).path
    assert resolved.path != default


def test_copy_task_discount_reaches_the_planners():
    from algorithms import get_algorithm
    from algorithms.base import EnvSpec
    from harness.config import build_algo_config

    spec = EnvSpec(
        obs_dim=5, action_dim=2, episode_length=500, tasks=("a", "b"), action_dims=(2, 1), episode_lengths=(500, 50)
    )
    cfg = build_algo_config("tdmpc2", [t.removeprefix("algo.") for t in tiny_algo("tdmpc2")] + ["model.task_dim=8"])
    agent = get_algorithm("tdmpc2").factory(cfg, spec, torch.device("cpu"), 1000)
    before = agent.discount.clone()
    assert before[0] != before[1]
    agent.copy_task_discount(0, 1)
    assert torch.equal(agent.discount, before[[0, 0]])
    assert all(p.discount is agent.discount for p in agent.planners.values())


def _groups(agent) -> list[tuple[set[str], float]]:
    """The model optimiser's groups as (part names, lr), parts named by WorldModelAgent.PARTS."""
    owner = {id(p): name for name, net in agent.parts().items() if net is not None for p in net.parameters()}
    return [({owner[id(p)] for p in g["params"]}, g["lr"]) for g in agent.optim.param_groups]


def test_mbdpo_finetune_optimiser_and_energy_statistics_as_the_reference(pretrained_mbdpo, tmp_path):
    pre = ckpt_mod.load(pretrained_mbdpo / "checkpoint.pt")["agent"]
    assert float(pre["energy"]["std"]) != 1.0 and int(pre["score_net"]["updates"]) == 1  # one update trained them
    resolved = resolve_run(_finetune(pretrained_mbdpo, tmp_path, "reacher-hard", algo="mbdpo-score"))
    with _trainer(resolved, tmp_path / "r") as trainer:
        agent, cfg = trainer.agent.inner, trainer.agent.inner.cfg
        # F's statistics restart at 0 / 1 (MBDPO keeps them outside the model state it saves)
        assert float(agent.energy.mean) == 0.0 and float(agent.energy.std) == 1.0
        # offline_to_online.py _rebuild_optimizers: encoder at lr * enc_lr_scale, then dynamics, reward,
        # F, Qs and the task embedding at lr; no score network; the policy's own Adam with eps 1e-5
        lr = cfg.lr
        assert sorted(_groups(agent), key=str) == sorted(
            [
                ({"encoder"}, lr * cfg.enc_lr_scale),
                ({"dynamics"}, lr),
                ({"reward"}, lr),
                ({"q"}, lr),
                ({"energy"}, lr),
                ({"task_embedding"}, lr),
            ],
            key=str,
        )
        (pi_group,) = agent.pi_optim.param_groups
        assert pi_group["lr"] == lr and pi_group["eps"] == 1e-5
        assert {id(p) for p in pi_group["params"]} == {id(p) for p in agent.model.pi_head.parameters()}

        # one update: the score network is not stepped but its gradient (which reaches the encoder
        # too) stays, uncleared, and travels with the checkpoint like the other pending gradients
        gen = torch.Generator().manual_seed(0)
        H, B, spec = cfg.planner.horizon, cfg.batch_size, agent.env_spec
        batch = TensorDict(
            obs=torch.randn(H + 1, B, spec.obs_dim, generator=gen),
            action=torch.rand(H, B, spec.action_dim, generator=gen) * 2 - 1,
            reward=torch.rand(H, B, 1, generator=gen),
            terminated=torch.zeros(H, B, 1, dtype=torch.bool),
            batch_size=[],
        )
        score0 = [p.detach().clone() for p in agent.score_net.parameters()]
        enc0 = [p.detach().clone() for p in agent.model.encoder.parameters()]
        agent.learn(batch)
        assert all(torch.equal(a, p) for a, p in zip(score0, agent.score_net.parameters()))
        assert not all(torch.equal(a, p) for a, p in zip(enc0, agent.model.encoder.parameters()))
        assert all(p.grad is not None for p in agent.score_net.parameters())
        pending = agent.state_dict()["pending_grads"]
        assert len(pending) == sum(len(g["params"]) for g in agent.optim.param_groups) + len(score0)

    # the switches: the checkpoint's statistics kept, the score network trained in its own group
    switched = ("finetune.reset_energy_statistics=false", "finetune.train_score=true")
    resolved = resolve_run(_finetune(pretrained_mbdpo, tmp_path, "reacher-hard", *switched, algo="mbdpo-score"))
    with _trainer(resolved, tmp_path / "s") as trainer:
        agent = trainer.agent.inner
        assert float(agent.energy.std) == float(pre["energy"]["std"])
        assert ({"score"}, agent.cfg.lr) in _groups(agent)


@pytest.mark.slow
def test_mbdpo_finetune_resumes_exactly(pretrained_mbdpo, tmp_path):
    def ft(where):
        return _finetune(pretrained_mbdpo, where, "reacher-hard", algo="mbdpo-score")

    whole = Path(execute(ft(tmp_path / "whole"), verbose=False)["path"])
    cut = _stop_first(ft(tmp_path / "cut"))
    res = execute(ft(tmp_path / "cut"), verbose=False)
    assert res["resumed_from"] == 500
    assert (Path(res["path"]) / "eval.csv").read_bytes() == (whole / "eval.csv").read_bytes()
    a, b = (ckpt_mod.load(p / "final.pt")["agent"] for p in (whole, Path(res["path"])))
    assert a["num_updates"] == b["num_updates"] == 20
    for x, y in zip(a["pending_grads"], b["pending_grads"]):
        assert (x is None and y is None) or torch.equal(x, y)
    for key in a["score_net"]:
        assert torch.equal(a["score_net"][key], b["score_net"][key])
    assert cut.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["algo=tdmpc2"], "was trained by tdmpc2-pi, not tdmpc2; use algo=tdmpc2-pi"),
        (["algo.model.size=5"], "has model.size=1; leave it out or use algo.model.size=1"),
        (["task=cartpole-swingup"], "configs/finetune.yaml names no source task for it; give source_task=NAME"),
        (["task=reacher-hard", "source_task=walker-walk"], "source_task=walker-walk is not a task of checkpoint"),
        (["finetune.freeze=[encodr]"], "unknown finetune.freeze part 'encodr'; valid: encoder"),
        (["finetune.discount=own"], "bad value 'own' for finetune.discount; valid: source, target"),
        (["finetune.new_task_row=false", "source_task=reacher-easy"], "keeps its own embedding row; leave source_task"),
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
