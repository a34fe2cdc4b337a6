"""TD-MPC2's dataset files: ``chunk_<i>.pt``, each a saved TensorDict ``[episodes, L]``.

Keys (docs/method.md section 10): ``obs`` float32 ``[E, L, obs_dim]``, ``action`` float32
``[E, L, act_dim]``, ``reward`` float32 ``[E, L]`` (``[E, L, 1]`` accepted), ``task`` int ``[E, L]``
(an index into the suite's task list). Row 0 of every episode is the reset observation with NaN
action and reward; row t > 0 holds obs_t with the action and reward that led to it (the layout of
algorithms/replay.py). A plain dict of tensors is accepted too.

:func:`open_chunk` checks everything that is cheap to check (keys, shapes, dtypes, dims, task ids,
episode lengths) on the memory-mapped file, reading only ``task[:, 0]`` and row 0;
:func:`chunk_rows` turns a block of episodes into padded storage rows, and checks what needs the
data itself (task ids constant within an episode, finite values after row 0).
"""

from __future__ import annotations

import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from tensordict import TensorDict, TensorDictBase

from harness.data.errors import DatasetError
from harness.data.layout import SuiteLayout

CHUNK_GLOB = "chunk_*.pt"
KEYS = ("obs", "action", "reward", "task")


@dataclass(frozen=True)
class Chunk:
    """One opened (memory-mapped, not read) chunk file."""

    path: Path
    data: TensorDictBase  # obs [E, L, D], action [E, L, A], reward [E, L], task [E, L]
    episode_tasks: torch.Tensor  # [E] long: each episode's task id

    @property
    def episodes(self) -> int:
        return int(self.data.batch_size[0])

    @property
    def rows_per_episode(self) -> int:
        return int(self.data.batch_size[1])


def find_chunks(dataset_dir: Path) -> list[Path]:
    """The dataset's chunk files in index order (chunk_2 before chunk_10)."""
    paths = list(Path(dataset_dir).glob(CHUNK_GLOB))
    if not paths:
        raise DatasetError(f"{dataset_dir}: no {CHUNK_GLOB} files (expected TD-MPC2's chunk_0.pt, chunk_1.pt, ...)")

    def index(p: Path) -> tuple[int, str]:
        m = re.fullmatch(r"chunk_(\d+)\.pt", p.name)
        return (int(m.group(1)) if m else 1 << 62, p.name)

    return sorted(paths, key=index)


def _fail(path: Path, what: str) -> DatasetError:
    return DatasetError(f"{path}: {what}")


