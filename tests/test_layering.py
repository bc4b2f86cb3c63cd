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
