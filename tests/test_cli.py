"""One command-line grammar for harness.run, harness.sweep and harness.bench: ``key=value``, values
in OmegaConf's dotlist grammar; a bad argument is one ``error:`` line and exit status 2."""

from __future__ import annotations

import pytest

from harness import bench, run, sweep
from harness.config import ConfigError, parse_overrides


def test_values_are_parsed_by_omegaconf_dotlist_grammar():
    got = parse_overrides(
        [
            "seed=3",
            "algo=[tdmpc2,mbdpo]",
            "wait=true",
            "algo.lr=1e-3",
            "task=cup-catch",
            "algo.model.size=1",
            "slurm.setup=[module load cuda/12.4]",
            "slurm.additional_parameters={mail-type: END}",
            "sweep_name=",
        ]
    )
    assert got == {
        "seed": 3, "algo": ["tdmpc2", "mbdpo"], "wait": True, "algo.lr": 0.001, "task": "cup-catch",
        "algo.model.size": 1, "slurm.setup": ["module load cuda/12.4"],
        "slurm.additional_parameters": {"mail-type": "END"}, "sweep_name": None,
    }  # fmt: skip


@pytest.mark.parametrize("token", ["--sizes", "steps", "=3"])
def test_a_token_without_key_and_value_is_one_line_error(token):
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides([token])


def test_bench_takes_key_value():
    algos, cfg, algo_over = bench.parse_args(["sizes=[1,5]", "algo=mbdpo", "threads=2", "algo.planner.num_samples=128"])
    assert algos == ["mbdpo"] and cfg.sizes == [1, 5] and cfg.threads == 2
    assert algo_over == ["planner.num_samples=128"]
    algos, cfg, _ = bench.parse_args(["sizes=1", "algo=[sac,tdmpc2]", "preset=laptop"])
    assert algos == ["sac", "tdmpc2"] and cfg.sizes == [1] and cfg.preset == "laptop"


def test_bench_takes_the_reference_tools_flags():
    """../shared/tools/ref-bench/ref_bench.py --protocol calls the bench with GNU-style flags."""
    argv = ["--algo", "mbdpo", "--sizes", "5", "--threads", "2", "--obs-dim", "17", "--action-dim=6", "--repeats", "7"]
    algos, cfg, algo_over = bench.parse_args([*argv, "--algo.planner.num-samples", "64"])
    assert algos == ["mbdpo"] and cfg.sizes == [5] and cfg.threads == 2 and cfg.repeats == 7
    assert (cfg.obs_dim, cfg.action_dim) == (17, 6) and algo_over == ["planner.num_samples=64"]


@pytest.mark.parametrize(
    ("main", "argv", "message"),
    [
        (bench.main, ["--sizes"], "the flag needs a value"),
        (bench.main, ["--size", "1"], "unknown config key 'size'; valid: action_dim, device"),
        (bench.main, ["algo=nope"], "unknown algorithm 'nope'; valid: cem,"),
        (bench.main, ["size=1"], "unknown config key 'size'; valid: action_dim, device"),
        (bench.main, ["preset=lapt0p"], "unknown preset 'lapt0p'; valid: cpu, laptop"),
        (run.main, ["--algo", "tdmpc2"], "expected key=value"),
        (run.main, ["algo=nope"], "unknown algorithm 'nope'; valid: cem,"),
        (sweep.main, ["suite=nope"], "unknown suite 'nope'; valid: dmc,"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(main, argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_bench_names_the_bf16_hardware(tmp_path):
    (tmp_path / "amx").write_text("flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    (tmp_path / "plain").write_text("flags\t\t: fpu avx2\n")
    assert bench.bf16_matmul_hardware(str(tmp_path / "amx")) == "amx_bf16+avx512_bf16"
    assert bench.bf16_matmul_hardware(str(tmp_path / "plain")) == "none"
    assert bench.bf16_matmul_hardware(str(tmp_path / "missing")) == "unknown"


def test_every_program_main_is_a_command_line():
    """One shared -h / error / stop / Ctrl-C handling (harness.cli), not a try/except per program."""
    import importlib

    for name in ("run", "sweep", "evaluate", "export", "bench", "status", "list"):
        main = importlib.import_module(f"harness.{name}").main
        assert getattr(main, "__wrapped__", None) is not None, f"harness.{name}.main is not @command_line"


def test_command_line_ends_with_one_line_and_the_status(capsys):
    from harness.cli import command_line, one_line_errors
    from harness.stop import Preempted

    stop = Preempted(1000)

    @command_line("the doc")
    def main(argv: list[str]) -> int:
        with one_line_errors(ValueError):
            if argv == ["bad"]:
                raise ValueError("bad value 'x' for k; valid: a, b")
        if argv == ["stop"]:
            raise stop
        if argv == ["ctrl-c"]:
            raise KeyboardInterrupt
        if argv == ["bug"]:
            raise ValueError("a bug keeps its traceback")
        return 0

    assert main(["x", "--help"]) == 0 and capsys.readouterr().out == "the doc\n"
    assert main(["bad"]) == 2 and capsys.readouterr().err == "error: bad value 'x' for k; valid: a, b\n"
    assert main(["stop"]) == 3
    assert capsys.readouterr().err == f"stopped: {stop}; run the same command again to resume\n"
    assert main(["ctrl-c"]) == 130 and capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="traceback"):
        main(["bug"])
    assert main([]) == 0
