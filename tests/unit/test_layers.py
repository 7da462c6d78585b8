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
        ("daemon.tariff", set()),
        ("daemon.models", {"daemon.tariff"}),
        ("daemon.policy_keys", set()),
        ("daemon.alerts", set()),
        ("daemon.policy_rules", {"daemon.models"}),
        (
            "daemon.policy",
            {
                "daemon.models",
                "daemon.policy_keys",
                "daemon.policy_rules",
                "daemon.policy_notices",
                "daemon.policy_types",
                "daemon.alerts",
                "daemon.policy_calendar",
                "daemon.worktime",
            },
        ),
        ("daemon.policy_calendar", {"daemon.policy_keys", "daemon.worktime"}),
        (
            "daemon.escalation",
            {
                "daemon.models",
                "daemon.policy",
                "daemon.policy_keys",
                "daemon.policy_rules",
                "daemon.alerts",
            },
        ),
        ("daemon.policy_types", {"daemon.models", "daemon.alerts", "daemon.worktime"}),
        ("daemon.policy_notices", {"daemon.models", "daemon.policy_keys", "daemon.alerts"}),
        (
            "daemon.cancel_plan",
            {
                "daemon.models",
                "daemon.policy",
                "daemon.policy_keys",
                "daemon.policy_rules",
                "daemon.alerts",
            },
        ),
        ("daemon.durations", set()),
        ("daemon.shards", set()),
        ("daemon.redact", set()),
        ("daemon.logs", {"daemon.redact"}),
        ("daemon.sdnotify", set()),
        ("daemon.metrics", set()),
        ("daemon.health", {"daemon.metrics", "daemon.redact"}),
        ("daemon.notify.words", set()),
        (
            "daemon.notify.render",
            {
                "daemon.notify.text",
                "daemon.notify.digest",
                "daemon.notify.calendar_text",
                "daemon.notify.details",
            },
        ),
        ("daemon.notify.text", {"daemon.notify.words"}),
        ("daemon.notify.digest", {"daemon.notify.text", "daemon.notify.details"}),
        ("daemon.notify.calendar_text", {"daemon.notify.words"}),
        ("daemon.notify.details", set()),
        ("daemon.notify.routes", {"daemon.redact"}),
        ("daemon.worktime", set()),
        ("daemon.advice", {"daemon.models"}),
        ("daemon.secrets", set()),
        ("daemon.config_problems", {"daemon.models", "daemon.policy_rules", "daemon.secrets"}),
        ("daemon.config_file", {"daemon.config_problems", "daemon.secrets"}),
        (
            "daemon.config_fields",
            {"daemon.config_checks", "daemon.policy_rules", "daemon.shards"},
        ),
        (
            "daemon.config_secrets",
            {"daemon.config_checks", "daemon.config_problems", "daemon.secrets"},
        ),
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


def test_the_store_imports_only_models_and_the_redaction() -> None:
    for module in in_package("daemon.store"):
        outside = {m for m in daemon_imports(module) if not m.startswith("daemon.store")}
        assert outside <= {"daemon.models", "daemon.redact"}, module


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


def nodes() -> Iterator[tuple[str, ast.AST]]:
    """(module, node) for every node of every daemon module."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            yield module_name(path), node


def calls_of(name: str) -> set[str]:
    """The daemon modules that call a function or method named `name`."""
    return {
        module
        for module, node in nodes()
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == name)
            or (isinstance(node.func, ast.Name) and node.func.id == name)
        )
    }


def test_the_cancel_executor_does_not_import_the_cycle_nor_the_cycle_the_executor() -> None:
    assert "daemon.cycle" not in daemon_imports("daemon.cancel")
    assert "daemon.cancel" not in daemon_imports("daemon.cycle")
    outcome = daemon_imports("daemon.cancel_outcome")
    assert not outcome & {"daemon.cycle", "daemon.cancel", "daemon.config", "daemon.engine"}
    assert "daemon.cancel_outcome" not in daemon_imports("daemon.cycle")


@pytest.mark.parametrize("verb", ["enqueue_alert", "record_alert_keys", "discard_staged"])
def test_only_the_alerts_path_writes_ledger_keys_and_outbox_rows(verb: str) -> None:
    assert calls_of(verb) == {"daemon.alerts.batch"}


def test_dry_run_is_decided_only_where_the_cancel_request_would_be_sent() -> None:
    """`cancel.enabled` (and with it --dry-run) is read by the executor alone: the policy
    selects, the cycle collects, the executor sends or only reports."""
    readers = {
        module
        for module, node in nodes()
        if isinstance(node, ast.Attribute)
        and node.attr == "enabled"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "cancel"
    }
    assert readers == {"daemon.cancel"}


def test_only_the_entry_points_tune_the_garbage_collector() -> None:
    assert calls_of("freeze") == calls_of("set_threshold") == {"daemon.engine"}
    assert calls_of("tune_gc") == {"daemon.cli"}  # `run`, `once`, `board`, before their work


def test_once_run_and_the_demo_share_one_after_cycle_pipeline() -> None:
    assert calls_of("after_cycle") == {"daemon.once", "daemon.service", "daemon.demo"}
    for step in ("queue_due_digests", "check_key_expiry", "prune_if_due"):
        assert calls_of(step) == {"daemon.aftercycle"}, step


def test_the_ship_or_cancel_advice_uses_only_the_standard_library_and_models() -> None:
    import sys

    assert external_roots("daemon.advice") <= set(sys.stdlib_module_names)
