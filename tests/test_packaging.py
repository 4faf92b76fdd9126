"""The wheel holds every package folder and data file (an editable install would hide a gap)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Source folder → import name, as pyproject's package-dir maps them.
PACKAGE_ROOTS = {"compiler": "moecc", "ir": "moecc/ir", "passes": "moecc/passes", "backend": "moecc/backend",
                 "isa_spec": "moecc/isa_spec", "examples": "moecc/examples"}
#: Data files the runtime reads (grammars, ISA tables, target descriptions, example programs).
DATA_GLOBS = ("ir/*.lark", "isa_spec/*.toml", "isa_spec/*.lark", "isa_spec/*.md", "examples/asm/*.s", "examples/asm/*.npz")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("moecc-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _expected_members() -> list[str]:
    expected = []
    for folder, target in PACKAGE_ROOTS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.relative_to(ROOT / folder)
            expected.append(f"{target}/{rel.as_posix()}")
    for pattern in DATA_GLOBS:
        for data in ROOT.glob(pattern):
            folder = data.relative_to(ROOT).parts[0]
            expected.append(f"{PACKAGE_ROOTS[folder]}/{data.relative_to(ROOT / folder).as_posix()}")
    return expected


def test_every_package_folder_is_in_the_wheel(wheel_names: set[str]) -> None:
    missing = [m for m in _expected_members() if m not in wheel_names]
    assert not missing, f"missing from the wheel: {missing}"


def test_console_script_is_declared(wheel_names: set[str]) -> None:
    entry_points = [n for n in wheel_names if n.endswith("entry_points.txt")]
    assert entry_points
