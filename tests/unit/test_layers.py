"""The layering of STYLE.md, kept by parsing imports: arrows go one way."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "daemon"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports at run time (TYPE_CHECKING blocks included: they count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"


GRAPH = {module_name(path): {name for name in imports(path)} for path in PACKAGE.rglob("*.py")}


def daemon_imports(module: str) -> set[str]:
    """The daemon modules `module` imports (resolved to modules that exist)."""
    return {name for name in GRAPH[module] if name in GRAPH and name not in (module, "daemon")}


def external_roots(module: str) -> set[str]:
    return {name.split(".")[0] for name in GRAPH[module]} - {"daemon"}


def in_package(prefix: str) -> list[str]:
    return [m for m in GRAPH if m == prefix or m.startswith(prefix + ".")]


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("daemon.models", set()),
        ("daemon.policy_keys", set()),
        ("daemon.policy", {"daemon.models", "daemon.policy_keys"}),
        ("daemon.durations", set()),
        ("daemon.logs", set()),
        ("daemon.sdnotify", set()),
        ("daemon.metrics", set()),
        ("daemon.health", {"daemon.metrics"}),
        ("daemon.notify.render", set()),
        ("daemon.notify.routes", set()),
        ("daemon.worktime", set()),
        ("daemon.web.settings", {"daemon.secrets"}),
        ("daemon.web.texts", {"daemon.notify.render"}),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_low_floors_import_only_what_they_may(module: str, allowed: set[str]) -> None:
    assert daemon_imports(module) <= allowed


def test_the_ozon_client_never_imports_config_store_or_policy() -> None:
    for module in in_package("daemon.ozon"):
        outside = {m for m in daemon_imports(module) if not m.startswith("daemon.ozon")}
        assert outside <= {"daemon.models"}, module


def test_the_store_imports_only_models() -> None:
    for module in in_package("daemon.store"):
        outside = {m for m in daemon_imports(module) if not m.startswith("daemon.store")}
        assert outside <= {"daemon.models"}, module


def test_the_sandbox_imports_nothing_of_the_daemon() -> None:
    for module in in_package("daemon.sandbox"):
        outside = {m for m in daemon_imports(module) if not m.startswith("daemon.sandbox")}
        assert outside == set(), module


def test_only_schedule_imports_apscheduler() -> None:
    users = sorted(m for m in GRAPH if "apscheduler" in external_roots(m))
    assert users == ["daemon.schedule"]


def test_only_the_cli_maps_errors_to_exit_codes() -> None:
    users = sorted(
        module_name(path)
        for path in PACKAGE.rglob("*.py")
        if "sys.exit(" in path.read_text(encoding="utf-8") and path.name != "__main__.py"
    )
    assert users == ["daemon.cli"]  # (the sandbox's own `python -m` entry point aside)


def test_no_two_modules_import_each_other() -> None:
    cycles = {
        tuple(sorted((a, b)))
        for a in GRAPH
        for b in daemon_imports(a)
        if a in daemon_imports(b) and not (a.startswith(b + ".") or b.startswith(a + "."))
    }
    assert cycles == set()


def test_only_the_top_floor_imports_the_board() -> None:
    """The board's app and server (Starlette, uvicorn) are imported by cli, service and demo
    alone; the config sees only `daemon.web.settings`."""
    board = {m for m in in_package("daemon.web") if m not in {"daemon.web", "daemon.web.settings"}}
    users = sorted(m for m in GRAPH if not m.startswith("daemon.web") and daemon_imports(m) & board)
    assert users == ["daemon.cli", "daemon.demo", "daemon.service"]
    starlette = sorted(m for m in GRAPH if external_roots(m) & {"starlette", "uvicorn", "jinja2"})
    assert all(m.startswith("daemon.web.") for m in starlette), starlette


def test_working_time_arithmetic_uses_only_the_standard_library() -> None:
    import sys

    assert external_roots("daemon.worktime") <= set(sys.stdlib_module_names)
