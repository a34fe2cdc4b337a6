"""Bad-input campaign: every program given bad values, each case in a fresh process with fresh
temp directories; the outcome of each is classified against the rule (README, "Configuration"):
one line on stderr ``error: ...`` naming the key or value, exit status 2, no traceback, nothing
created.

    python -m tools.faults.bad_inputs --out DIR [--quick] [--only ID_OR_PREFIX ...] [--work DIR]

Outcomes: ``ok``; ``traceback`` (a Python traceback on the console); ``hang`` (still running after
``--timeout`` s, killed); ``accepted`` (exit 0: the bad value was taken); ``wrong-exit`` (another
status than 2); ``multi-line`` (more than the one ``error:`` line on stderr); ``created-files``
(something new or changed under the case's temp dirs or the fixtures); ``key-not-named`` (the
line does not name the key or value). The first that applies is the outcome; the others are in
the notes. A case marked ``dedup`` may also end ``ok`` by running once and saying it de-duplicated.
Writes ``DIR/bad_inputs.csv`` and ``DIR/bad_inputs.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.faults.common import (
    SUITE,
    TINY,
    Background,
    commit,
    counts,
    fixtures,
    has_traceback,
    kill_mentioning,
    py,
    read_json,
    run,
    run_dirs,
    say,
    select_cases,
    show,
    tree,
    wait_for,
    write_table,
)

HUGE = "99999999999999999999"  # more than int64 holds
YAML_TAG = "!!python/object/apply:os.system [touch {dir}/pwned]"
NON_UTF8 = os.fsdecode(b"cartpole-\xff\xfe")  # bytes that are not UTF-8 (surrogate-escaped)

MODULES = {
    "run": "harness.run",
    "sweep": "harness.sweep",
    "status": "harness.status",
    "evaluate": "harness.evaluate",
    "export": "harness.export",
    "bench": "harness.bench",
    "list": "harness.list",
    "report": "analysis.report",
}
RUN_BASE = [
    "task=cartpole-balance",
    "steps=10",
    "eval_every=10",
    "eval_episodes=1",
    "eval_at_start=false",
    "runs_dir={runs}",
    *TINY,
]
OFFLINE_BASE = ["mode=offline", f"suite={SUITE}", "dataset={ds}", *[a for a in RUN_BASE if not a.startswith("task=")]]
FINETUNE_BASE = ["mode=finetune", "checkpoint={offline}", *RUN_BASE]
BASES = {
    "run": RUN_BASE,
    "sweep": [*[a for a in RUN_BASE if not a.startswith("task=")], "task=[cartpole-balance]", "seeds=1"]
    + ["launcher=debug"],
    "status": [],
    "evaluate": ["checkpoint={ckpt}", "episodes=1", "out={out}", "threads=1"],
    "export": ["{collect}", "--suite", SUITE, "--out", "{out}/ds"],
    "bench": ["algo=tdmpc2-pi", "sizes=1", "repeats=1", "threads=1", "algo.batch_size=8"],
    "list": [],
    "report": ["{collect}", "--out", "{out}/report", "--reps", "100"],
}


@dataclass(frozen=True)
class Case:
    id: str
    program: str  # a key of MODULES
    args: tuple[str, ...]  # the bad part; replaces the base's value of the same key / flag
    needle: str  # what the error line must name (case-insensitive)
    setup: str = ""  # a function of SETUPS that prepares the case's files
    base: str = "default"  # default (the program's base), offline, finetune, none
    issue: str = ""  # the issue-26 item it checks ("" = not in the issue's list)
    dedup: bool = False  # running once with a "duplicate" note is fine too
    quick: bool = False


def C(id, program, args, needle, **kw) -> Case:  # noqa: N802,E741
    return Case(id, program, tuple(args) if isinstance(args, (list, tuple)) else (args,), needle, **kw)


CASES: list[Case] = [
    # ------------------------------------------------------------------ harness.run: ranges, types, sizes
    C("run-steps-0", "run", "steps=0", "steps"),
    C("run-steps-neg", "run", "steps=-5", "steps"),
    C("run-steps-text", "run", "steps=abc", "steps"),
    C("run-steps-huge", "run", f"steps={HUGE}", "steps", issue="8", quick=True),
    C("run-seed-huge", "run", f"seed={HUGE}", "seed", issue="8"),
    C("run-eval-every-0", "run", "eval_every=0", "eval_every", issue="1"),
    C("run-eval-episodes-0", "run", "eval_episodes=0", "eval_episodes", issue="1"),
    C("run-eval-episodes-huge", "run", f"eval_episodes={HUGE}", "eval_episodes", issue="1"),
    C("run-checkpoint-every-huge", "run", f"checkpoint_every={HUGE}", "checkpoint_every", issue="1"),
    C("run-threads-huge", "run", f"threads={HUGE}", "threads", issue="1"),
    C("run-batch-huge", "run", f"algo.batch_size={HUGE}", "batch_size", issue="1"),
    C("run-lr-nan", "run", "algo.lr=nan", "lr", issue="1"),
    C("run-lr-inf", "run", "algo.lr=inf", "lr", issue="1"),
    C("run-seed-steps-neg", "run", "algo.seed_steps=-3", "seed_steps", issue="1"),
    C("run-buffer-0", "run", "algo.buffer_size=0", "buffer_size", issue="1"),
    C("run-horizon-0", "run", "algo.planner.horizon=0", "horizon", issue="1"),
    C("run-model-size-3", "run", "algo.model.size=3", "size"),
    C("run-act-with", "run", "algo.act_with=magic", "act_with"),
    C("run-compile", "run", "algo.compile=maybe", "compile"),
    C("run-precision", "run", "algo.matmul_precision=fp8", "matmul_precision"),
    # ------------------------------------------------------------------ harness.run: names, keys, shapes
    C("run-unknown-key", "run", "stepz=10", "stepz", quick=True),
    C("run-empty-token", "run", "", "''"),
    C("run-unknown-algo-field", "run", "algo.bogus=1", "bogus"),
    C("run-nested-unknown", "run", ["algo=tdmpc2", "algo.planner={num_samples: 8, bogus: 1}"], "bogus", issue="8"),
    C("run-nested-unknown-model", "run", "algo.model={size: 1, nope: 2}", "nope", issue="8"),
    C("run-task-unknown", "run", "task=no-such-task", "no-such-task", quick=True),
    C("run-task-list", "run", "task=[cartpole-balance,reacher-easy]", "task"),
    C("run-device-cuda-text", "run", "device=cuda:abc", "device"),
    C("run-preset-unknown", "run", "preset=nope", "nope"),
    C("run-mode-unknown", "run", "mode=nope", "nope"),
    C("run-dataset-online", "run", "dataset=/tmp/x", "dataset"),
    C("run-yaml-tag", "run", f"task={YAML_TAG}", "task", issue="8", quick=True),
    C("run-yaml-binary-tag", "run", "seed=!!binary AAAA", "seed"),
    C("run-non-utf8", "run", f"task={NON_UTF8}", "task", issue="8", quick=True),
    C("run-runs-dir-proc", "run", "runs_dir=/proc/x", "runs_dir", issue="8", quick=True),
    C("run-runs-dir-dev-null", "run", "runs_dir=/dev/null/x", "runs_dir"),
    C("run-busy", "run", [], "busy", setup="busy", issue="8", quick=True),
    # ------------------------------------------------------------------ mode=offline / finetune
    C("offline-no-dataset", "run", "dataset=null", "dataset", base="offline"),
    C("offline-dataset-missing", "run", "dataset={dir}/missing", "missing", base="offline"),
    C("offline-dataset-file", "run", "dataset={file}", "dataset", base="offline"),
    C("offline-dataset-empty-dir", "run", "dataset={dir}/empty", "empty", setup="empty_dir", base="offline"),
    C("offline-garbage-chunk", "run", [], "chunk_1.pt", setup="garbage_chunk", base="offline", issue="8", quick=True),
    C("offline-corrupt-json", "run", [], "dataset.json", setup="corrupt_json", base="offline", issue="8"),
    C("offline-other-suite", "run", "suite=dmc-smoke", "suite", setup="ds", base="offline", issue="8"),
    C("offline-checkpoint-every-neg", "run", "checkpoint_every=-1", "checkpoint_every", setup="ds", base="offline"),
    C("finetune-no-checkpoint", "run", "checkpoint=null", "checkpoint", base="finetune"),
    C("finetune-checkpoint-missing", "run", "checkpoint={dir}/missing", "missing", base="finetune"),
    C("finetune-random-final", "run", "checkpoint={bad}", "final.pt", setup="random_final", base="finetune", issue="8"),
    C("finetune-truncated-final", "run", "checkpoint={bad}", "final.pt", setup="truncated_final", base="finetune"),
    C("finetune-checkpoint-proc", "run", "checkpoint=/proc/self", "checkpoint", base="finetune"),
    C("finetune-source-unknown", "run", "source_task=nope", "nope", base="finetune"),
    C("finetune-freeze-unknown", "run", "finetune.freeze=[brain]", "brain", base="finetune"),
    C("finetune-freeze-dup", "run", "finetune.freeze=[encoder,encoder]", "encoder", base="finetune", dedup=True),
    # ------------------------------------------------------------------ harness.sweep
    C("sweep-seeds-huge", "sweep", f"seeds={HUGE}", "seeds", issue="1"),
    C("sweep-seed-huge", "sweep", ["seeds=null", f"seed=[{HUGE}]"], "seed", issue="8"),
    C("sweep-steps-huge", "sweep", f"steps={HUGE}", "steps", issue="8"),
    C("sweep-seed-dup", "sweep", ["seeds=null", "seed=[1,1]"], "seed", issue="7", dedup=True, quick=True),
    C("sweep-task-dup", "sweep", "task=[cartpole-balance,cartpole-balance]", "task", issue="7", dedup=True),
    C("sweep-algo-dup", "sweep", "algo=[tdmpc2-pi,tdmpc2-pi]", "algo", issue="7", dedup=True),
    C("sweep-algo-empty", "sweep", "algo=[]", "algo", issue="8", quick=True),
    C("sweep-task-empty", "sweep", "task=[]", "task", issue="8"),
    C("sweep-seed-empty", "sweep", ["seeds=null", "seed=[]"], "seed"),
    C("sweep-size-list-bad", "sweep", "algo.model.size=[1,0]", "size"),
    C("sweep-max-parallel-huge", "sweep", f"max_parallel={HUGE}", "max_parallel", issue="1"),
    C("sweep-threads-per-run-neg", "sweep", "threads_per_run=-1", "threads_per_run", issue="1"),
    C("sweep-runs-per-job-0", "sweep", "runs_per_job=0", "runs_per_job", issue="1"),
    C("sweep-retry-failed-maybe", "sweep", "retry_failed=maybe", "retry_failed"),
    C("sweep-slurm-bogus", "sweep", "slurm.bogus=1", "bogus"),
    C("sweep-slurm-timeout-neg", "sweep", "slurm.timeout_min=-1", "timeout_min", issue="1"),
    C("sweep-nested-unknown", "sweep", ["algo=tdmpc2", "algo.planner={num_samples: 8, bogus: 1}"], "bogus", issue="8"),
    C("sweep-yaml-tag", "sweep", f"task=[{YAML_TAG}]", "task", issue="8"),
    C("sweep-non-utf8", "sweep", f"task=[{NON_UTF8}]", "task", issue="8"),
    C("sweep-runs-dir-proc", "sweep", "runs_dir=/proc/x", "runs_dir", issue="8"),
    C("sweep-offline-garbage", "sweep", "dataset={ds}", "chunk_1.pt", setup="garbage_chunk", base="offline_sweep"),
    # ------------------------------------------------------------------ harness.status
    C("status-nothing", "status", ["{dir}/nothing"], "nothing", quick=True),
    C("status-file", "status", ["{file}"], "file"),
    C("status-proc", "status", ["/proc/x"], "/proc/x"),
    C("status-interval-0", "status", ["{runs}", "--wait", "--interval", "0"], "interval", setup="manifest"),
    C("status-interval-neg", "status", ["{runs}", "--wait", "--interval", "-1"], "interval", setup="manifest"),
    C("status-interval-text", "status", ["{runs}", "--interval", "abc"], "interval", setup="manifest"),
    C("status-timeout-neg", "status", ["{runs}", "--wait", "--timeout", "-5"], "timeout", setup="manifest"),
    C("status-bogus-flag", "status", ["{runs}", "--bogus"], "bogus", setup="manifest"),
    C("status-corrupt-manifest", "status", ["{runs}"], "manifest.json", setup="corrupt_manifest"),
    # ------------------------------------------------------------------ harness.evaluate
    C("evaluate-episodes-0", "evaluate", "episodes=0", "episodes", quick=True),
    C("evaluate-episodes-huge", "evaluate", f"episodes={HUGE}", "episodes", issue="1"),
    C("evaluate-seed-huge", "evaluate", f"seed={HUGE}", "seed", issue="1"),
    C("evaluate-threads-neg", "evaluate", "threads=-1", "threads"),
    C("evaluate-out-proc", "evaluate", "out=/proc/x", "out", issue="8", quick=True),
    C("evaluate-out-file", "evaluate", "out={file}", "out"),
    C("evaluate-task-unknown", "evaluate", "task=nope", "nope"),
    C("evaluate-suite-unknown", "evaluate", "suite=nope", "nope"),
    C("evaluate-bogus-key", "evaluate", "bogus=1", "bogus"),
    C("evaluate-device", "evaluate", "device=tpu", "tpu"),
    C("evaluate-checkpoint-missing", "evaluate", "checkpoint={dir}/missing", "missing"),
    C("evaluate-checkpoint-text", "evaluate", "checkpoint={file}", "checkpoint"),
    C("evaluate-checkpoint-empty-list", "evaluate", "checkpoint=[]", "checkpoint"),
    C("evaluate-checkpoint-dup", "evaluate", "checkpoint=['{ckpt}','{ckpt}']", "checkpoint", dedup=True),
    C("evaluate-random-final", "evaluate", "checkpoint={bad}", "final.pt", setup="random_final", issue="8"),
    C("evaluate-non-utf8", "evaluate", f"task={NON_UTF8}", "task", issue="8"),
    # ------------------------------------------------------------------ harness.export
    C("export-chunk-0", "export", ["--episodes-per-chunk", "0"], "episodes-per-chunk", issue="1", quick=True),
    C("export-chunk-neg", "export", ["--episodes-per-chunk", "-1"], "episodes-per-chunk", issue="1"),
    C("export-chunk-huge", "export", ["--episodes-per-chunk", HUGE], "episodes-per-chunk", issue="1"),
    C("export-chunk-text", "export", ["--episodes-per-chunk", "abc"], "episodes-per-chunk"),
    C("export-suite-unknown", "export", ["--suite", "nope"], "nope"),
    C("export-suite-other", "export", ["--suite", "metaworld-smoke"], "metaworld-smoke"),
    C("export-out-proc", "export", ["--out", "/proc/x"], "/proc/x", issue="8", quick=True),
    C("export-out-file", "export", ["--out", "{file}"], "file"),
    C("export-out-under-file", "export", ["--out", "{file}/sub"], "file"),
    C("export-out-nonempty", "export", ["--out", "{dir}/full"], "full", setup="nonempty_dir"),
    C(
        "export-runs-missing",
        "export",
        ["{dir}/missing", "--suite", SUITE, "--out", "{out}/ds"],
        "missing",
        base="none",
    ),
    C(
        "export-runs-empty",
        "export",
        ["{dir}/empty", "--suite", SUITE, "--out", "{out}/ds"],
        "empty",
        setup="empty_dir",
        base="none",
    ),
    C("export-runs-file", "export", ["{file}", "--suite", SUITE, "--out", "{out}/ds"], "file", base="none"),
    C(
        "export-runs-dup",
        "export",
        ["{collect}", "{collect}", "--suite", SUITE, "--out", "{out}/ds"],
        "collect",
        base="none",
        dedup=True,
    ),
    # ------------------------------------------------------------------ harness.bench
    C("bench-sizes-empty", "bench", "sizes=[]", "sizes", quick=True),
    C("bench-sizes-3", "bench", "sizes=3", "3"),
    C("bench-repeats-0", "bench", "repeats=0", "repeats", issue="1"),
    C("bench-repeats-huge", "bench", f"repeats={HUGE}", "repeats", issue="1"),
    C("bench-obs-dim-0", "bench", "obs_dim=0", "obs_dim", issue="1"),
    C("bench-action-dim-neg", "bench", "action_dim=-1", "action_dim", issue="1"),
    C("bench-threads-neg", "bench", "threads=-1", "threads", issue="1"),
    C("bench-algo-unknown", "bench", "algo=nope", "nope"),
    C("bench-algo-empty", "bench", "algo=[]", "algo"),
    C("bench-device", "bench", "device=tpu", "tpu"),
    C("bench-bogus", "bench", "bogus=1", "bogus"),
    C("bench-flag-text", "bench", ["--obs-dim", "abc"], "obs"),
    C("bench-offline-suite", "bench", ["mode=offline", "suite=nope"], "nope"),
    C("bench-preset", "bench", "preset=nope", "nope"),
    # ------------------------------------------------------------------ harness.list
    C("list-unknown-command", "list", ["nope"], "nope", quick=True),
    C("list-tasks-unknown-suite", "list", ["tasks", "nope"], "nope"),
    C("list-no-command", "list", [], "usage"),
    C("list-too-many", "list", ["tasks", SUITE, "extra"], "extra"),
    C("list-non-utf8", "list", ["tasks", NON_UTF8], "cartpole"),
    # ------------------------------------------------------------------ analysis.report
    C("report-reps-0", "report", ["--reps", "0"], "reps", quick=True),
    C("report-reps-huge", "report", ["--reps", HUGE], "reps", issue="1"),
    C("report-step-neg", "report", ["--step", "-1"], "step", issue="1"),
    C("report-last-k-0", "report", ["--last-k", "0"], "last-k"),
    C("report-seed-neg", "report", ["--seed", "-1"], "seed", issue="1"),
    C("report-seed-huge", "report", ["--seed", HUGE], "seed", issue="1"),
    C("report-out-proc", "report", ["--out", "/proc/x"], "/proc/x", issue="8"),
    C("report-out-file", "report", ["--out", "{file}"], "file"),
    C("report-runs-missing", "report", ["{dir}/missing", "--out", "{out}/report"], "missing", base="none"),
    C("report-suite-unknown", "report", ["--suite", "nope"], "nope"),
    C("report-pair-one", "report", ["--pair", "x"], "pair"),
    C("report-reps-text", "report", ["--reps", "abc"], "reps"),
    C("report-config-corrupt", "report", ["--config", "{file}"], "config"),
]


# ----------------------------------------------------------------------------- setups
def _copy_dataset(fx, case_dir: Path) -> Path:
    ds = case_dir / "ds"
    shutil.copytree(fx.dataset, ds)
    return ds


#: what a case's ``setup`` may name (each prepares files in the case's temp dir)
SETUPS = ("ds", "garbage_chunk", "corrupt_json", "empty_dir", "nonempty_dir", "random_final", "truncated_final")
SETUPS += ("manifest", "corrupt_manifest", "busy")


def _setup(name: str, fx, case_dir: Path) -> dict:
    extra: dict = {}
    if name in ("ds", "garbage_chunk", "corrupt_json"):
        ds = _copy_dataset(fx, case_dir)
        extra["ds"] = ds
        if name == "garbage_chunk":
            (ds / "chunk_1.pt").write_bytes(os.urandom(4096))
        if name == "corrupt_json":
            (ds / "dataset.json").write_text('{"suite": "mt-smoke", "tasks": [')
    elif name == "empty_dir":
        (case_dir / "empty").mkdir()
    elif name == "nonempty_dir":
        (case_dir / "full").mkdir()
        (case_dir / "full" / "something").write_text("x\n")
    elif name in ("random_final", "truncated_final"):
        bad = case_dir / "bad-run"
        bad.mkdir()
        shutil.copy2(fx.offline / "config.yaml", bad / "config.yaml")
        data = (fx.offline / "final.pt").read_bytes()
        (bad / "final.pt").write_bytes(os.urandom(len(data)) if name == "random_final" else data[: len(data) // 2])
        extra["bad"] = bad
    elif name in ("manifest", "corrupt_manifest"):
        sweep = case_dir / "runs" / "sweeps" / "s-1"
        sweep.mkdir(parents=True)
        (sweep / "manifest.json").write_text('{"runs": [], "launches": []}' if name == "manifest" else '{"runs": [')
    elif name == "busy":
        args = [a.replace("{runs}", str(case_dir / "runs")) for a in RUN_BASE if not a.startswith("steps=")]
        bg = Background(py("harness.run", *args, "steps=100000"), case_dir.parent / f"{case_dir.name}.busy.log")
        ok = wait_for(
            lambda: any(read_json(p / "status.json").get("state") == "running" for p in run_dirs(case_dir / "runs")),
            120,
        )
        extra["_background"] = bg
        extra["_busy_ok"] = ok
    elif name:
        raise ValueError(f"unknown setup {name!r}")
    return extra


# ----------------------------------------------------------------------------- one case
ERROR_LINE = re.compile(r"^(\S+: )?error: ")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
DEDUP_SAID = re.compile(r"duplicate|twice|more than once|\[dup\]", re.I)


def _key(arg: str) -> str | None:
    if arg.startswith("--"):
        return arg.split("=")[0]
    return arg.split("=", 1)[0] if "=" in arg else None


def command(case: Case, values: dict) -> list[str]:
    base = {
        "default": BASES[case.program],
        "offline": OFFLINE_BASE,
        "finetune": FINETUNE_BASE,
        "offline_sweep": [*OFFLINE_BASE, "seeds=1", "launcher=debug"],
        "none": [],
    }[case.base]
    own = {_key(a) for a in case.args if _key(a)}
    args: list[str] = []
    skip = False
    for a in base:  # the case's value replaces the base's (key=value, or --flag value)
        if skip:
            skip = False
            continue
        k = _key(a)
        if k in own:
            skip = a.startswith("--") and "=" not in a
            continue
        args.append(a)
    args += case.args
    fmt = {k: str(v) for k, v in values.items() if not k.startswith("_")}
    fill = lambda a: PLACEHOLDER.sub(lambda m: fmt.get(m.group(1), m.group(0)), a)  # noqa: E731  ({x: 1} stays)
    return py(MODULES[case.program], *(fill(a) for a in args))


def classify(case: Case, rc: int | None, out: str, err: str, created: list[str]) -> tuple[str, list[str]]:
    flags = []
    lines = [line for line in err.splitlines() if line.strip()]
    if rc is None:
        flags.append("hang")
    if has_traceback(out + err):
        flags.append("traceback")
    if rc == 0:
        flags.append("accepted")
    elif rc is not None and rc != 2:
        flags.append("wrong-exit")
    if rc not in (0, None) and (len(lines) != 1 or not ERROR_LINE.match(lines[0])):
        flags.append("multi-line")
    if created:
        flags.append("created-files")
    if rc not in (0, None) and case.needle.lower() not in err.lower():
        flags.append("key-not-named")
    if case.dedup and rc == 0 and DEDUP_SAID.search(out + err) and "traceback" not in flags:
        return "ok", ["de-duplicated and said so", *[f for f in flags if f not in ("accepted", "created-files")]]
    order = ["hang", "traceback", "accepted", "wrong-exit", "multi-line", "created-files", "key-not-named"]
    for outcome in order:
        if outcome in flags:
            return outcome, [f for f in flags if f != outcome]
    return "ok", []


def run_case(case: Case, fx, work: Path, timeout: float, keep: bool = False) -> dict:
    case_dir = Path(tempfile.mkdtemp(prefix=f"{case.id}-", dir=work))
    (case_dir / "file").write_text("a plain file, not a directory\n")
    values = {
        "dir": case_dir,
        "runs": case_dir / "runs",
        "out": case_dir / "out",
        "file": case_dir / "file",
        "collect": fx.collect,
        "ckpt": fx.online_run,
        "offline": fx.offline,
        "ds": fx.dataset,
    }
    extra = _setup(case.setup, fx, case_dir)
    values.update(extra)
    watched = [case_dir, fx.collect, fx.dataset, fx.offline]
    before = tree(*watched)
    cmd = command(case, values)
    say(f"[{case.id}] {show(cmd)}")
    try:
        res = run(cmd, timeout=timeout)
    finally:
        bg = extra.get("_background")
        if bg is not None:
            bg.stop()
            bg.log.unlink(missing_ok=True)
        kill_mentioning(str(case_dir))
    after = tree(*watched)
    busy_run = None
    if bg is not None:  # the busy run itself keeps writing: only what the second launch made counts
        busy_run = {str(p) for p in run_dirs(case_dir / "runs")}
    created = []
    for path, stamp in after.items():
        if path.startswith(str(case_dir) + "/") and Path(path).name.endswith(".busy.log"):
            continue
        if busy_run and any(path.startswith(r) for r in busy_run) and "attempts" not in path:
            continue
        if before.get(path) != stamp and not (path in before and Path(path).is_dir()):
            created.append(path.replace(str(case_dir), "{dir}"))
    if (case_dir / "pwned").exists():
        created.append("{dir}/pwned (the YAML tag was executed!)")
    outcome, flags = classify(case, res.rc, res.out, res.err, created)
    if case.setup == "busy" and not extra.get("_busy_ok"):
        flags.append("the busy run did not start in time")
    err_lines = [line for line in res.err.splitlines() if line.strip()]
    note = "; ".join(flags)
    if created:
        note += ("; " if note else "") + "created: " + ", ".join(sorted(created)[:4])
    row = {
        "id": case.id,
        "program": case.program,
        "issue_item": case.issue or "-",
        "outcome": outcome,
        "exit": "timeout" if res.rc is None else res.rc,
        "stderr_lines": len(err_lines),
        "first_error_line": next((ln for ln in err_lines if "error" in ln.lower()), err_lines[-1] if err_lines else "")[
            :300
        ],
        "note": note,
        "seconds": f"{res.seconds:.1f}",
        "command": show(cmd).replace(str(case_dir), "$TMP"),
    }
    say(f"    -> {outcome} (exit {row['exit']}, {row['stderr_lines']} stderr lines) {note}")
    if not keep:
        shutil.rmtree(case_dir, ignore_errors=True)
    return row


COLUMNS = ["id", "program", "issue_item", "outcome", "exit", "stderr_lines", "first_error_line", "note", "seconds"]
COLUMNS += ["command"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.faults.bad_inputs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for bad_inputs.csv and bad_inputs.md")
    parser.add_argument("--quick", action="store_true", help="only the cases marked quick (a short try)")
    parser.add_argument("--only", nargs="+", default=[], help="case ids or id prefixes")
    parser.add_argument("--work", type=Path, default=None, help="temp and fixture directory (default: a new one)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as a hang")
    parser.add_argument("--keep", action="store_true", help="keep each case's temp directory (default: removed)")
    parser.add_argument("--list", action="store_true", help="print the case ids and commands, run nothing")
    args = parser.parse_args(argv)
    # started with `&` from a script, SIGINT is ignored, and the programs would inherit that: their Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cases = select_cases(CASES, args.quick, args.only)
    if args.list:
        for c in cases:
            print(c.id, c.program, " ".join(c.args))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="bad-inputs-"))
    work.mkdir(parents=True, exist_ok=True)
    fx = fixtures(work / "fixtures")
    t0 = time.time()
    (work / "cases").mkdir(exist_ok=True)
    rows = []
    for c in cases:
        try:
            rows.append(run_case(c, fx, work / "cases", args.timeout, args.keep))
        except Exception as exc:  # the campaign's own trouble: recorded, the campaign goes on
            say(f"    -> ERROR (the campaign's): {type(exc).__name__}: {exc}")
            rows.append({"id": c.id, "program": c.program, "outcome": "ERROR", "note": f"{type(exc).__name__}: {exc}"})
        write_table(args.out, "bad_inputs", "Bad inputs (so far)", COLUMNS, rows)  # a partial table if stopped
    summary = counts([r["outcome"] for r in rows])
    failing = [r for r in rows if r["outcome"] != "ok"]
    notes = (
        f"Commit {commit()}; {len(rows)} cases in {time.time() - t0:.0f} s; "
        f"command: `python -m tools.faults.bad_inputs --out {args.out}{' --quick' if args.quick else ''}`.\n\n"
        f"Outcomes: {summary}.\n\nNot ok: {', '.join(r['id'] for r in failing) or 'none'}."
    )
    write_table(args.out, "bad_inputs", "Bad inputs", COLUMNS, rows, notes)
    say(f"\n{len(rows)} cases: {summary}")
    say(f"tables: {args.out / 'bad_inputs.md'}, {args.out / 'bad_inputs.csv'}; work dir {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
