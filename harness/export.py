"""Export runs' replay buffers as a TD-MPC2-layout dataset for offline pretraining.

    python -m harness.export RUNS... --suite S --out DATASET_DIR [--episodes-per-chunk N]

RUNS: run directories, or directories holding them (e.g. runs/ or a sweep's). The work is done by
:func:`harness.data.dataset_writer.export_runs`; this module is its command line. A refused export
(no runs, a run whose task is not in S, an output directory that is not empty or cannot be created,
``--episodes-per-chunk`` not a whole number >= 1) prints one ``error:`` line, writes nothing and exits
with status 2. A failed write (a full disk: ``no space left on device: PATH``) is one line too, exit
status 1, and leaves nothing behind; a rerun removes what an export killed mid-write left.
"""

from __future__ import annotations

import sys
import warnings

import harness.glcheck  # noqa: F401  (before torchrl: one line if MUJOCO_GL cannot load)

# isort: split

from configs.suites import UnknownNameError
from harness.cli import FAILED, ArgumentParser, CliError, command_line, one_line_errors, os_error_line, whole_number
from harness.data.errors import DatasetError

#: a chunk is one file written at once (an episode of 501 rows: some 50 kB; a billion: 50 TB)
MAX_EPISODES_PER_CHUNK = 10**9


@command_line(doc=None)  # argparse prints the help
def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m harness.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or directories holding them")
    parser.add_argument("--suite", required=True, help="the suite whose task order the dataset's task ids follow")
    parser.add_argument("--out", required=True, help="the dataset directory to create (new or empty)")
    parser.add_argument("--episodes-per-chunk", type=whole_number(1, MAX_EPISODES_PER_CHUNK), default=10_000)
    args = parser.parse_args(argv)
    from harness.data.dataset_writer import export_runs

    with warnings.catch_warnings(), one_line_errors(DatasetError, UnknownNameError):
        warnings.simplefilter("always")
        warnings.showwarning = lambda msg, *a, **k: print(f"warning: {msg}", file=sys.stderr)
        try:
            manifest = export_runs(args.runs, args.suite, args.out, args.episodes_per_chunk)
        except OSError as exc:  # a failed write (a full disk); the temporary directory is gone
            raise CliError(os_error_line(exc, args.out), FAILED) from exc
    print(
        f"wrote {args.out}: {manifest['episodes']} episodes, {manifest['transitions']} transitions, "
        f"{len(manifest['chunks'])} chunk(s), {len(manifest['sources'])} run(s)"
    )
    for task, n in manifest["per_task"].items():
        print(f"  {task}: {n['episodes']} episodes")
    if manifest["missing_tasks"]:
        print(f"  missing tasks: {', '.join(manifest['missing_tasks'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
