"""``algo.compile``: the compiled search plans and the compiled update learns as the eager ones do
(the same random draws; only the fused kernels' rounding differs), compiling falls back to eager
where it fails or the noise is per element, and a bad mode is one line naming the valid ones."""

import warnings

import pytest
import torch

import algorithms
from algorithms.base import EnvSpec
from algorithms.planning import NoiseSource
from algorithms.planning.compiled import CompiledSearch
from harness.bench import fill_replay
from harness.config import build_algo_config, parse_overrides
from tests.helpers import tiny_algo

SPEC = EnvSpec(obs_dim=5, action_dim=2, episode_length=100)


def _agent(algo: str, compile_mode: str):
    tiny = [t.removeprefix("algo.") for t in tiny_algo(algo)]
    # horizon 2: half the graph of the default 3 to compile (the tests' cost is compile time)
    fields = {**parse_overrides(tiny), "compile": compile_mode, "seed_steps": 0, "planner.horizon": 2}
    if algo == "mbdpo":
        fields["td_target_heads"] = "random"
    cfg = build_algo_config(algo, fields)
    torch.manual_seed(0)
    return algorithms.get_algorithm(algo).factory(cfg, SPEC, torch.device("cpu"), total_steps=1000)


def _actions(algo: str, compile_mode: str) -> list[torch.Tensor]:
    agent = _agent(algo, compile_mode)
    obs = torch.randn(3, SPEC.obs_dim)
    torch.manual_seed(1)
    out = []
    # the warm start carried over, then an evaluation at a new batch size (two graphs to compile)
    for t, (batch, eval_mode) in enumerate([(1, False), (1, False), (3, True)]):
        out.append(agent.act(obs[:batch], eval_mode=eval_mode, first_step=t == 0))
    return out


@pytest.mark.parametrize("algo", ["tdmpc2", "mbdpo"])  # cem shares mppi's search
def test_compiled_planner_acts_as_the_eager_one(algo):
    eager, compiled = _actions(algo, "none"), _actions(algo, "planner")
    for t, (a, b) in enumerate(zip(eager, compiled)):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-4), (algo, t, (a - b).abs().max())


def _learned(algo: str, compile_mode: str) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    agent = _agent(algo, compile_mode)
    torch.manual_seed(1)
    fill_replay(agent, SPEC, episodes=2)
    metrics = [agent.update(0)]  # pretraining: seed_steps=0 -> one update
    metrics += [agent.update(step) for step in (1, 2)]
    return metrics, {k: v.clone() for k, v in agent.model.state_dict().items()}


def test_compiled_update_learns_as_the_eager_one():
    """mbdpo's update is tdmpc2's plus the energy anchor's loss; its TD target here takes two random
    heads of 2 as tdmpc2's does (the case inductor's randperm-index rewrite cannot compile, see
    layers.select_members). One algorithm only: each compiles for about a minute."""
    algo = "mbdpo"
    (eager, eager_params), (compiled, compiled_params) = _learned(algo, "none"), _learned(algo, "update")
    for t, (a, b) in enumerate(zip(eager, compiled)):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (algo, t, key)
    for name, p in eager_params.items():
        assert torch.allclose(p, compiled_params[name], atol=1e-5), (algo, name)


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
    with pytest.raises(ValueError, match="unknown compile 'planer'; valid: none, planner, update, all"):
        build_algo_config("tdmpc2", {"compile": "planer"}).validate()
