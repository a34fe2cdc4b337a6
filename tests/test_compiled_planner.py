"""``algo.compile=planner``: the compiled search plans as the eager one does (the same random draws;
only the fused kernels' rounding differs), falls back to eager where compiling fails or the noise
is per element, and a bad mode is one line naming the valid ones."""

import warnings

import pytest
import torch

import algorithms
from algorithms.base import EnvSpec
from algorithms.planning import NoiseSource
from algorithms.planning.compiled import CompiledSearch
from harness.config import build_algo_config, parse_overrides
from tests.helpers import tiny_algo

SPEC = EnvSpec(obs_dim=5, action_dim=2, episode_length=100)


def _actions(algo: str, compile_mode: str) -> list[torch.Tensor]:
    tiny = [t.removeprefix("algo.") for t in tiny_algo(algo)]
    fields = {**parse_overrides(tiny), "compile": compile_mode, "seed_steps": 0}
    cfg = build_algo_config(algo, fields)
    torch.manual_seed(0)
    agent = algorithms.get_algorithm(algo).factory(cfg, SPEC, torch.device("cpu"), total_steps=1000)
    obs = torch.randn(3, SPEC.obs_dim)
    torch.manual_seed(1)
    out = []
    # the warm start carried over, an evaluation in between, then a new batch size
    for t, (batch, eval_mode) in enumerate([(1, False), (1, False), (1, True), (3, False)]):
        out.append(agent.act(obs[:batch], eval_mode=eval_mode, first_step=t == 0))
    return out


@pytest.mark.parametrize("algo", ["tdmpc2", "mbdpo"])  # cem shares mppi's search
def test_compiled_planner_acts_as_the_eager_one(algo):
    eager, compiled = _actions(algo, "none"), _actions(algo, "planner")
    for t, (a, b) in enumerate(zip(eager, compiled)):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-4), (algo, t, (a - b).abs().max())


def test_failed_compilation_warns_once_and_plans_eagerly(monkeypatch):
    def search(planner, model, z, init, noise):
        return init * 2

    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    wrapped = CompiledSearch(search)
    noise = NoiseSource(1, torch.device("cpu"))
    with pytest.warns(UserWarning, match="torch.compile of the planner failed.*no C\\+\\+ compiler"):
        assert wrapped(None, None, None, torch.ones(2), noise).tolist() == [2.0, 2.0]
    assert wrapped.failed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        assert wrapped(None, None, None, torch.ones(2), noise).tolist() == [2.0, 2.0]


def test_per_element_noise_takes_the_eager_search():
    wrapped = CompiledSearch(lambda planner, model, z, init, noise: init + 1)
    noise = NoiseSource(2, torch.device("cpu"), [torch.Generator().manual_seed(s) for s in (1, 2)])
    assert wrapped(None, None, None, torch.zeros(2), noise).tolist() == [1.0, 1.0]
    assert wrapped.compiled is None  # never compiled: Dynamo would not keep the generators' order


def test_unknown_compile_mode_is_one_line():
    with pytest.raises(ValueError, match="unknown compile 'planer'; valid: none, planner"):
        build_algo_config("tdmpc2", {"compile": "planer"}).validate()
