"""Sweep logic without a cluster: Slurm options, array splitting, relaunch rules, status states."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import harness.run as run_mod
import harness.sweep as sweep_mod
from harness.config import ConfigError
from harness.launchers import build_slurm_config, sbatch_parameters
from harness.status import classify, sweep_rows

BASE = ["task=cartpole-balance", "steps=10", "eval_every=10", "eval_episodes=1", "logger=none"]


def test_slurm_options_map_to_sbatch():
    cfg = build_slurm_config(
        {
            "partition": "gpu",
            "timeout_min": 240,
            "gpus_per_task": 1,
            "cpus_per_task": 8,
            "mem_gb": 32,
            "account": "rl",
            "qos": "high",
            "constraint": "a100",
            "setup": ["module load cuda/12.4"],
            "sbatch_lines": ["--reservation=mine", "#SBATCH --exclusive"],
            "additional_parameters": {"mail-type": "END"},
            "array_parallelism": 16,
            "signal_delay_s": 180,
        }
    )
    p = sbatch_parameters(cfg)
    assert p["partition"] == "gpu" and p["time"] == 240 and p["gpus_per_task"] == 1 and p["cpus_per_task"] == 8
    assert p["mem"] == "32G" and p["account"] == "rl" and p["qos"] == "high" and p["constraint"] == "a100"
    assert p["setup"] == ["module load cuda/12.4"] and p["array_parallelism"] == 16 and p["signal_delay_s"] == 180
    assert p["additional_parameters"] == {"mail-type": "END", "reservation": "mine", "exclusive": True}
    # the sbatch file submitit would write
    from submitit.slurm.slurm import _make_sbatch_string

    text = _make_sbatch_string(command="python x", folder="/tmp/x", map_count=40, **p)
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --time=240",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --mem=32G",
        "#SBATCH --reservation=mine",
        "#SBATCH --exclusive",
        "#SBATCH --array=0-39%16",
        "#SBATCH --signal=USR2@180",
        "module load cuda/12.4",
    ):
        assert line in text, line


@pytest.mark.parametrize(
    "args,needle",
    [
        (["launcher=slurm", "slurm.partion=gpu"], "unknown config key 'slurm.partion'"),
        (["launcher=slurm", "slurm.timeout_min=abc"], "bad value 'abc' for slurm.timeout_min"),
        (["launcher=slurm", "slurm_array_parallelism=0"], "slurm.array_parallelism must be at least 1"),
        (["launcher=slurm", "slurm.sbatch_lines=[reservation]"], "bad slurm.sbatch_lines entry"),
        (["slurm.partition=gpu"], "add launcher=slurm"),
        (["launcher=slurm", "retry_failed=maybe"], "bad value 'maybe' for retry_failed"),
    ],
)
def test_bad_slurm_options_fail_with_one_line(tmp_path, args, needle, capsys):
    assert sweep_mod.main([*BASE, f"runs_dir={tmp_path}", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []  # nothing written


class FakeJob:
    def __init__(self, job_id):
        self.job_id = job_id


class FakeExecutor:
    """Records map_array calls; job ids like Slurm's (<array>_<task>, a plain id for one task)."""

    def __init__(self):
        self.arrays = []

    def map_array(self, fn, groups):
        self.arrays.append((fn, groups))
        aid = 1000 + len(self.arrays)
        return [FakeJob(f"{aid}_{k}" if len(groups) > 1 else str(aid)) for k in range(len(groups))]


