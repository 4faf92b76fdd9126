"""Dependencies point one way: ``ir`` imports nothing of moecc's but itself (and the shared error
types), ``passes`` nothing of the back ends or the front door (see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Folder -> moecc modules its files may import (prefixes), besides themselves.
ALLOWED: dict[str, tuple[str, ...]] = {
    "ir": ("moecc.ir", "moecc.errors"),
    "passes": ("moecc.ir", "moecc.passes", "moecc.errors", "moecc.isa_spec.target"),
}


def _moecc_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("moecc")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("moecc"):
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_layer_imports_point_one_way(folder: str) -> None:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in _moecc_imports(path):
            if not any(module == p or module.startswith(p + ".") for p in ALLOWED[folder]):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "layering violations:\n" + "\n".join(bad)