def read_chunk(path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Memory-map ``path``: its ``obs, action, reward, task``, checked as far as no suite is needed
    (keys, tensors, shapes, dtypes); raises :class:`DatasetError`. Cheap: reads no rows."""
    path = Path(path)
    if not zipfile.is_zipfile(path):  # cheap; torch's own words for it are about mmap
        raise _fail(path, "unreadable (not a torch.save file: truncated, damaged or not a chunk)")
    try:  # TD-MPC2 saved a TensorDict (a pickled object), hence weights_only=False
        obj = torch.load(path, mmap=True, weights_only=False, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 (unpickling can raise anything)
        raise _fail(
            path, f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if not isinstance(obj, (TensorDictBase, dict)):
        raise _fail(path, f"expected a TensorDict or dict with keys {', '.join(KEYS)}, got {type(obj).__name__}")
    missing = [k for k in KEYS if k not in obj]
    if missing:
        raise _fail(path, f"missing key(s) {', '.join(missing)}; expected keys {', '.join(KEYS)}")
    obs, action, reward, task = (obj[k] for k in KEYS)
    if not all(isinstance(t, torch.Tensor) for t in (obs, action, reward, task)):
        raise _fail(path, f"expected tensors under {', '.join(KEYS)}")
    _check_shapes(path, obs, action, reward, task)
    return obs, action, reward, task


def open_chunk(path: Path, layout: SuiteLayout) -> Chunk:
    """Memory-map ``path`` and validate it against ``layout``; raises :class:`DatasetError`."""
    path = Path(path)
    obs, action, reward, task = read_chunk(path)
    _check_dims(path, obs, action, layout)
    E, L = obs.shape[:2]
    data = TensorDict(obs=obs, action=action, reward=reward.reshape(E, L), task=task, batch_size=[E, L])
    episode_tasks = task[:, 0].long()
    _check_tasks(path, episode_tasks, L, obs.shape[-1], action.shape[-1], layout)
    if E and not (torch.isnan(action[:, 0]).all() and torch.isnan(reward[:, 0]).all()):
        warnings.warn(
            f"{path}: row 0 of some episodes has a non-NaN action or reward (TD-MPC2 stores NaN there); "
            "it is never used as a transition",
            stacklevel=2,
        )
    return Chunk(path, data, episode_tasks)


def _check_shapes(path, obs, action, reward, task) -> None:
    if obs.ndim != 3:
        raise _fail(path, f"obs has shape {list(obs.shape)}; expected [episodes, L, obs_dim]")
    E, L, D = obs.shape
    if L < 2:
        raise _fail(path, f"episodes of {L} row(s); expected L = steps + 1 >= 2 rows (row 0: the reset observation)")
    if action.ndim != 3 or tuple(action.shape[:2]) != (E, L):
        raise _fail(path, f"action has shape {list(action.shape)}; expected [{E}, {L}, act_dim]")
    if tuple(reward.shape) not in ((E, L), (E, L, 1)):
        raise _fail(path, f"reward has shape {list(reward.shape)}; expected [{E}, {L}] or [{E}, {L}, 1]")
    if tuple(task.shape) != (E, L):
        raise _fail(path, f"task has shape {list(task.shape)}; expected [{E}, {L}]")
    for name, t in (("obs", obs), ("action", action), ("reward", reward)):
        if not t.dtype.is_floating_point:
            raise _fail(path, f"{name} has dtype {t.dtype}; expected float32")
    if task.dtype.is_floating_point or task.dtype.is_complex or task.dtype == torch.bool:
        raise _fail(path, f"task has dtype {task.dtype}; expected an integer dtype (int64)")


def _check_dims(path, obs, action, layout: SuiteLayout) -> None:
    D = obs.shape[-1]
    if D > layout.max_obs_dim:
        raise _fail(path, f"obs dim {D} is larger than suite {layout.suite}'s largest obs dim {layout.max_obs_dim}")
    A = action.shape[-1]
    if A > layout.max_action_dim:
        raise _fail(
            path, f"action dim {A} is larger than suite {layout.suite}'s largest action dim {layout.max_action_dim}"
        )


def _check_tasks(path, episode_tasks: torch.Tensor, L: int, D: int, A: int, layout: SuiteLayout) -> None:
    n = len(layout.tasks)
    bad = episode_tasks[(episode_tasks < 0) | (episode_tasks >= n)]
    if bad.numel():
        raise _fail(path, f"task id {int(bad[0])} is outside suite {layout.suite} (expected 0..{n - 1})")
    for tid in episode_tasks.unique().tolist():
        name, dims = layout.tasks[tid], layout.dims[tid]
        if dims.episode_length % (L - 1):
            raise _fail(
                path,
                f"episodes of {L} rows but task {name} (id {tid}) has {dims.episode_length}-step "
                f"episodes; expected L = {dims.episode_length + 1} (or pieces of a divisor + 1)",
            )
        if D < dims.obs_dim or A < dims.action_dim:
            raise _fail(
                path,
                f"obs/action dims {D}/{A} are smaller than task {name}'s (id {tid}) {dims.obs_dim}/{dims.action_dim}",
            )


def chunk_rows(chunk: Chunk, start: int, stop: int, first_episode_id: int, layout: SuiteLayout) -> TensorDict:
    """Episodes ``start:stop`` of ``chunk`` as storage rows ``[(stop - start) * L]``: obs and action
    zero-padded to the suite's largest dims, reward ``[., 1]``, task and episode ids per row."""
    block = chunk.data[start:stop]
    E, L = block.batch_size
    obs = block["obs"].float()
    action = block["action"].float()
    reward = block["reward"].float()
    task = block["task"].long()
    changes = (task != task[:, :1]).any(1)
    if changes.any():
        ep = start + int(changes.nonzero()[0, 0])
        raise _fail(chunk.path, f"episode {ep} changes task id mid-episode; expected one task per episode")
    for name, t in (("obs", obs), ("action", action[:, 1:]), ("reward", reward[:, 1:])):
        bad = ~torch.isfinite(t).reshape(E, -1).all(1)
        if bad.any():
            ep = start + int(bad.nonzero()[0, 0])
            raise _fail(chunk.path, f"episode {ep} has a non-finite {name} (expected finite values after row 0)")
    D, A = layout.max_obs_dim, layout.max_action_dim
    obs = torch.nn.functional.pad(obs, (0, D - obs.shape[-1]))
    action = torch.nn.functional.pad(action, (0, A - action.shape[-1]))
    episode = torch.arange(first_episode_id, first_episode_id + E).unsqueeze(1).expand(E, L)
    return TensorDict(
        obs=obs, action=action, reward=reward.unsqueeze(-1), task=task, episode=episode, batch_size=[E, L]
    ).reshape(E * L)