def test_array_is_split_at_max_array_size_and_packs_runs(tmp_path, monkeypatch):
    ex = FakeExecutor()
    monkeypatch.setattr(sweep_mod, "make_executor", lambda *a, **k: ex)
    monkeypatch.setattr(sweep_mod, "cluster_max_array_size", lambda: 3)
    args = [*BASE, "seeds=7", "launcher=slurm", f"runs_dir={tmp_path}", "runs_per_job=2", "slurm.cpus_per_task=4"]
    assert sweep_mod.main(args) == 0  # returns at once
    # 7 runs, 2 per job -> 4 jobs; MaxArraySize 3 -> arrays of 3 and 1 task
    assert [len(groups) for _, groups in ex.arrays] == [3, 1]
    assert [len(g) for g in ex.arrays[0][1]] == [2, 2, 2] and [len(g) for g in ex.arrays[1][1]] == [1]
    fn = ex.arrays[0][0]
    assert fn.parallel  # packed runs run at once
    assert all(ov["threads"] == 2 for g in ex.arrays[0][1] for ov in g)  # cpus_per_task / runs_per_job
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    assert len(manifest["runs"]) == 7
    (launch,) = manifest["launches"]
    assert [j["job_id"] for j in launch["jobs"]] == ["1001_0", "1001_1", "1001_2", "1002"]
    assert launch["jobs"][0] == {"job_id": "1001_0", "array_job_id": "1001", "array_task_id": 0, "runs": [0, 1]}
    assert launch["slurm"]["cpus_per_task"] == 4


def test_relaunch_rules(tmp_path, monkeypatch):
    """Done runs are skipped, failed ones rerun only with retry_failed=true, interrupted ones resume."""
    calls = []

    def fake_train(resolved, rundir, **kw):
        calls.append(resolved.run.seed)
        if resolved.run.seed == 2 and not fail_fixed:
            raise RuntimeError("seed 2 crashes")
        return []

    fail_fixed = False
    monkeypatch.setattr(run_mod, "train", fake_train)
    args = [*BASE, "seeds=3", "launcher=debug", f"runs_dir={tmp_path}"]
    assert sweep_mod.main(args) == 1  # one run failed
    assert sorted(calls) == [1, 2, 3]
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    states = {r.label.split()[-1]: r.state for r in sweep_rows(sweep_dir)}
    assert states == {"1": "done", "2": "failed", "3": "done"}
    rows = sweep_rows(sweep_dir)
    assert "seed 2 crashes" in rows[1].note

    calls.clear()
    fail_fixed = True
    assert sweep_mod.main(args) == 1  # still failed: not rerun without retry_failed
    assert calls == []
    assert sweep_mod.main([*args, "retry_failed=true"]) == 0
    assert calls == [2]
    assert all(r.state == "done" for r in sweep_rows(sweep_dir))
    failed_attempt = json.loads(Path(rows[1].path, "attempts", "1", "status.json").read_text())
    assert failed_attempt["state"] == "failed" and "Traceback" in failed_attempt["traceback"]
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    assert [len(launch["jobs"]) for launch in manifest["launches"]] == [3, 0, 1]


def test_status_states():
    job = {"kind": "slurm", "job_id": "7_1"}
    mine = {"job": {"kind": "slurm", "job_id": "7_1"}}
    assert classify(None, job, "PENDING")[0] == "pending"
    assert classify({"state": "running", **mine}, job, "RUNNING")[0] == "running"
    assert classify(None, job, "RUNNING")[0] == "pending"  # packed/chained: the job runs, this run not yet
    # stopped at an episode end, requeued by submitit: the same job is pending again
    assert classify({"state": "interrupted", "checkpoint_step": 500, **mine}, job, "PENDING") == (
        "requeued",
        "resumes from step 500",
    )
    assert classify({"state": "running", **mine}, job, "CANCELLED by 0")[0] == "cancelled"
    assert classify({"state": "running", **mine}, job, "TIMEOUT")[0] == "timeout"
    assert classify({"state": "running", **mine}, job, "OUT_OF_MEMORY") == ("failed", "job OUT_OF_MEMORY")
    assert classify({"state": "failed", "error": "ValueError: x", **mine}, job, "FAILED") == ("failed", "ValueError: x")
    # a failed run is failed even if its (packed) job is still running; a done run is done whatever the job
    assert classify({"state": "failed", "error": "E", **mine}, job, "RUNNING")[0] == "failed"
    assert classify({"state": "done", **mine}, job, "RUNNING")[0] == "done"
    # no live job (killed, Ctrl-C, sacct has no record)
    assert classify({"state": "running", "checkpoint_step": 1000}, None, None)[0] == "interrupted"
    assert classify(None, None, None)[0] == "not started"


