"""The house rules, read from the imports themselves (`ast`, no import is executed):

- the neutral core (everything in `bot/` but the platform packages and the assemblers) imports no
  platform package;
- a platform package (`bot/handlers/<platform>/`) imports no other platform package;
- only `bot.runtime`, `bot.server` and the CLI assemble platforms;
- there is no import cycle among panelbot's modules (imports inside functions included, except those
  guarded by `if TYPE_CHECKING`).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = "bot.handlers."
ASSEMBLERS = ("bot.runtime", "bot.server", "bot.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in ("bot", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def imported(path: Path, known: set[str]) -> set[str]:
    """panelbot modules this file imports; `from pkg import mod` counts as importing `pkg.mod`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imported(path, set(mods)) - {name} for name, path in mods.items()}


def platform_of(module: str) -> str | None:
    if not module.startswith(PLATFORMS):
        return None
    return module.split(".")[2]


def is_assembler(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ASSEMBLERS)


def test_the_core_imports_no_platform() -> None:
    wrong = [
        f"{mod} imports {dep}"
        for mod, deps in graph().items()
        if platform_of(mod) is None and not is_assembler(mod)
        for dep in deps
        if platform_of(dep) is not None
    ]
    assert wrong == []


def test_platform_packages_do_not_import_each_other() -> None:
    wrong = [
        f"{mod} imports {dep}"
        for mod, deps in graph().items()
        for dep in deps
        if platform_of(mod) and platform_of(dep) and platform_of(mod) != platform_of(dep)
    ]
    assert wrong == []


def test_there_are_platform_packages_and_no_channels_folder() -> None:
    platforms = {platform_of(m) for m in graph()} - {None}
    assert {"slack", "teams", "graph"} <= platforms
    assert not (ROOT / "bot" / "channels").exists()


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a list of modules, by depth-first search; None if there is none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing `a.b.c` also runs `a/__init__` and `a/b/__init__`: those are edges too."""
    out = {m: set(deps) for m, deps in edges.items()}
    for deps in out.values():
        for dep in list(deps):
            parts = dep.split(".")
            deps |= {".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in edges}
    return {m: {d for d in deps if d != m and not m.startswith(d + ".")} for m, deps in out.items()}


def test_no_import_cycle() -> None:
    assert find_cycle(package_edges(graph())) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
