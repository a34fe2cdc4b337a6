"""Where runs execute: submitit's debug (in this process), local (subprocesses) and Slurm executors.

Every launcher runs the same job function, :class:`RunJob`: a ``submitit.helpers.Checkpointable``
that calls ``harness.run.execute`` for each run of its group. A run resumes from its
``checkpoint.pt`` when it has one, so a requeued job simply runs the same group again: finished
runs are skipped, interrupted ones continue where they stopped.

Stopping on a signal. submitit asks Slurm for SIGUSR2 ``signal_delay_s`` seconds before the time
limit (Slurm sends the same on preemption when so configured) and its own handler would
checkpoint-and-requeue at once, in the middle of a gradient step. RunJob replaces that handler by
one that only requests a stop (harness.stop.request_stop); the training loop saves a
checkpoint at its next episode end and raises ``Preempted``, and RunJob then calls submitit's
handler, which requeues the job (``scontrol requeue``; exit code 144 for the local executor).
If no episode end comes within ``grace_s`` seconds, a watchdog requeues anyway and the run later
resumes from its previous periodic checkpoint (``checkpoint_every``): exact, just less recent.

Packing (``slurm.runs_per_job=K``): the K runs of one job run at once in K child processes
(``python -m harness.launchers worker``), e.g. to share one GPU between small runs; the signal is
forwarded to each child.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import submitit
from omegaconf import OmegaConf

# Only light imports at module level: unpickling RunJob in a Slurm job must not load torch, so
# that submitit's signal handler is installed within a second of the job's start (a time-limit
# signal that arrives earlier would kill the job instead of requeueing it).
from harness.stop import Preempted, clear_stop, request_stop

#: exit codes of a packed run's worker process
EXIT_DONE, EXIT_FAILED, EXIT_PREEMPTED, EXIT_BUSY = 0, 1, 3, 4
#: a job waits this long for an earlier process of the same run (being killed) to let go of it
LOCK_WAIT_S = 120.0


@dataclass
class SlurmConfig:
    """``slurm.<field>=value`` on the sweep command line (``slurm_<field>`` is accepted too)."""

    partition: Optional[str] = None
    timeout_min: int = 24 * 60  # per job; a run longer than that is requeued and resumed
    gpus_per_task: int = 0
    cpus_per_task: int = 0  # 0: the cluster's default
    mem_gb: float = 0  # 0: the cluster's default
    account: Optional[str] = None
    qos: Optional[str] = None
    constraint: Optional[str] = None
    exclude: Optional[str] = None
    job_name: str = "mbdpo"
    additional_parameters: dict[str, Any] = field(
        default_factory=dict
    )  # {"mail-type": "END"} -> #SBATCH --mail-type=END
    sbatch_lines: list[str] = field(default_factory=list)  # extra sbatch options: ["--reservation=x", "--exclusive"]
    setup: list[str] = field(default_factory=list)  # shell lines run before the job, e.g. ["module load cuda/12.4"]
    array_parallelism: int = 64  # at most this many tasks of an array run at once (per array)
    runs_per_job: int = 1  # runs packed into one job (run at once, e.g. on one GPU)
    max_array_size: int = 0  # 0: the cluster's MaxArraySize; larger sweeps are split into several arrays
    signal_delay_s: int = 120  # SIGUSR2 this long before the time limit; the run checkpoints at its next episode end
    max_requeues: int = 50  # time-outs after which a job is no longer requeued


SLURM_KEYS = [f.name for f in dataclasses.fields(SlurmConfig)]
#: the largest value of each numeric slurm.<key> (sbatch's own limits are 32-bit; a year of minutes)
SLURM_MAX = {
    "timeout_min": 366 * 24 * 60,
    "gpus_per_task": 1024,
    "cpus_per_task": 1 << 16,
    "mem_gb": 1 << 20,
    "array_parallelism": 2**31 - 1,
    "runs_per_job": 1024,
    "max_array_size": 2**31 - 1,
    "signal_delay_s": 366 * 24 * 3600,
    "max_requeues": 2**31 - 1,
}


def build_slurm_config(overrides: dict[str, Any]) -> SlurmConfig:
    """``{"partition": "gpu", ...}`` (already without the ``slurm.`` prefix) -> SlurmConfig."""
    from harness.cli import number_problem
    from harness.config import ConfigError, merge_overrides

    cfg = OmegaConf.to_object(merge_overrides(OmegaConf.structured(SlurmConfig), overrides, "slurm."))
    for key in ("timeout_min", "array_parallelism", "runs_per_job", "max_requeues"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"slurm.{key} must be at least 1")
    for key in ("gpus_per_task", "cpus_per_task", "mem_gb", "max_array_size", "signal_delay_s"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"slurm.{key} must not be negative")
    for key, high in SLURM_MAX.items():  # and what sbatch can take (finite: mem_gb=nan or inf too)
        problem = number_problem(getattr(cfg, key), 0, high, whole=key != "mem_gb")
        if problem:
            raise ConfigError(f"bad value {getattr(cfg, key)!r} for slurm.{key}: {problem}")
    for line in cfg.sbatch_lines:
        if not _sbatch_option(line).startswith("--"):
            raise ConfigError(
                f"bad slurm.sbatch_lines entry {line!r}; expected an sbatch option such as --reservation=name"
            )
    return cfg


def _sbatch_option(line: str) -> str:
    opt = str(line).strip()
    return opt[len("#SBATCH") :].strip() if opt.startswith("#SBATCH") else opt


def _mem(gb: float) -> str | None:
    if not gb:
        return None
    return f"{int(gb)}G" if float(gb).is_integer() else f"{int(round(gb * 1024))}M"


def sbatch_parameters(cfg: SlurmConfig) -> dict[str, Any]:
    """SlurmExecutor.update_parameters(...) arguments for ``cfg``."""
    extra = dict(cfg.additional_parameters)
    for line in cfg.sbatch_lines:
        key, _, value = _sbatch_option(line).lstrip("-").partition("=")
        extra[key] = value if value else True
    params: dict[str, Any] = {
        "job_name": cfg.job_name,
        "time": int(cfg.timeout_min),
        "signal_delay_s": int(cfg.signal_delay_s),
        "array_parallelism": int(cfg.array_parallelism),
    }
    optional = {
        "partition": cfg.partition,
        "account": cfg.account,
        "qos": cfg.qos,
        "constraint": cfg.constraint,
        "exclude": cfg.exclude,
        "gpus_per_task": cfg.gpus_per_task or None,
        "cpus_per_task": cfg.cpus_per_task or None,
        "mem": _mem(cfg.mem_gb),
        "setup": list(cfg.setup) or None,
        "additional_parameters": extra or None,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    return params


def cluster_max_array_size(default: int = 1001) -> int:
    """The cluster's MaxArraySize (an array's task indices must be below it)."""
    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return default
    for line in out.splitlines():
        if line.strip().startswith("MaxArraySize"):
            try:
                return int(line.split("=", 1)[1].strip())
            except ValueError:
                return default
    return default


def slurm_available() -> bool:
    return bool(shutil.which("sbatch")) and bool(shutil.which("srun"))


# --- the job function --------------------------------------------------------------------------
def _submitit_handler(handler: Any) -> bool:
    from submitit.core.job_environment import SignalHandler

    return isinstance(getattr(handler, "__self__", None), SignalHandler)


def _preempt_signal() -> signal.Signals:
    """The signal submitit asks Slurm (and its local controller) to send before a time limit:
    ``SIG`` + ``JobEnvironment.USR_SIG`` (USR2 unless $SUBMITIT_PREEMPT_SIGNAL says otherwise)."""
    from submitit.core.job_environment import JobEnvironment

    return signal.Signals["SIG" + JobEnvironment.USR_SIG]


class RunJob(submitit.helpers.Checkpointable):
    """``RunJob(parallel, grace_s)(runs)``: execute each run (a dict of overrides) of ``runs``.

    Returns one ``{"state", "path", ...}`` per run; raises if any run failed (after trying the
    others), so that a failed run never looks like a finished job. ``checkpoint()`` (inherited)
    resubmits the same call: the runs' own checkpoints carry their state."""

    def __init__(self, parallel: bool = False, grace_s: float = 90.0) -> None:
        self.parallel = parallel
        self.grace_s = grace_s

    def __call__(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        clear_stop()
        sig = _preempt_signal()
        submitit_handler = signal.getsignal(sig)
        children: list[subprocess.Popen] = []
        watchdog: list[threading.Timer] = []
        user_stop: list[str] = []  # local sweep: Ctrl-C / SIGTERM forwarded by the sweep (no requeue)
        local = os.environ.get("SUBMITIT_EXECUTOR") == "local"
        old_user_handlers = {}

        def on_user_signal(signum: int, frame: Any) -> None:
            if user_stop:  # the second one: stop at once (status.json: interrupted)
                raise KeyboardInterrupt
            user_stop.append(signal.Signals(signum).name)
            request_stop(f"{signal.Signals(signum).name} received")
            for child in children:
                if child.poll() is None:
                    child.send_signal(signum)

        if local:
            for s in (signal.SIGINT, signal.SIGTERM):
                old_user_handlers[s] = signal.signal(s, on_user_signal)

        def on_signal(signum: int, frame: Any) -> None:
            request_stop(f"{signal.Signals(signum).name} received")
            for child in children:
                if child.poll() is None:
                    child.send_signal(signum)
            if _submitit_handler(submitit_handler) and not watchdog:
                timer = threading.Timer(self.grace_s, self._requeue_from_thread, args=(submitit_handler, signum))
                timer.daemon = True
                watchdog.append(timer)
                timer.start()

        signal.signal(sig, on_signal)
        try:
            if self.parallel and len(runs) > 1:
                results, preempted, failures = self._run_children(runs, children)
            else:
                results, preempted, failures = self._run_in_process(runs)
        finally:
            for timer in watchdog:
                timer.cancel()
            signal.signal(sig, submitit_handler)
            for s, h in old_user_handlers.items():
                signal.signal(s, h)
        if preempted and user_stop:
            print(f"[job] stopped by {user_stop[0]} ({len(preempted)} run(s) checkpointed)", flush=True)
            raise preempted[0] if isinstance(preempted[0], BaseException) else Preempted(-1, str(preempted[0]))
        if preempted:
            print(f"[job] stopped on request ({len(preempted)} run(s) checkpointed); requeueing", flush=True)
            if _submitit_handler(submitit_handler):
                submitit_handler(sig, None)  # submitit: checkpoint() -> requeue -> exit; does not return
            raise preempted[0] if isinstance(preempted[0], BaseException) else Preempted(-1, str(preempted[0]))
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(runs)} run(s) failed: " + "; ".join(failures))
        return results

    def _run_in_process(self, runs: list[dict[str, Any]]) -> tuple[list, list, list[str]]:
        from harness.run import execute
        from harness.rundir import RunBusyError

        results, preempted, failures = [], [], []
        for ov in runs:
            try:
                results.append(execute(ov, lock_wait_s=LOCK_WAIT_S))
            except Preempted as exc:
                preempted.append(exc)
                break  # the rest of the group runs after the requeue
            except RunBusyError as exc:
                print(f"[job] skipped: {exc}", flush=True)
                results.append({"state": "busy", "error": str(exc)})
            except Exception as exc:  # recorded in the run's status.json by execute()
                traceback.print_exc()
                failures.append(f"{_label(ov)}: {type(exc).__name__}: {exc}")
                results.append({"state": "failed", "error": f"{type(exc).__name__}: {exc}"})
        return results, preempted, failures

    def _run_children(
        self, runs: list[dict[str, Any]], children: list[subprocess.Popen]
    ) -> tuple[list, list, list[str]]:
        for ov in runs:
            children.append(subprocess.Popen([sys.executable, "-m", "harness.launchers", "worker", json.dumps(ov)]))
        codes = [child.wait() for child in children]
        results, preempted, failures = [], [], []
        for ov, code in zip(runs, codes):
            if code == EXIT_DONE:
                results.append({"state": "done", "overrides": ov})
            elif code == EXIT_PREEMPTED:
                preempted.append(f"{_label(ov)} checkpointed")
                results.append({"state": "interrupted", "overrides": ov})
            elif code == EXIT_BUSY:
                results.append({"state": "busy", "overrides": ov})
            else:
                failures.append(f"{_label(ov)}: worker exit code {code} (traceback in its status.json)")
                results.append({"state": "failed", "overrides": ov})
        return results, preempted, failures

    def _requeue_from_thread(self, handler: Any, signum: int) -> None:
        """Watchdog: no episode end within grace_s of the signal; requeue now (from this thread)."""
        print(
            f"[job] no episode end within {self.grace_s:.0f}s of the stop signal; requeueing without a new "
            "checkpoint (the run resumes from its previous one)",
            flush=True,
        )
        code = 1
        try:
            handler(signum, None)
        except SystemExit as exc:  # submitit ends the job with sys.exit: in a thread, exit the process
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        sys.stdout.flush()
        os._exit(code)