def test_status_command_on_a_runs_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(run_mod, "train", lambda *a, **k: [])
    assert sweep_mod.main([*BASE, "seeds=2", "launcher=debug", f"runs_dir={tmp_path}"]) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "harness.status", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 runs: 2 done" in proc.stdout and "seed 2" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "harness.status", str(tmp_path), "--wait", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and [r["state"] for r in json.loads(proc.stdout)] == ["done", "done"]
    proc = subprocess.run(
        [sys.executable, "-m", "harness.status", str(tmp_path / "nothing")], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "no sweep manifest" in proc.stderr


def _expand(tmp_path, *args):
    from harness.config import parse_overrides

    argv = ["task=[cartpole-balance]", f"runs_dir={tmp_path}", *args]
    return sweep_mod.expand(parse_overrides(argv))


def test_capabilities_drop_overrides_that_change_nothing_with_a_note(tmp_path):
    runs, settings = _expand(
        tmp_path,
        "algo=[mbdpo,tdmpc2,tdmpc2-pi,sac]",
        "algo.energy.eta=0.05",
        "algo.planner.num_samples=64",
        "algo.planner.horizon=5",
        "algo.model.size=1",
    )
    over = {r.overrides["algo"]: {k for k in r.overrides if k.startswith("algo.")} for r in runs}
    assert over["mbdpo"] == {"algo.energy.eta", "algo.planner.num_samples", "algo.planner.horizon", "algo.model.size"}
    assert over["tdmpc2"] == {"algo.planner.num_samples", "algo.planner.horizon", "algo.model.size"}
    assert over["tdmpc2-pi"] == {"algo.planner.horizon", "algo.model.size"}  # horizon: also the training horizon
    assert over["sac"] == set()
    assert "[sac]" not in "".join(r.label for r in runs) and "sac[default]" in "".join(r.label for r in runs)
    notes = "\n".join(settings.notes)
    assert "algo.energy.eta=0.05 for tdmpc2: it has no energy anchor" in notes
    assert "algo.planner.num_samples=64 for tdmpc2-pi: it has no search" in notes
    assert "algo.model.size=1 for sac: it has no world model" in notes
    assert len(settings.notes) == 7


def test_capabilities_that_fit_no_listed_algorithm_stay_errors(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"algo.energy.eta changes nothing for tdmpc2: .* mbdpo, mbdpo-aligned, mbdpo-score .*energy.enabled=true",
    ):
        _expand(tmp_path, "algo=[tdmpc2,sac]", "algo.energy.eta=0.05")
    with pytest.raises(ConfigError, match="unknown config key 'algo.plannr.num_samples'"):
        _expand(tmp_path, "algo=[tdmpc2,mbdpo]", "algo.plannr.num_samples=4")
    with pytest.raises(ConfigError, match=r"obs=rgb: sac cannot learn from pixels; algorithms that can: cem, .*tdmpc2"):
        _expand(tmp_path, "algo=[sac]", "obs=rgb")
    runs, settings = _expand(tmp_path, "algo=[tdmpc2,sac]", "obs=rgb")  # sac left out with a note
    assert [r.overrides["algo"] for r in runs] == ["tdmpc2"]
    assert "[skip] sac: obs=rgb needs learning from pixel observations (obs=rgb), which it has not" in settings.notes
    # enabling the anchor grants the capability: TD-MPC2 with MBDPO's anchor is a legitimate ablation
    (run,) = _expand(tmp_path, "algo=[tdmpc2]", "algo.energy.enabled=true", "algo.energy.eta=0.05")[0]
    assert run.overrides["algo.energy.eta"] == 0.05


def test_job_function_unpickles_without_torch():
    """A Slurm job installs its signal handler only after unpickling RunJob: importing torch first
    (~2 s) let an early time-limit signal kill requeued jobs instead of requeueing them."""
    code = "import sys, harness.launchers; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent).returncode == 0


def test_variant_names_are_stable_and_cut_long_diffs_between_overrides():
    from harness.config import build_algo_config, variant_name

    assert variant_name("mbdpo", build_algo_config("mbdpo", [])) == "default"
    short = variant_name("mbdpo", build_algo_config("mbdpo", ["planner.iterations=4"]))
    assert short.startswith("planner.iterations=4-") and len(short.split("-")[-1]) == 6
    many = [
        "model.size=1",
        "planner.diffusion_steps=10",
        "planner.num_elites=32",
        "planner.num_samples=256",
        "planner.num_pi_trajs=12",
    ]
    name = variant_name("mbdpo", build_algo_config("mbdpo", many))
    label = name.rsplit("-", 1)[0]
    # every shown override is whole (no "num_elites=3" cut out of "num_elites=32") and the rest is counted
    assert label == "model.size=1,planner.diffusion_steps=10,and_3_more", name
    # the digest still tells variants that share the shown prefix apart
    other = variant_name("mbdpo", build_algo_config("mbdpo", many[:-1] + ["planner.num_pi_trajs=6"]))
    assert other != name and other.rsplit("-", 1)[0] == label


def test_a_visual_suite_runs_from_pixels_apart_from_state_runs(tmp_path, capsys):
    """suite=visual gives its runs obs=rgb (configs/suites.yaml obs); pixel runs get their own
    variant (rgb, laptop+rgb) and so their own directory and report label; preset=laptop on pixels
    derives model.num_channels = latent 64 / 16 = 4; state runs keep their names; another obs with
    the suite is one line, exit 2, nothing written."""
    from configs.suites import get_suite
    from harness.config import build_algo_config, variant_name
    from harness.resolve import resolve_run

    assert get_suite("visual").obs == get_suite("visual-tdmpc2").obs == "rgb" and get_suite("dmc").obs == "state"
    runs, settings = _expand(
        tmp_path, "suite=visual", "task=[cheetah-run]", "algo=[tdmpc2,mbdpo,sac,random]", "preset=laptop"
    )
    by_algo = {r.overrides["algo"]: r for r in runs}
    assert sorted(by_algo) == ["mbdpo", "random", "tdmpc2"]  # sac has no pixel encoder: left out, with a note
    assert any(n.startswith("[skip] sac: obs=rgb") for n in settings.notes)
    for algo, r in by_algo.items():
        variant = "rgb" if algo == "random" else "laptop+rgb"
        assert r.overrides["obs"] == "rgb" and r.resolved.run.obs == "rgb" and r.resolved.variant == variant
        assert r.path == tmp_path / "visual" / "cheetah-run" / algo / variant / "seed_1"
    model = by_algo["mbdpo"].resolved.algo_cfg.model
    assert (model.latent_dim, model.num_channels) == (64, 4)
    assert by_algo["tdmpc2"].resolved.origins["algo.model.num_channels"].startswith("derived for obs=rgb")
    # the same task from state, and from pixels without a suite: never the same directory
    state = resolve_run({"task": "cheetah-run", "preset": "laptop", "runs_dir": str(tmp_path)})
    pixels = resolve_run({"task": "cheetah-run", "preset": "laptop", "obs": "rgb", "runs_dir": str(tmp_path)})
    given = resolve_run({"task": "cheetah-run", "preset": "laptop", "obs": "rgb", "algo.model.num_channels": 4})
    assert (state.variant, state.algo_cfg.model.num_channels) == ("laptop", 32)  # state runs: as before
    assert pixels.variant == given.variant == "laptop+rgb" and pixels.path != state.path
    assert resolve_run({"task": "cheetah-run", "obs": "rgb"}).variant == "rgb"  # 512 / 16 = 32: the reference's
    assert variant_name("mbdpo", build_algo_config("mbdpo", ["planner.iterations=4"]), obs="rgb").startswith(
        "rgb+planner.iterations=4-"
    )
    for args, kind in ((["suite=visual", "obs=state"], "rgb"), (["suite=dmc-smoke", "obs=rgb"], "state")):
        runs_dir = tmp_path / "refused"
        assert sweep_mod.main(["algo=tdmpc2", "task=cheetah-run", f"runs_dir={runs_dir}", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: bad value") and f"suite {args[0][6:]}" in err and f"obs={kind}" in err
        assert "\n" not in err and not runs_dir.exists()
    with pytest.raises(ConfigError, match="suite visual is learnt from rgb observations"):
        resolve_run({"task": "cheetah-run", "suite": "visual", "obs": "state"})  # harness.run takes suite= too


def test_a_named_preset_sets_its_fields_and_labels_the_variant(tmp_path):
    from omegaconf import OmegaConf

    import algorithms
    from configs import flatten
    from configs.presets import preset_fields, preset_names
    from harness.config import algo_defaults
    from harness.resolve import resolve_run

    base = {"task": "cartpole-balance", "runs_dir": str(tmp_path)}
    cpu = resolve_run({**base, "algo": "tdmpc2", "preset": "cpu"})
    assert cpu.variant == "cpu" and cpu.path.parent.name == "cpu"
    assert (cpu.algo_cfg.planner.num_samples, cpu.algo_cfg.planner.iterations) == (128, 4)
    sized = resolve_run({**base, "algo": "mbdpo", "preset": "cpu", "algo.model.size": 1})
    assert sized.variant.startswith("cpu+model.size=1-") and sized.algo_cfg.planner.diffusion_steps == 8
    mine = resolve_run({**base, "algo": "tdmpc2", "preset": "cpu", "algo.planner.num_samples": 64})
    assert mine.algo_cfg.planner.num_samples == 64 and mine.variant.startswith("cpu+planner.num_samples=64-")
    sac = resolve_run({**base, "algo": "sac", "preset": "cpu"})  # no planner: nothing to change, no label
    assert sac.variant == "default" and sac.algo_cfg == resolve_run({**base, "algo": "sac"}).algo_cfg
    assert sac.path == resolve_run({**base, "algo": "sac"}).path
    with pytest.raises(ConfigError, match="unknown preset 'cppu'; valid: cpu, laptop"):
        resolve_run({**base, "preset": "cppu"})
    # every field of every preset is a field of some registered algorithm (no typo goes unused)
    known = set().union(*(flatten(OmegaConf.to_container(algo_defaults(n))) for n in algorithms.algorithm_names()))
    for name in preset_names():
        assert set(preset_fields(name)) <= known, name


def test_progress_names_the_seed_steps_the_first_update_burst_and_evaluations(tmp_path, monkeypatch, capsys):
    """A run's seed steps and its burst of first updates (as many as seed steps, in one update
    call) show as activities without an ETA; the rate, and so the ETA, starts after them. An
    evaluation shows its episode step."""
    import harness.training.trainer as trainer_mod
    from harness.config import parse_overrides
    from harness.run import execute
    from tests.helpers import TINY_ALGO

    monkeypatch.setattr(trainer_mod, "PROGRESS_EVERY_S", 0.0)
    # the burst needs a whole episode in the replay: 500 seed steps, then 500 updates at once
    args = ["task=cartpole-balance", "steps=510", "eval_every=510", "eval_episodes=1", "eval_at_start=false"]
    args += ["threads=1", f"runs_dir={tmp_path}", "logger=none", *TINY_ALGO, "algo.seed_steps=500"]
    execute(parse_overrides(args), verbose=True)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "] step " in ln]
    seeding = [ln for ln in lines if ln.endswith(": random seed steps (500)")]
    burst = [ln for ln in lines if ": first updates " in ln]
    timed = [ln for ln in lines if "steps/s, ETA" in ln]
    assert seeding and burst and timed, lines
    assert lines.index(seeding[-1]) < lines.index(burst[0]) < lines.index(burst[-1]) < lines.index(timed[0])
    assert all("step 501/510" in ln for ln in burst) and burst[-1].endswith("first updates 500/500"), burst
    assert all("ETA" not in ln for ln in seeding + burst)
    assert any(ln.endswith(": evaluating at step 510: 250/500 of 1 episodes") for ln in lines)


def test_progress_reports_rate_and_eta(tmp_path, monkeypatch):
    import harness.rundir as rundir_mod
    from harness.rundir import RunDir, RunStatus, format_duration
    from harness.status import Row, format_table, summary_line

    assert [format_duration(s) for s in (9, 75, 4000)] == ["9s", "1m15s", "1h06m"]
    clock = iter([100.0, 110.0])  # the attempt starts at 100 s; step 500 is reached at 110 s
    monkeypatch.setattr(rundir_mod.time, "monotonic", lambda: next(clock))
    lines: list[str] = []
    rd = RunDir(tmp_path)
    with RunStatus(rd, 2000, 300, label="r", say=lambda text, **k: lines.append(text)) as status:
        status.progress(500)  # 200 steps in 10 s: 20 steps/s, 1500 left: 75 s
        st = rd.status()
        assert st["steps_per_second"] == 20.0 and st["eta_s"] == 75
        assert lines == ["[r] step 500/2000 (20.0 steps/s, ETA 1m15s)"]
        row = Row(0, "r", str(tmp_path), "running", 500, 2000, "-", 0, "", st["eta_s"])
        assert "500/2000 (25%, ETA 1m15s)" in format_table([row])
        assert summary_line([row]).endswith("running runs end in 1m15s")
        # a running run in its seed steps has no ETA: the sweep's summary then gives none either
        seeding = Row(1, "s", str(tmp_path), "running", 40, 2000, "-", 0, "random seed steps (100)", None)
        assert "running runs end in" not in summary_line([row, seeding])
        assert "random seed steps (100)" in format_table([row, seeding])


def test_a_relaunched_failed_run_is_watched_until_its_new_job_ends(tmp_path, monkeypatch):
    """retry_failed=true: until the new job reaches the run, its status.json still says failed (the
    earlier attempt's); the run is pending then, not failed, so the sweep keeps watching its job."""
    import harness.status as status_mod
    from harness.rundir import RunDir

    old = {"kind": "local", "job_id": "111"}
    new = {"kind": "local", "job_id": "222"}
    failed = {"state": "failed", "error": "no space left on device: /x", "job": old}
    assert classify(failed, new, "RUNNING") == (
        "pending",
        "relaunched after its failure; its new job has not reached it yet",
    )
    assert classify(failed, {"kind": "slurm", "job_id": "9_0"}, "PENDING")[0] == "pending"
    assert classify(failed, new, "ENDED")[0] == "failed"  # the new job ended without touching it: failed
    assert classify(failed, old, "RUNNING")[0] == "failed"  # its own job goes on with the next run of its chain

    run = tmp_path / "r"
    RunDir(run).write_status("failed", 300, 600, error="no space left on device: /x", job=old, checkpoint_step=200)
    with zipfile.ZipFile(run / "checkpoint.pt", "w") as z:  # its checkpoint, whole (torch.save writes a zip)
        z.writestr("data.pkl", b"x")
    manifest = {
        "runs": [{"path": str(run), "label": "r", "total_steps": 600}],
        "launches": [{"launcher": "local", "jobs": [{"job_id": "111", "runs": [0]}]}],
    }
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    (sweep_dir / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(status_mod, "local_state", lambda job: "RUNNING" if job["job_id"] == "222" else "ENDED")
    assert (sweep_rows(sweep_dir)[0].state, sweep_rows(sweep_dir)[0].step) == ("failed", 300)
    manifest["launches"].append({"launcher": "local", "jobs": [{"job_id": "222", "runs": [0]}]})
    (sweep_dir / "manifest.json").write_text(json.dumps(manifest))
    (row,) = sweep_rows(sweep_dir)
    assert row.state == "pending" and row.job == "222"
    assert row.step == 200  # it goes on from its checkpoint: the sweep's percentage does not fall when it resumes
    assert not status_mod.all_final([row])
    (run / "checkpoint.pt").unlink()  # without it the relaunch restarts: progress 0, as the note says
    (row,) = sweep_rows(sweep_dir)
    assert row.step == 0 and "checkpoint.pt is missing; restarts from scratch (step 0)" in row.note


class _FakeJob:
    def __init__(self, alive: list[bool]):
        self.alive = alive
        self.job_id = "fake"

    def done(self) -> bool:
        return not (self.alive.pop(0) if self.alive else False)


def test_ctrl_c_after_the_runs_ended_reports_their_real_state(tmp_path, monkeypatch, capsys):
    """Ctrl-C while the runs finish: the sweep checks their end state; all done: it says so, exit 0;
    else it names each run that is not done, exit 130. It also watches on while a job it launched
    is alive, although every run looks final."""
    from harness.status import Row

    def row(i, state):
        return Row(i, f"run {i}", str(tmp_path / str(i)), state, 600, 600, "1", 0, "")

    rows = [row(0, "done"), row(1, "done")]
    monkeypatch.setattr(sweep_mod.status_mod, "sweep_rows", lambda d, m=None: rows)
    polls = []

    def watch(sweep_dir, interval, **kw):
        polls.append(interval)
        if len(polls) == 1:
            raise KeyboardInterrupt  # the first Ctrl-C, while the runs finish

    monkeypatch.setattr(sweep_mod.status_mod, "watch", watch)
    monkeypatch.setattr(sweep_mod.time, "sleep", lambda s: None)
    settings = sweep_mod.SweepSettings(launcher="local")
    jobs = [_FakeJob([True, False])]  # still alive at the first look after the interrupt, then ended
    assert sweep_mod.follow(settings, tmp_path, jobs, {"jobs": []}) == 0
    out = capsys.readouterr()
    assert "sweep finished: 2/2 done" in out.out and "run the same command again" not in out.err
    assert polls == [5, 1]

    polls.clear()
    rows[1] = row(1, "interrupted")
    assert sweep_mod.follow(settings, tmp_path, [_FakeJob([])], {"jobs": []}) == 130
    err = capsys.readouterr().err
    assert "INTERRUPTED run 1" in err and "interrupted (1/2 done, 1 not); run the same command again" in err


def test_progress_after_a_resume_counts_on_from_the_checkpoint(tmp_path, monkeypatch):
    """A run resumed at the end of its seed steps makes its first-update burst at once: progress
    then shows the checkpoint's step (not step 1), and RunStatus never reports less than it."""
    import harness.training.trainer as trainer_mod
    from harness.checkpoint_file import load
    from harness.config import parse_overrides
    from harness.resolve import resolve_run
    from harness.rundir import RunDir, RunStatus
    from tests.helpers import stopped_run, stopped_run_args

    path = stopped_run(tmp_path, "cartpole-balance", 1, "test")  # a checkpoint at step 500 = seed steps
    resolved = resolve_run(parse_overrides(stopped_run_args(tmp_path, "cartpole-balance", 1, "test")))
    seen = []

    class Enough(Exception):
        pass

    def progress(step, activity, timed):
        seen.append((step, activity))
        raise Enough

    monkeypatch.setattr(trainer_mod, "PROGRESS_EVERY_S", 0.0)
    with pytest.raises(Enough):
        trainer_mod.train(resolved, RunDir(path), resume_from=load(path / "checkpoint.pt"), progress=progress)
    assert seen == [(501, "first updates 1/500")]

    lines = []
    rd = RunDir(tmp_path / "status")
    with RunStatus(rd, 1000, 500, say=lambda text, **k: lines.append(text)) as status:
        status.progress(1, "first updates 1/500", timed=False)
        assert rd.status()["step"] == 500 and lines == ["[] step 500/1000: first updates 1/500"]


def test_a_value_listed_twice_runs_once_and_says_so(tmp_path, monkeypatch, capsys):
    """task=[x,x], seed=[1,1], algo=[a,a] and any grid key listed twice: one run, one note each
    (the same rule on every axis); never two planned runs in one run directory. Two different
    runs that would share one (a key the directory does not name) are refused in one line."""
    runs, settings = _expand(
        tmp_path,
        "task=[cartpole-balance,cartpole-balance]",
        "seed=[1,1]",
        "algo=[tdmpc2,tdmpc2]",
        "mode=[online,online]",
    )
    assert len(runs) == 1
    assert settings.notes == [
        "[dup] algo=[tdmpc2,tdmpc2]: tdmpc2 listed twice; running it once",
        "[dup] mode=[online,online]: online listed twice; running it once",
        "[dup] task=[cartpole-balance,cartpole-balance]: cartpole-balance listed twice; running it once",
        "[dup] seed=[1,1]: 1 listed twice; running it once",
    ]
    runs, settings = _expand(tmp_path, "algo.model.size=[1,5,1,1]", "seed=[2,1]")
    assert [r.overrides["algo.model.size"] for r in runs] == [1, 1, 5, 5]
    assert settings.notes == ["[dup] algo.model.size=[1,5,1,1]: 1 listed 3 times; running it once"]
    assert len({r.path for r in runs}) == len(runs)
    with pytest.raises(ConfigError, match=r"^steps=\[10,20\]: these runs would share one run directory \(.*seed_1\)"):
        _expand(tmp_path, "steps=[10,20]")

    calls = []
    monkeypatch.setattr(run_mod, "train", lambda resolved, rundir, **kw: calls.append(resolved.run.seed) or [])
    args = [*BASE, "task=[cartpole-balance,cartpole-balance]", "seed=[1,1]", "launcher=debug", f"runs_dir={tmp_path}"]
    assert sweep_mod.main(args) == 0 and calls == [1]
    out = capsys.readouterr().out
    assert "listed twice; running it once" in out and "1 runs; 1 to launch" in out


def test_local_chains_share_each_algorithm_and_start_apart(tmp_path):
    """The main job's grid (tdmpc2, mbdpo, random x 3 seeds) on 2 chains: the chains start different
    algorithms and each gets both costly ones; tdmpc2 and random over 3 tasks x 2 seeds: 3 + 3 each
    (dealing seed by seed put all six tdmpc2 runs in one chain)."""

    def chains(*args):
        runs, _ = _expand(tmp_path, *args)
        out = sweep_mod.local_chains(runs, list(range(len(runs))), 2)
        assert sorted(i for c in out for i in c) == list(range(len(runs)))  # every run once
        return [[runs[i].overrides["algo"] for i in c] for c in out]

    main_job = chains("algo=[tdmpc2,mbdpo,random]", "seeds=3")
    assert main_job[0][0] == "tdmpc2" and main_job[1][0] == "mbdpo"
    assert all({"tdmpc2", "mbdpo"} <= set(c) for c in main_job)
    two = chains("task=[cartpole-balance,reacher-easy,cup-catch]", "algo=[tdmpc2,random]", "seeds=2")
    assert [c.count("tdmpc2") for c in two] == [3, 3] and two[1][0] == "random"


def test_local_runs_share_the_cores_unless_told(tmp_path):
    """Without threads_per_run, max_parallel local processes split the machine's cores (torch's
    default, a thread per core in each, oversubscribes them); given threads win."""
    import os

    runs, _ = _expand(tmp_path, "seeds=2", "max_parallel=2")
    assert {r.overrides["threads"] for r in runs} == {max(1, (os.cpu_count() or 1) // 2)}
    runs, _ = _expand(tmp_path, "seeds=2", "max_parallel=2", "threads_per_run=3")
    assert {r.overrides["threads"] for r in runs} == {3}
    runs, _ = _expand(tmp_path, "seeds=2", "max_parallel=2", "threads=4")
    assert {r.overrides["threads"] for r in runs} == {4}


def test_the_paper_groups_that_run_here_are_suites_a_sweep_plans(tmp_path):
    """suite=myosuite and suite=locomotion plan one run per task, algorithm and seed under the suite's
    directory, without building an env (issue 28); suite=maniskill2 is refused (test_bad_input)."""
    from configs.suites import get_suite
    from harness.config import parse_overrides

    for suite in ("myosuite", "locomotion"):
        argv = [f"suite={suite}", "algo=[tdmpc2,mbdpo]", "preset=laptop", "steps=200", f"runs_dir={tmp_path}"]
        runs, _ = sweep_mod.expand(parse_overrides(argv))
        tasks = get_suite(suite).tasks
        assert [(r.resolved.run.task, r.resolved.run.algo) for r in runs] == [
            (t, a) for t in tasks for a in ("tdmpc2", "mbdpo")
        ]
        assert {r.path.relative_to(tmp_path).parts[0] for r in runs} == {suite}
    assert not any(tmp_path.iterdir())
