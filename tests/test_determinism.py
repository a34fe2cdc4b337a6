"""Same seed, same results (CPU)."""

import csv

import pytest

from harness.run import execute
from tests.helpers import TINY_ALGO


def _run(tmp_path, name, seed):
    overrides = {
        "task": "cartpole-balance",
        "algo": "tdmpc2",
        "seed": seed,
        "steps": 250,
        "eval_every": 250,
        "eval_episodes": 2,
        "eval_at_start": False,
        "runs_dir": str(tmp_path / name),
        "logger": "none",
    }
    overrides.update({k: v for k, v in (t.split("=", 1) for t in TINY_ALGO)})
    from harness.config import parse_value

    overrides = {k: parse_value(str(v)) for k, v in overrides.items()}
    res = execute(overrides, verbose=False)
    rows = list(csv.DictReader(open(f"{res['path']}/eval.csv")))
    return [(r["step"], r["episode"], r["return"]) for r in rows]


@pytest.mark.slow
def test_same_seed_same_results(tmp_path):
    a = _run(tmp_path, "a", seed=3)
    b = _run(tmp_path, "b", seed=3)
    c = _run(tmp_path, "c", seed=4)
    assert a == b
    assert a != c
