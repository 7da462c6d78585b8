"""The README documents every command and option the CLI has (sqlite-utils' test_docs idea)."""

from __future__ import annotations

import pytest
import typer.main

from daemon.cli import app
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
SUBCOMMANDS = typer.main.get_command(app).commands  # type: ignore[attr-defined]
COMMANDS = sorted(SUBCOMMANDS)
CONTRACT_OPTIONS = {
    "run": ["--dry-run", "--shard"],
    "once": ["--dry-run", "--shard"],
    "status": ["--json", "--all"],
    "history": ["--json", "--limit"],
    "check": ["--offline", "--notify"],
    "hold": ["--for", "--force", "--all"],
    "release": ["--all"],
    "ack": ["--by"],
    "board": ["--listen"],
    "demo": [],
    "sandbox": ["--port", "--postings"],
}


def test_the_cli_has_exactly_the_contract_commands() -> None:
    assert sorted(CONTRACT_OPTIONS) == COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_readme_with_its_contract_options(name: str) -> None:
    assert f"`{name}" in README
    options = {opt for param in SUBCOMMANDS[name].params for opt in param.opts}
    for option in CONTRACT_OPTIONS[name]:
        assert option in options
        assert option in README


def test_the_readme_keeps_its_two_quick_start_commands() -> None:
    assert (
        "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/ozon-sync demo" in README
    )
    assert "<!-- test-command:" in README
