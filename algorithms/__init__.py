"""Registered algorithms. Importing this package registers the built-in ones.

The model-based names share one class and one world model; only their config differs (the YAML
named here, then the entry's ``changes``), so an ablation changes exactly the parts its name says. The
dataclass (``WorldModelAgentConfig``) holds TD-MPC2's values; ``configs/algos/mbdpo.yaml`` holds
only what MBDPO's code does differently; each entry's ``changes`` only what its variant changes.
"""

from algorithms.model_based import WorldModelAgent, WorldModelAgentConfig
from algorithms.random_policy import RandomAgent, RandomConfig
from algorithms.registry import AlgorithmEntry, algorithm_names, get_algorithm, register
from algorithms.sac import SACAgent, SACConfig

_MBDPO = "algos/mbdpo.yaml"
_MODEL_BASED = [
    ("tdmpc2", None, {}, "TD-MPC2: latent world model + MPPI with policy-prior trajectories"),
    ("tdmpc2-pi", None, {"act_with": "pi"}, "TD-MPC2's world model, acting with the policy prior alone (no search)"),
    (
        "mppi",
        None,
        {"planner.num_pi_trajs": 0},
        "explicit MPPI on the shared world model, no policy-prior trajectories",
    ),
    (
        "cem",
        None,
        {"planner.kind": "cem", "planner.num_pi_trajs": 0},
        "explicit CEM on the shared world model, no policy-prior trajectories",
    ),
    (
        "diffusion",
        _MBDPO,
        {"energy.enabled": False, "planner.num_pi_trajs": 0},
        "explicit reverse-diffusion search on the shared world model (MBDPO's planner), no anchor, "
        "no policy-prior trajectories",
    ),
    ("mbdpo", _MBDPO, {}, "MBDPO as its code does: diffusion planner over action sequences + implicit energy anchor"),
    (
        "mbdpo-aligned",
        _MBDPO,
        {"energy.positives": "aligned"},
        "MBDPO with F's positive pairs aligned (each latent with its own buffer action, as the paper describes)",
    ),
    ("mbdpo-noanchor", _MBDPO, {"energy.enabled": False}, "MBDPO without the energy anchor (eta = 0, F not trained)"),
    (
        "mbdpo-score",
        _MBDPO,
        {"score.enabled": True, "score.use": "planner"},
        "MBDPO with a learned score network replacing the search (amortised diffusion policy)",
    ),
]

for _name, _yaml, _changes, _description in _MODEL_BASED:
    register(
        AlgorithmEntry(
            name=_name,
            factory=WorldModelAgent,
            config_cls=WorldModelAgentConfig,
            defaults_yaml=_yaml,
            changes=_changes,
            description=_description,
        )
    )

register(
    AlgorithmEntry(
        name="sac",
        factory=SACAgent,
        config_cls=SACConfig,
        description="SAC: model-free reference (TorchRL SACLoss v2, twin Q, learned temperature)",
    )
)

register(
    AlgorithmEntry(
        name="random",
        factory=RandomAgent,
        config_cls=RandomConfig,
        description="uniform random actions, no learning: the floor a report shows every algorithm against",
    )
)

__all__ = ["AlgorithmEntry", "algorithm_names", "get_algorithm", "register"]
