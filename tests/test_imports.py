"""The project's modules import each other without cycles, and never import a private name
(``_x``) from another module. Parsed with ast: every import counts, at module level or inside a
function (a lazy import only hides a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "algorithms", "envs", "analysis", "configs")


def module_files() -> dict[str, Path]:
    """dotted module name -> file, for every module of the project's packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: set[str]) -> list[tuple[str, list[str]]]:
    """(imported project module, names taken from it) for each import statement in ``path``."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [alias.name for alias in node.names]
            submodules = [n for n in names if f"{base}.{n}" in modules]
            found += [(f"{base}.{n}", []) for n in submodules]
            rest = [n for n in names if n not in submodules]
            if rest:
                found.append((base, rest))
    return [(target, names) for target, names in found if target in modules and target != name]


def graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: {t for t, _ in imports_of(name, path, set(files))} for name, path in files.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_private_name_imported_from_another_module():
    files = module_files()
    bad = []
    for name, path in files.items():
        for target, names in imports_of(name, path, set(files)):
            bad += [f"{name}: from {target} import {n}" for n in names if n.startswith("_") and not n.startswith("__")]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def folder_graph() -> dict[str, set[str]]:
    """The import graph with each module of a sub-package folded into it (``harness.training.x`` ->
    ``harness.training``); top-level modules of a package (``harness.config``) stay themselves."""

    def fold(module: str) -> str:
        return ".".join(module.split(".")[:2])

    out: dict[str, set[str]] = {}
    for name, targets in graph().items():
        out.setdefault(fold(name), set()).update(fold(t) for t in targets if fold(t) != fold(name))
    return out


def test_no_import_cycle_between_folders():
    """e.g. harness.config must not import harness.training while the trainers import harness.config."""
    cycle = find_cycle(folder_graph())
    assert cycle is None, "import cycle between folders: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# --- private names of other libraries ------------------------------------------------------------
#: The private names of a third-party library that our packages may use, each with the reason why no
#: public route exists. Keys: "<file>: <expression>" as the checker below prints them. Keep it
#: short; a new entry needs a reason a reviewer accepts.
ALLOWED_PRIVATE = {
    "harness/launchers.py: os._exit": "documented in the standard library: leave from a watchdog thread",
    "algorithms/world_model/layers.py: torch._dynamo": "recompile limit: only torch._dynamo.config has it",
    "algorithms/world_model/layers.py: param._version": "the in-place version counter keys a cast cache",
    "algorithms/world_model/layers.py: torch._foreach_lerp_": "one fused op for the target-network update",
    "algorithms/world_model/layers.py: getattr(torch.cpu, '_init_amx')": "AMX permission (see enable_amx)",
    "envs/dmc.py: quadruped.Physics._get_sensor_names": "numpy 2.4 fix of dm_control's quadruped",
    "envs/metaworld.py: metaworld._N_GOALS": "Meta-World's goal count is a module global (restored)",
    "envs/metaworld.py: sawyer._freeze_rand_vec": "Meta-World has no public switch for a goal per reset",
    "envs/rendering.py: 'dm_control._render'": "which OpenGL backend dm_control already chose",
    # TD-MPC2's custom tasks are dm_control suite tasks with other targets: same time limits and
    # control steps, read from the suite module rather than copied.
    **{
        f"envs/dmc_custom/{file}.py: suite_{file.replace('ball_in_', '')}.{name}": "the suite task's own constant"
        for file, names in {
            "ball_in_cup": ("_DEFAULT_TIME_LIMIT", "_CONTROL_TIMESTEP"),
            "cheetah": ("_RUN_SPEED", "_DEFAULT_TIME_LIMIT"),
            "hopper": ("_HOP_SPEED", "_STAND_HEIGHT", "_DEFAULT_TIME_LIMIT", "_CONTROL_TIMESTEP"),
            "pendulum": ("_DEFAULT_TIME_LIMIT",),
            "reacher": ("_BIG_TARGET", "_SMALL_TARGET", "_DEFAULT_TIME_LIMIT"),
            "walker": ("_STAND_HEIGHT", "_WALK_SPEED", "_RUN_SPEED", "_DEFAULT_TIME_LIMIT", "_CONTROL_TIMESTEP"),
        }.items()
        for name in names
    },
}
ATTRIBUTE_FUNCTIONS = ("getattr", "hasattr", "setattr", "delattr")


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def attributes_of_this_module(tree: ast.AST) -> set[str]:
    """The attribute names a module defines itself: what its classes define in their bodies and what
    it sets on ``self``/``cls``. Setting another object's attribute defines nothing."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    out.add(item.name)
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    out.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and is_own(node.value):
            out.add(node.attr)
    return out


