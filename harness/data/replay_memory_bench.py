"""Peak memory of the offline replay: memory-mapped storage vs the whole dataset in RAM.

    python -m harness.data.replay_memory_bench --transitions 1000000 [--dir DIR]

Writes a synthetic dataset in TD-MPC2's layout (mt80's: L = 101 rows, obs 39, action 6, 80 task ids)
and, each in a fresh subprocess so that every peak is its own, measures the peak resident set size
(``getrusage``'s ``ru_maxrss``) of: importing the libraries only (the baseline), converting the
chunks into the memory-mapped storage, opening that storage again and sampling from it, and loading
every chunk fully into RAM (``torch.load`` without ``mmap``, as TD-MPC2's offline trainer does) and
sampling from a TorchRL ``LazyTensorStorage``. Also reported: the anonymous (non file-backed)
resident memory at the end of each, since pages of a memory-mapped file that the process touched
count towards its RSS although the kernel may drop them at any time.
"""

from __future__ import annotations

import itertools
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from tensordict import TensorDict

from harness.cli import ArgumentParser, command_line, whole_number
from harness.data.layout import SuiteLayout, TaskDims

ROWS, OBS, ACT, TASKS = 101, 39, 6, 80
BATCH, HORIZON, SAMPLES = 256, 3, 50


def bench_layout() -> SuiteLayout:
    """mt80's dataset layout without building its 80 envs (this measures the data layer only)."""
    return SuiteLayout(
        "bench-mt80", 1, tuple(f"task-{i}" for i in range(TASKS)), (TaskDims(OBS, ACT, ROWS - 1),) * TASKS
    )


def write_synthetic(directory: Path, transitions: int, chunks: int = 4, seed: int = 0) -> int:
    """``transitions`` (rounded up to whole episodes) in ``chunks`` chunk files; returns the episodes."""
    episodes = -(-transitions // (ROWS - 1))
    gen = torch.Generator().manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    bounds = torch.linspace(0, episodes, chunks + 1).long().tolist()
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        E = b - a
        action = torch.rand(E, ROWS, ACT, generator=gen) * 2 - 1
        reward = torch.rand(E, ROWS, generator=gen)
        action[:, 0] = float("nan")
        reward[:, 0] = float("nan")
        task = torch.randint(0, TASKS, (E, 1), generator=gen).expand(E, ROWS).contiguous()
        td = TensorDict(
            obs=torch.randn(E, ROWS, OBS, generator=gen), action=action, reward=reward, task=task, batch_size=[E, ROWS]
        )
        torch.save(td, directory / f"chunk_{i}.pt")
    return episodes


def _memory() -> dict[str, float]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)

    def mib(key: str) -> float:
        return int(status[key].split()[0]) / 1024 if key in status else float("nan")

    return {
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_anon_mib": mib("RssAnon"),
        "rss_file_mib": mib("RssFile"),
    }


def measure(mode: str, directory: Path) -> dict[str, float]:
    """Runs in the subprocess: one mode, then its memory figures."""
    from torchrl.data import LazyTensorStorage, ReplayBuffer, SliceSampler  # noqa: F401 (imported in every mode)

    from harness.data.chunks import chunk_rows, find_chunks, open_chunk
    from harness.data.memmap_store import open_or_build
    from harness.data.offline_replay import OfflineReplay

    layout = bench_layout()
    if mode in ("memmap-build", "memmap"):
        rows, built = open_or_build(directory, layout)
        assert built == (mode == "memmap-build")
        replay = OfflineReplay(rows, layout, BATCH, HORIZON)
    elif mode == "ram":
        parts, first = [], 0
        for path in find_chunks(directory):
            chunk = open_chunk(path, layout)
            chunk = type(chunk)(path, torch.load(path, weights_only=False), chunk.episode_tasks)  # fully in RAM
            parts.append(chunk_rows(chunk, 0, chunk.episodes, first, layout))
            first += chunk.episodes
            del chunk
        rows = torch.cat(parts)
        del parts
        replay = OfflineReplay(rows, layout, BATCH, HORIZON)
    elif mode != "baseline":
        raise ValueError(mode)
    if mode != "baseline":
        for _ in range(SAMPLES):
            replay.sample()
    return _memory()


def run_bench(transitions: int, directory: Path | None = None) -> dict[str, dict[str, float]]:
    """Write the synthetic dataset and measure every mode in its own subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(directory or tmp) / f"synthetic-{transitions}"
        if not directory.exists():
            write_synthetic(directory, transitions)
        size = sum(p.stat().st_size for p in directory.glob("chunk_*.pt")) / 2**20
        results: dict[str, dict[str, float]] = {"dataset": {"transitions": transitions, "chunk_files_mib": size}}
        for mode in ("baseline", "memmap-build", "memmap", "ram"):
            code = (
                f"import json, sys; from harness.data.replay_memory_bench import measure; from pathlib import Path; "
                f"print(json.dumps(measure({mode!r}, Path({str(directory)!r}))))"
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        return results


#: the most transitions: each of the 4 chunks is made in RAM (at this many, some 4.7 GB each)
MAX_TRANSITIONS = 100_000_000


@command_line(doc=None)  # argparse prints the help
def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m harness.data.replay_memory_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--transitions", type=whole_number(1, MAX_TRANSITIONS), default=1_000_000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write the synthetic dataset (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    results = run_bench(args.transitions, args.dir)
    d = results.pop("dataset")
    print(
        f"synthetic mt80-layout dataset: {d['transitions']} transitions, {d['chunk_files_mib']:.0f} MiB of chunk files"
    )
    print(f"{'mode':<14}{'peak RSS MiB':>14}{'anon RSS MiB':>14}{'file RSS MiB':>14}")
    for mode, m in results.items():
        print(f"{mode:<14}{m['peak_rss_mib']:>14.0f}{m['rss_anon_mib']:>14.0f}{m['rss_file_mib']:>14.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
