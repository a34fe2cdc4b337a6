"""Export runs' replay buffers as a TD-MPC2-layout dataset for offline pretraining.

    python -m harness.export RUNS... --suite S --out DATASET_DIR [--episodes-per-chunk N]

RUNS: run directories, or directories holding them (e.g. runs/ or a sweep's). The work is done by
:func:`harness.data.dataset_writer.export_runs`; this module is its command line. A refused export
(no runs, a run whose task is not in S, an output directory that is not empty) prints one ``error:`` line,
writes nothing and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import harness.glcheck  # noqa: F401  (before torchrl: one line if MUJOCO_GL cannot load)

# isort: split

from configs.suites import UnknownNameError
from harness.cli import command_line, one_line_errors
from harness.data.errors import DatasetError


@command_line(doc=None)  # argparse prints the help
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or directories holding them")
    parser.add_argument("--suite", required=True, help="the suite whose task order the dataset's task ids follow")
    parser.add_argument("--out", required=True, help="the dataset directory to create (new or empty)")
    parser.add_argument("--episodes-per-chunk", type=int, default=10_000)
    args = parser.parse_args(argv)
    from harness.data.dataset_writer import export_runs

    with warnings.catch_warnings(), one_line_errors(DatasetError, UnknownNameError):
        warnings.simplefilter("always")
        warnings.showwarning = lambda msg, *a, **k: print(f"warning: {msg}", file=sys.stderr)
        manifest = export_runs(args.runs, args.suite, args.out, args.episodes_per_chunk)
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