def is_own(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def private_uses(path: Path) -> list[str]:
    """Each use in ``path`` of another module's private name, as "<expression>":

    - ``from lib import _name``, ``import lib._mod``, ``from lib._mod import x`` (another library);
    - ``x._name`` and ``getattr(x, "_name")`` where this module does not define ``_name`` (a
      private attribute belongs to the module that defines it; ``self._name`` is the class's own,
      which includes what a subclass uses of its base class);
    - a string naming a module with a private part (``"lib._mod"``, e.g. for ``python -m``).
    Imports of the project's own modules are the first test's."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = attributes_of_this_module(tree)
    found = []

    def project(module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in PACKAGES)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if any(map(is_private, alias.name.split(".")))]
        elif isinstance(node, ast.ImportFrom) and not node.level and not project(node.module or ""):
            if any(map(is_private, (node.module or "").split("."))):
                found.append(node.module)
            found += [f"from {node.module} import {a.name}" for a in node.names if is_private(a.name)]
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            if not is_own(node.value) and node.attr not in own:
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_FUNCTIONS:
            if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                name = node.args[1].value
                if is_private(name) and not is_own(node.args[0]) and name not in own:
                    found.append(f"{node.func.id}({ast.unparse(node.args[0])}, {name!r})")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts = node.value.split(".")
            if len(parts) > 1 and all(p.isidentifier() for p in parts) and any(map(is_private, parts[1:])):
                found.append(repr(node.value))
    return found


def test_no_private_name_of_another_library_or_module():
    seen, bad = set(), []
    for path in module_files().values():
        rel = path.relative_to(ROOT).as_posix()
        for use in private_uses(path):
            key = f"{rel}: {use}"
            seen.add(key)
            if key not in ALLOWED_PRIVATE:
                bad.append(key)
    assert not bad, "private names of another library or module (use its public API):\n" + "\n".join(sorted(set(bad)))
    stale = sorted(set(ALLOWED_PRIVATE) - seen)
    assert not stale, "ALLOWED_PRIVATE lists uses that are gone (remove them):\n" + "\n".join(stale)
    assert all(reason.strip() for reason in ALLOWED_PRIVATE.values())


def test_the_private_name_finder_finds_them(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "import lib._hidden\n"
        "from lib import _helper, public\n"
        "from lib._mod import thing\n"
        "class A:\n"
        "    def __init__(self, env):\n"
        "        self._mine = env._envs\n"
        "    def same(self, other):\n"
        "        return other._mine, self._theirs, env.__class__\n"
        "x = getattr(obj, '_usr_sig')(), getattr(obj, 'public')\n"
        "def _f(): pass\n"
        "lib.Cls._f = _f\n"
        "cmd = ['python', '-m', 'submitit.local._local', 'a.b', '_x', 'file.py']\n"
    )
    assert sorted(private_uses(source)) == sorted(
        [
            "lib._hidden",
            "from lib import _helper",
            "lib._mod",
            "env._envs",
            "getattr(obj, '_usr_sig')",
            "'submitit.local._local'",
            "lib.Cls._f",
        ]
    )


# --- tests ---------------------------------------------------------------------------------------
def test_no_test_module_imports_another():
    """Shared test code lives in tests/helpers.py (or conftest.py), never in a test module."""
    bad = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ("tests." if node.level else "") + (node.module or "")
                targets = [base] + [f"{base}.{a.name}".replace("tests..", "tests.") for a in node.names]
            else:
                continue
            bad += [f"{path.name}: {t}" for t in targets if t.split(".")[-1].startswith("test_")]
    assert not bad, "test modules importing a test module (move the shared code to tests/helpers.py):\n" + "\n".join(
        bad
    )