def _label(ov: dict[str, Any]) -> str:
    return f"{ov.get('task')} {ov.get('algo')} seed {ov.get('seed')}"


def worker_main(argv: list[str]) -> int:
    """``python -m harness.launchers worker '<json overrides>'``: one packed run in its own process."""
    from harness.run import execute
    from harness.rundir import RunBusyError

    overrides = json.loads(argv[0])
    signal.signal(_preempt_signal(), lambda s, f: request_stop(f"{signal.Signals(s).name} received"))
    signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("SUBMITIT_EXECUTOR") == "slurm" else signal.SIG_DFL)
    try:
        execute(overrides, lock_wait_s=LOCK_WAIT_S)
    except Preempted:
        return EXIT_PREEMPTED
    except RunBusyError as exc:
        print(f"[worker] skipped: {exc}", flush=True)
        return EXIT_BUSY
    except Exception:
        traceback.print_exc()
        return EXIT_FAILED
    return EXIT_DONE


# --- executors -----------------------------------------------------------------------------------
def make_executor(
    launcher: str,
    folder: Path,
    slurm: SlurmConfig | None = None,
    local_timeout_min: int = 7 * 24 * 60,
    signal_delay_s: int = 120,
) -> submitit.Executor:
    from harness.config import ConfigError

    if launcher == "debug":
        return submitit.DebugExecutor(folder=folder)
    if launcher == "local":
        _controllers_in_own_session()
        ex = submitit.LocalExecutor(folder=folder / "%j", max_num_timeout=1000)
        ex.update_parameters(timeout_min=local_timeout_min, signal_delay_s=signal_delay_s)
        return ex
    if launcher == "slurm":
        assert slurm is not None
        if not slurm_available():
            raise ConfigError("launcher=slurm: sbatch/srun not found on this machine (is this a Slurm login node?)")
        ex = submitit.SlurmExecutor(folder=folder / "%j", max_num_timeout=slurm.max_requeues)
        ex.update_parameters(**sbatch_parameters(slurm))
        return ex
    raise ConfigError(f"unknown launcher {launcher!r}")


