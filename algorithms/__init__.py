"""Registered algorithms. Importing this package registers the built-in ones.

The model-based names share one class and one world model; only their config differs (the YAML
named here, then the preset), so an ablation changes exactly the parts its name says.
"""
from algorithms.model_based import WorldModelAgent, WorldModelAgentConfig
from algorithms.registry import AlgorithmEntry, algorithm_names, get_algorithm, register
from algorithms.sac import SACAgent, SACConfig

_WM, _SEARCH, _ANCHOR, _SCORE = "world_model", "search", "energy_anchor", "score_network"
_MODEL_BASED = [
    ("tdmpc2", "algos/tdmpc2.yaml", {}, {_WM, _SEARCH}, "TD-MPC2: latent world model + MPPI with policy-prior trajectories"),
    ("tdmpc2-pi", "algos/tdmpc2.yaml", {"act_with": "pi"}, {_WM}, "TD-MPC2's world model, acting with the policy prior alone (no search)"),
    ("mppi", "algos/tdmpc2.yaml", {"planner.num_pi_trajs": 0}, {_WM, _SEARCH}, "explicit MPPI on the shared world model, no policy-prior trajectories"),
    ("cem", "algos/tdmpc2.yaml", {"planner.kind": "cem", "planner.num_pi_trajs": 0}, {_WM, _SEARCH}, "explicit CEM on the shared world model, no policy-prior trajectories"),
    ("diffusion", "algos/mbdpo.yaml", {"energy.enabled": False, "planner.num_pi_trajs": 0}, {_WM, _SEARCH},
     "explicit reverse-diffusion search on the shared world model (MBDPO's planner), no anchor, no policy-prior trajectories"),
    ("mbdpo", "algos/mbdpo.yaml", {}, {_WM, _SEARCH, _ANCHOR}, "MBDPO: diffusion planner over action sequences + implicit energy anchor"),
    ("mbdpo-noanchor", "algos/mbdpo.yaml", {"energy.enabled": False}, {_WM, _SEARCH}, "MBDPO without the energy anchor (eta = 0, F not trained)"),
    ("mbdpo-score", "algos/mbdpo.yaml", {"score.enabled": True, "score.use": "planner"},
     {_WM, _SEARCH, _ANCHOR, _SCORE}, "MBDPO with a learned score network replacing the search (amortised diffusion policy)"),
]

for _name, _yaml, _preset, _caps, _description in _MODEL_BASED:
    register(AlgorithmEntry(_name, WorldModelAgent, WorldModelAgentConfig, _yaml, _description, _preset, frozenset(_caps)))

register(AlgorithmEntry("sac", SACAgent, SACConfig, "algos/sac.yaml",
                        "SAC: model-free reference (TorchRL SACLoss v2, twin Q, learned temperature)"))

__all__ = ["AlgorithmEntry", "algorithm_names", "get_algorithm", "register"]
