"""The repository stands on its own: nothing in it reads or links a file outside its root.

A clone in an empty folder must pass the README's test command, so no code, test, benchmark, CI
script or README may name the `shared` folder that sits beside the checkout on the build
machines (absent for every user) or build a path from the repository root's parent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import OZON_DATA, REPO_ROOT

GUARDED = ["tests", "bench", "daemon", ".ci", "docs"]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".sh", ".cfg", ".ini", ".txt", ""}

# Each pattern is a way to reach outside the root: a relative path to the sibling folder, the
# root's parent from a root variable, or `parents[N]` deeper than the file sits in the tree.
SIBLING = ".." + "/shared"  # spelled in two pieces so that this file does not name it itself
OUTSIDE = [
    re.compile(re.escape("..") + r"/+shared"),
    re.compile(r"(?:REPO_ROOT|REPO|ROOT|_PACKAGE_ROOT|repo_root)\s*\.\s*parent\b"),
    re.compile(r"\.\.[/\\]\.\."),
]
PARENTS = re.compile(r"Path\(__file__\)\.resolve\(\)\.parents\[(\d+)\]")


def guarded_files() -> list[Path]:
    files = [REPO_ROOT / "README.md"]
    for folder in GUARDED:
        for path in sorted((REPO_ROOT / folder).rglob("*")):
            if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
                continue
            inside = path.relative_to(REPO_ROOT / folder).parts
            if OZON_DATA in path.parents or "__pycache__" in path.parts:
                continue
            if any(part.startswith(".") for part in inside):  # bench/.peers-venv and the like
                continue
            files.append(path)
    return files


FILES = guarded_files()


def problems(relative: Path, text: str) -> list[str]:
    """Every line of `text` (the file `relative` to the root) that reaches outside the root."""
    depth = len(relative.parts) - 1  # folders between the root and the file
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        hit = any(pattern.search(line) for pattern in OUTSIDE)
        hit = hit or any(int(match.group(1)) > depth for match in PARENTS.finditer(line))
        if hit:
            found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_the_guard_looks_at_the_code_tests_benchmarks_ci_and_readme() -> None:
    names = {str(path.relative_to(REPO_ROOT)) for path in FILES}
    assert {"README.md", ".ci/run", "tests/conftest.py", "daemon/cli.py"} <= names
    assert any(name.startswith("bench/") for name in names)


@pytest.mark.parametrize(
    ("line", "where", "reaches_out"),
    [
        ('SHARED = REPO_ROOT.parent / "shared"', "tests/conftest.py", True),
        (f"see {SIBLING}/STYLE.md", "README.md", True),
        ('open("../../ozon/fixtures/x.json")', "tests/unit/x.py", True),
        ("ROOT = Path(__file__).resolve().parents[1]", "bench/x.py", False),
        ("ROOT = Path(__file__).resolve().parents[2]", "bench/x.py", True),
        ("ROOT = Path(__file__).resolve().parents[2]", "daemon/sandbox/x.py", False),
        ('OZON_DATA = REPO_ROOT / "tests" / "data" / "ozon"', "tests/conftest.py", False),
    ],
)
def test_the_guard_tells_paths_outside_the_root_from_paths_inside(
    line: str, where: str, reaches_out: bool
) -> None:
    assert bool(problems(Path(where), line)) is reaches_out


def test_nothing_in_the_repository_reaches_outside_its_root() -> None:
    this = Path(__file__).resolve()  # it names the patterns it looks for
    found = [
        problem
        for path in FILES
        if path.resolve() != this
        for problem in problems(
            path.relative_to(REPO_ROOT), path.read_text(encoding="utf-8", errors="replace")
        )
    ]
    assert found == []


def test_the_ozon_test_data_is_in_the_repository() -> None:
    names = {path.name for path in OZON_DATA.iterdir()}
    assert {
        "README.md",
        "ozon-fbs-openapi-2026.json",
        "ozon-seller-openapi-2025-09.json",
        "v4_unfulfilled_list.response.page1.json",
        "v3_fbs_get.response.json",
    } <= names
