"""The arrows only point down: webapp → workflows → models."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"models": {"workflows", "webapp"}, "workflows": {"webapp"}}


def imported_top_levels(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_never_import_higher_ones(package):
    offences = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for top, line in imported_top_levels(path):
            if top in FORBIDDEN[package]:
                offences.append(f"{path.relative_to(ROOT)}:{line} imports {top}")
    assert offences == []


def test_the_check_catches_an_offence(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from webapp.authz import guard\nimport workflows.engine\n")
    assert {t for t, _ in imported_top_levels(bad)} == {"webapp", "workflows"}


# --- No import circles ----------------------------------------------------------------------------------

def module_graph(package: str) -> dict[str, set[str]]:
    """Which modules of `package` each module imports (anywhere in it, functions included); a
    module importing its own package's `__init__` (a blueprint's `bp`) is not an edge."""
    modules = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                deps |= {alias.name for alias in node.names}
        graph[name] = {d for d in deps if d in modules and d != name and not name.startswith(d + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("package", ["models", "workflows", "webapp"])
def test_no_module_imports_itself_in_a_circle(package):
    assert cycles(module_graph(package)) == []


def test_the_cycle_check_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# --- One way to commit ------------------------------------------------------------------------------------

# Where a transaction may end: the boundary (`tx.run` and its message delivery), the background
# jobs (the scheduler's and cron's boundary) and the CLI commands. Pages go through
# `webapp.boundary.run_service`, the API through `tx.run`; services never commit.
COMMIT_ALLOWED = {"workflows/engine/tx.py", "workflows/engine/jobs.py", "webapp/scheduler.py"}
COMMIT_ALLOWED_DIRS = ("webapp/commands/",)


def commits_in(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"]


def test_nothing_commits_outside_the_transaction_boundary():
    offences = []
    for package in ("models", "workflows", "webapp", "demo"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in COMMIT_ALLOWED or rel.startswith(COMMIT_ALLOWED_DIRS):
                continue
            offences += [f"{rel}:{line}" for line in commits_in(path)]
    assert offences == []


def test_the_commit_check_finds_a_commit(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(session):\n    session.add(1)\n    session.commit()\n")
    assert commits_in(bad) == [3]


def test_the_engine_knows_nothing_of_the_quarter():
    """workflows/engine is configured by workflows.setup; it imports no other workflows package."""
    graph = module_graph("workflows")
    offences = [f"{m} imports {d}" for m, deps in graph.items() if m.startswith("workflows.engine")
                for d in deps if not d.startswith(("workflows.engine", "workflows.errors", "workflows.i18n"))]
    assert offences == []
