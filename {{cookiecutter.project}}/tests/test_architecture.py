"""The house rules of src/, read from the code itself with the standard library's ast: no import cycle, the
bot never imports the harness, and the harness's core never imports an optional engine or a feature."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGES = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())
HARNESS = "evalharness"
BOT = next(p for p in PACKAGES if p not in (HARNESS, "observability", "yamlcheck"))
# The gate's core: what decides a verdict and keeps results. An optional engine (promptfoo, deepeval) or a
# feature (model selection, CI steps, the judge) may use it, never the other way round.
CORE = ("gate", "results", "sides", "summary", "stats", "changes", "exits", "settings", "datasets", "report")
NOT_IN_CORE = (
    "evalharness.promptfoo",
    "evalharness.selection",
    "evalharness.ci",
    "evalharness.metrics.judge",
    "evalharness.metrics.deepeval_judge",
    "deepeval",
    "promptfoo",
)


def _module_name(path: Path) -> str:
    """src/evalharness/report/__init__.py -> evalharness.report"""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for package in PACKAGES for p in sorted((SRC / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules `path` imports (relative imports resolved); with top_level_only, only what runs on import
    (not inside functions, not under `if TYPE_CHECKING`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if top_level_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if top_level_only and isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                submodules = {f"{base}.{alias.name}" for alias in child.names} & MODULES.keys()
                found.update(submodules or {base})  # `from pkg import module` imports that module
            visit(child)

    visit(tree)
    return found


def _graph(*, top_level_only: bool) -> dict[str, set[str]]:
    """Module -> the modules it imports. A module's own parent packages are left out: Python always runs
    them first, whatever the module imports, so they are not a dependency the code chose."""
    return {
        name: {
            m
            for m in _imports(path, top_level_only=top_level_only)
            if m in MODULES and m != name and not name.startswith(f"{m}.")
        }
        for name, path in MODULES.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, or None (depth-first search with the path kept)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_modules_are_found() -> None:
    assert {HARNESS, BOT} <= set(PACKAGES)
    assert len(MODULES) > 40 and "evalharness.gate" in MODULES and f"{BOT}.bot" in MODULES


@pytest.mark.parametrize("top_level_only", [True, False], ids=["on-import", "lazy-imports-too"])
def test_no_import_cycle(top_level_only: bool) -> None:
    # A lazy import inside a function still ties two modules together for the reader: no circle of either kind.
    cycle = _cycle(_graph(top_level_only=top_level_only))
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_bot_never_imports_the_harness() -> None:
    for name, path in MODULES.items():
        if name.split(".")[0] == BOT:
            imported = {m.split(".")[0] for m in _imports(path, top_level_only=False)}
            assert HARNESS not in imported, f"{name} imports {HARNESS}"


@pytest.mark.parametrize("core", CORE)
def test_the_core_never_imports_an_engine_or_a_feature(core: str) -> None:
    for name, path in MODULES.items():
        if name == f"{HARNESS}.{core}" or name.startswith(f"{HARNESS}.{core}."):
            for imported in _imports(path, top_level_only=False):  # lazy imports too
                assert not imported.startswith(NOT_IN_CORE), f"{name} imports {imported}"
