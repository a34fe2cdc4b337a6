"""The fault campaign's case lists (tools/faults) are well formed, without running them: enough
cases, unique ids, every program and mode covered, commands that build."""

from pathlib import Path

from tools.faults import bad_inputs, faults


def test_bad_input_cases_are_many_unique_and_cover_every_program(tmp_path):
    cases = bad_inputs.CASES
    ids = [c.id for c in cases]
    assert len(cases) >= 90 and len(set(ids)) == len(ids)
    assert {c.program for c in cases} == set(bad_inputs.MODULES)
    assert all(c.needle or c.dedup for c in cases)
    assert (
        bad_inputs.select_cases(cases, quick=True, only=[])
        and len(bad_inputs.select_cases(cases, False, ["run-"])) >= 20
    )
    values = {k: tmp_path / k for k in ("dir", "runs", "out", "file", "collect", "ckpt", "offline", "ds", "bad")}
    for case in cases:
        assert case.setup in ("", *bad_inputs.SETUPS), case.id
        cmd = bad_inputs.command(case, values)  # every placeholder is known
        assert cmd[1:3] == ["-m", bad_inputs.MODULES[case.program]] and not any(
            bad_inputs.PLACEHOLDER.search(a) for a in cmd[3:]
        ), case.id


def test_fault_cases_are_many_unique_and_cover_every_mode_and_process():
    cases = faults.FAULTS
    ids = [f.id for f in cases]
    assert len(cases) >= 40 and len(set(ids)) == len(ids)
    assert {f.mode for f in cases} >= {"online", "offline", "finetune", "export", "evaluate", "report"}
    assert {f.process for f in cases} >= {"run", "sweep", "after", "export", "evaluate", "report"}
    assert all(callable(f.fn) for f in cases) and faults.select_cases(cases, quick=True, only=[])
    assert Path(faults.__file__).with_name("common.py").exists()