#: the controller process of each local job this process started, by job id (its pid)
_CONTROLLERS: dict[str, subprocess.Popen] = {}


def local_controller(job: submitit.Job) -> subprocess.Popen | None:
    """The controller process of a local job started by this process (None for any other job):
    SIGTERM to it reaches the job's worker, which checkpoints at its next episode end."""
    return _CONTROLLERS.get(str(job.job_id))


def _controllers_in_own_session() -> None:
    """Start submitit's local job controllers in their own session. In the terminal's process group
    a Ctrl-C reached each controller too, which then killed its workers within a second (SIGINT,
    then SIGKILL) and lost everything since their last checkpoint. Now only the sweep gets it and
    forwards SIGTERM to the controllers, which pass it on to the workers: each checkpoints at its
    next episode end (harness.sweep)."""
    import submitit.local.local as local

    local.start_controller = _start_controller


def _start_controller(
    folder: Path,
    command: str,
    tasks_per_node: int = 1,
    cuda_devices: str = "",
    timeout_min: float = 5.0,
    signal_delay_s: int = 30,
    stderr_to_stdout: bool = False,
    setup: Any = (),
) -> subprocess.Popen:
    """submitit 1.5's ``submitit.local.local.start_controller`` (same arguments, same environment
    for the controller), except: the controller runs in a new session, it is started through
    :func:`controller_main` (submitit's public ``Controller``), and this process keeps it
    (:func:`local_controller`)."""
    import shlex

    env = dict(os.environ)
    env.update(
        SUBMITIT_LOCAL_NTASKS=str(tasks_per_node),
        SUBMITIT_LOCAL_COMMAND=command,
        SUBMITIT_LOCAL_TIMEOUT_S=str(int(60 * timeout_min)),
        SUBMITIT_LOCAL_SIGNAL_DELAY_S=str(int(signal_delay_s)),
        SUBMITIT_LOCAL_NODEID="0",
        SUBMITIT_LOCAL_JOB_NUM_NODES="1",
        SUBMITIT_STDERR_TO_STDOUT="1" if stderr_to_stdout else "",
        SUBMITIT_EXECUTOR="local",
        CUDA_VISIBLE_DEVICES=cuda_devices,
        SUBMITIT_LOCAL_WITH_SHELL="1" if setup else "",
    )
    cmd: Any = [sys.executable, "-m", "harness.launchers", "controller", str(folder)]
    if setup:
        cmd = " && ".join(list(setup) + [shlex.join(cmd)])
    proc = subprocess.Popen(cmd, shell=bool(setup), env=env, start_new_session=True)
    _CONTROLLERS[str(proc.pid)] = proc
    return proc


def controller_main(argv: list[str]) -> int:
    """``python -m harness.launchers controller <folder>``: a local job's controller (what
    ``python -m submitit.local._local <folder>`` runs), from the environment set above."""
    from submitit.local.local import Controller

    Controller(Path(argv[0])).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"] and len(argv) == 2:
        return worker_main(argv[1:])
    if argv[:1] == ["controller"] and len(argv) == 2:
        return controller_main(argv[1:])
    print(
        "usage: python -m harness.launchers worker '<json overrides>'  (internal: one packed run)\n"
        "       python -m harness.launchers controller <folder>  (internal: a local job's controller)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
