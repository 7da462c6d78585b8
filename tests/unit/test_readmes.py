"""The Chinese and Russian guides stay honest (issue 22).

Each guide mentions every command of the CLI (taken from the typer app, so a command added later
is required at once), every top-level section of the config (from the pydantic model and from
config.example.toml, commented-out tables included) and every event a route can filter on; its
shell examples use only commands and options the CLI has (checked against the click command
objects, then each line is run with `--help` appended, which parses every option and talks to
nothing); the cheap ones (`status`, `history`, `hold`, `release`, `ack`, `check`, `once`) are
also run for real, by the real entry point in a separate process, against a database synced from
the sandbox on 127.0.0.1; every TOML example is a config the daemon accepts (with an account
added when it shows none); its Apprise URLs are accepted by Apprise; it explains every exit
code; it shows the English README's demo line exactly; and the three READMEs link to each other
at the top.

A guide may describe what another branch is still building. `PENDING_*` then name each option,
config key and event it shows that the code does not have yet, with the branch that adds it:
while the code lacks one it is left out of the checks on that branch, once the code has it it
is checked like any other. On main they must all be in the code
(`test_nothing_the_guides_show_still_waits_for_another_branch`); they are empty now.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
import types
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from pydantic import BaseModel
from typer.testing import CliRunner

from daemon.cli import EXIT, app
from daemon.config import EVENTS, Config, ConfigError, parse_config
from daemon.sandbox import Knobs, Sandbox, SandboxOptions
from daemon.sandbox.runner import config_snippet
from tests.cli_helpers import clean_env
from tests.conftest import REPO_ROOT

GUIDES = ["README.zh-CN.md", "README.ru.md"]
ROOT: Any = typer.main.get_command(app)
COMMANDS = sorted(ROOT.commands)
HELP_OPTIONS = {"-h", "--help"}
ROUTE_SCHEMES = {
    "WeCom": ("wecombot",),
    "DingTalk": ("dingtalk",),
    "Feishu/Lark": ("feishu", "lark"),
    "Telegram": ("tgram",),
}
# An example URL; an elided one (`wecombot://...`) or a scheme alone (`(wecombot://)`, as `check`
# names a route) is not an example.
APPRISE_URL = re.compile(r"\b(?:tgram|wecombot|dingtalk|feishu|lark)://(?!\.\.\.)[^\s\"'`<>|()]+")
SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
ANY_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
TOML_BLOCK = re.compile(r"^```toml[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXAMPLE_TABLE = re.compile(r"^#?[ \t]*(\[\[?)([a-z_][a-z0-9_]*)\]\]?[ \t]*(?:#.*)?$", re.MULTILINE)
POSTING_NUMBER = re.compile(r"^\d{8}-\d{4}(?:-\d+)?$")
WRAPPERS = {"sudo", "systemd-run", "env", "exec", "nohup", "time"}
# What the guides show ahead of the code, with the branch that adds it (empty while the guides
# show nothing the code lacks; s21's --shard, w19's and o20's events were listed here until
# they were merged). (command, option) -> (branch, whether the option takes a value).
PENDING_OPTIONS: dict[tuple[str, str], tuple[str, bool]] = {}
# Dotted config keys (a list of tables is walked element by element) -> branch.
PENDING_KEYS: dict[str, str] = {}
# Events a route can filter on -> branch.
PENDING_EVENTS: dict[str, str] = {}
# Commands run for real against the sandbox: quick, and they end by themselves.
RUN_FOR_REAL = {"status", "history", "hold", "release", "ack", "check", "once"}
WRAPPER_OPTIONS_WITH_VALUE = {"-u", "--user", "-g", "--group", "-p", "--property", "--unit"}


def text_of(name: str) -> str:
    return (REPO_ROOT / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- what the code defines


def _section_model(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """(model, is_array) when a Config field holds a TOML table (or an array of tables)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _section_model(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found = [_section_model(arg) for arg in typing.get_args(annotation)]
        return next((item for item in found if item is not None), None)
    if origin is list:
        inner = _section_model(typing.get_args(annotation)[0])
        return (inner[0], True) if inner is not None else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None


def config_sections(model: type[BaseModel] = Config) -> list[str]:
    """Every top-level section of the config file, as a reader writes it: `[daemon]`,
    `[[accounts]]`, ..., from the pydantic model (fields that are not tables are skipped)."""
    sections = []
    for name, field in model.model_fields.items():
        found = _section_model(field.annotation)
        if found is not None:
            sections.append(f"[[{name}]]" if found[1] else f"[{name}]")
    return sections


def example_sections(text: str) -> list[str]:
    """The top-level tables of config.example.toml, as written or commented out (`# [board]`);
    sub-tables such as `[accounts.policy]` are not sections."""
    return sorted(
        {
            f"{opening}{name}{opening.replace('[', ']')}"
            for opening, name in EXAMPLE_TABLE.findall(text)
        }
    )


SECTIONS = sorted(set(config_sections()) | set(example_sections(text_of("config.example.toml"))))
EXIT_CODES = sorted(
    {value for key, value in vars(EXIT).items() if key.isupper() and isinstance(value, int)}
)


def options_of(command: Any) -> dict[str, Any]:
    """Every spelling of every option of a click command (typer's, which may be a vendored
    click), to its parameter."""
    found: dict[str, Any] = {}
    for param in command.params:
        if param.param_type_name == "option":
            for spelling in (*param.opts, *param.secondary_opts):
                found[spelling] = param
    return found


# ---------------------------------------------------------------- what the guides say


def shell_lines(text: str) -> Iterator[str]:
    """The lines of every ```sh block, with backslash continuations joined."""
    for block in SHELL_BLOCK.findall(text):
        yield from block.replace("\\\n", " ").splitlines()


def segments(line: str) -> list[list[str]]:
    """The simple commands of one shell line (split at |, &&, ;, ...), comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    result: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set("();<>|&"):
            result.append([])
        else:
            result[-1].append(token)
    return [tokens for tokens in result if tokens]


def invocation(tokens: list[str]) -> list[str] | None:
    """The arguments given to ozon-sync when this simple command runs it, else None.

    `sudo -u ozon-sync ozon-sync status` runs it (the first `ozon-sync` is a user name), as do
    `/opt/ozon-sync/bin/ozon-sync check`, `systemd-run ... /opt/.../ozon-sync check` and
    `python -m daemon status`; `ln -s /opt/ozon-sync/bin/ozon-sync ...` and
    `systemctl status ozon-sync` do not."""
    i = 0
    while i < len(tokens) and ASSIGNMENT.match(tokens[i]):
        i += 1
    if i < len(tokens) and tokens[i] in WRAPPERS:
        i += 1
        while i < len(tokens) and (tokens[i].startswith("-") or ASSIGNMENT.match(tokens[i])):
            i += 2 if tokens[i] in WRAPPER_OPTIONS_WITH_VALUE else 1
    if i >= len(tokens):
        return None
    program = tokens[i].rsplit("/", 1)[-1]
    if program == "ozon-sync":
        return tokens[i + 1 :]
    if re.fullmatch(r"python3?(\.\d+)?", program) and tokens[i + 1 : i + 3] == ["-m", "daemon"]:
        return tokens[i + 3 :]
    return None


def ozon_sync_lines(text: str) -> list[list[str]]:
    """The arguments of every ozon-sync run in the guide's shell blocks."""
    found = []
    for line in shell_lines(text):
        for tokens in segments(line):
            args = invocation(tokens)
            if args is not None:
                found.append(args)
    return found


def is_option(token: str) -> bool:
    return token.startswith("--") or re.fullmatch(r"-[A-Za-z]", token) is not None


def option_problems(args: list[str]) -> list[str]:
    """What is wrong with `ozon-sync ARGS`: an unknown command, an option the command (or the
    root) does not have, a root option without its value. Empty when the CLI has it all."""
    root_options = options_of(ROOT)
    i = 0
    while i < len(args) and is_option(args[i]):
        spelling, has_value = args[i].split("=", 1)[0], "=" in args[i]
        param = root_options.get(spelling)
        if param is None and spelling not in HELP_OPTIONS:
            return [f"ozon-sync has no option {spelling}"]
        takes_value = param is not None and not getattr(param, "is_flag", False)
        if takes_value and not has_value and i + 1 >= len(args):
            return [f"{spelling} needs a value"]
        i += 2 if takes_value and not has_value else 1
    if i >= len(args):
        return []
    name = args[i]
    if name not in ROOT.commands:
        return [f"ozon-sync has no command {name!r} (it has {', '.join(COMMANDS)})"]
    known = options_of(ROOT.commands[name])
    problems = []
    rest = args[i + 1 :]
    for at, token in enumerate(rest):
        if not is_option(token):
            continue
        spelling = token.split("=", 1)[0]
        param = known.get(spelling)
        if param is None and spelling not in HELP_OPTIONS:
            problems.append(f"`ozon-sync {name}` has no option {spelling}")
        elif param is not None and not param.is_flag and "=" not in token and at + 1 >= len(rest):
            problems.append(f"`ozon-sync {name}`: {spelling} needs a value")
    return problems


def split_command(args: list[str]) -> tuple[list[str], str | None, list[str]]:
    """(root options, command name or None, the command's arguments) of `ozon-sync ARGS`,
    for arguments `option_problems` accepts."""
    root_options = options_of(ROOT)
    i = 0
    while i < len(args) and is_option(args[i]):
        param = root_options.get(args[i].split("=", 1)[0])
        takes_value = param is not None and not param.is_flag and "=" not in args[i]
        i += 2 if takes_value else 1
    if i >= len(args):
        return args, None, []
    return args[:i], args[i], args[i + 1 :]


def click_problems(args: list[str]) -> list[str]:
    """Let click parse `ozon-sync ARGS` and convert every value (types, ranges), without
    running any command: the root's and the command's `make_context` only."""
    root_args, name, command_args = split_command(args)
    try:
        with ROOT.make_context("ozon-sync", [*root_args, *([name] if name else [])]) as ctx:
            if name is not None:
                ROOT.commands[name].make_context(name, command_args, parent=ctx)
    except typer.Exit as done:  # --help shown
        return [] if done.exit_code == 0 else [f"exit {done.exit_code}"]
    except typer.TyperException as err:  # click's UsageError, BadParameter...
        return [f"{type(err).__name__}: {err}"]
    return []


def inline_commands(text: str) -> list[list[str]]:
    """Inline code outside code blocks that reads as a command line: `ozon-sync ...` or
    `COMMAND --option ...` (brackets of optional parts dropped)."""
    prose = ANY_BLOCK.sub("", text)
    found = []
    for span in INLINE_CODE.findall(prose):
        words = span.replace("[", " ").replace("]", " ").split()
        if not words:
            continue
        if words[0].rsplit("/", 1)[-1] == "ozon-sync":
            found.append(words[1:])
        elif words[0] in ROOT.commands and any(is_option(word) for word in words[1:]):
            found.append(words)
    return found


def missing_pending_options() -> dict[tuple[str, str], str]:
    """The PENDING_OPTIONS the CLI does not have yet, to the branch that adds each."""
    return {
        (name, option): branch
        for (name, option), (branch, _) in PENDING_OPTIONS.items()
        if name not in ROOT.commands or option not in options_of(ROOT.commands[name])
    }


def without_pending(args: list[str]) -> list[str]:
    """`ozon-sync ARGS` without the options (and their values) that the guides show ahead of
    the code: those of PENDING_OPTIONS the CLI does not have yet."""
    root_args, name, rest = split_command(args)
    missing = missing_pending_options()
    if name is None or not any((name, option) in missing for option, _ in _spellings(rest)):
        return args
    kept: list[str] = []
    skip = False
    for token, (option, inline_value) in zip(rest, _spellings(rest), strict=True):
        if skip:
            skip = False
        elif (name, option) in missing:
            skip = PENDING_OPTIONS[(name, option)][1] and not inline_value
        else:
            kept.append(token)
    return [*root_args, name, *kept]


def _spellings(tokens: list[str]) -> list[tuple[str, bool]]:
    """(the option's spelling or the token, whether it carries its value after `=`)."""
    return [(token.split("=", 1)[0], "=" in token) for token in tokens]


def checked_lines(text: str) -> list[list[str]]:
    """The guide's ozon-sync runs as the current code can check them (see without_pending)."""
    return [without_pending(args) for args in ozon_sync_lines(text)]


def model_has(dotted: str, model: type[BaseModel] = Config) -> bool:
    """Whether the config model has the key at this dotted path (`accounts.policy.remind_in`)."""
    current: type[BaseModel] | None = model
    for part in dotted.split("."):
        if current is None or part not in current.model_fields:
            return False
        found = _section_model(current.model_fields[part].annotation)
        current = found[0] if found is not None else None
    return True


def _drop(node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _drop(item, parts)
    elif isinstance(node, dict) and parts[0] in node:
        if len(parts) == 1:
            del node[parts[0]]
        else:
            _drop(node[parts[0]], parts[1:])


def toml_problems(block: str) -> list[str]:
    """What the daemon refuses in one TOML example of a guide (its own validation, cross-key
    checks and calendars included; secrets are not resolved). An example showing no
    `[[accounts]]` gets one; keys and events of PENDING_* the code lacks are left out."""
    try:
        raw = tomllib.loads(block)
    except tomllib.TOMLDecodeError as err:
        return [f"invalid TOML: {err}"]
    raw.setdefault("accounts", [{"name": "shop-1", "client_id": "123456", "api_key_env": "K"}])
    for dotted in PENDING_KEYS:
        if not model_has(dotted):
            _drop(raw, dotted.split("."))
    missing_events = {event for event in PENDING_EVENTS if event not in EVENTS}
    routes = raw.get("notify")
    for route in routes if isinstance(routes, list) else []:
        if isinstance(route, dict) and isinstance(route.get("events"), list):
            route["events"] = [event for event in route["events"] if event not in missing_events]
    try:
        parse_config(raw)
    except ConfigError as err:
        return err.problems
    return []


def real_runs(text: str, config: Path) -> list[list[str]]:
    """The guide's cheap ozon-sync lines (RUN_FOR_REAL, not asking for --help), each given
    `config` in place of its own --config."""
    runs = []
    for args in checked_lines(text):
        _, name, rest = split_command(args)
        if name in RUN_FOR_REAL and not HELP_OPTIONS & set(rest):
            runs.append(["--config", str(config), name, *rest])
    return runs


def guide_posting_numbers() -> list[str]:
    """Posting numbers the guides' hold/release/ack lines expect in the cache: an order number
    stands for its first posting; a number only given with --force (not synced yet) is not."""
    numbers: set[str] = set()
    for guide in GUIDES:
        for args in checked_lines(text_of(guide)):
            _, name, rest = split_command(args)
            if name in {"hold", "release", "ack"} and "--force" not in rest:
                for token in rest:
                    if POSTING_NUMBER.match(token):
                        numbers.add(token if token.count("-") == 2 else f"{token}-1")
    return sorted(numbers)


# `ozon-sync ARGV` for each ARGV read as JSON from stdin, one after the other in this process,
# through the real entry point (exit codes and one-line errors as a shell sees them); prints the
# exit code and the last stderr line of each as JSON.
DRIVER = """
import contextlib, io, json, sys
from daemon.cli import main
results = []
for argv in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else int(done.code is not None)
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    results.append({"argv": argv, "code": code, "stderr": lines[-1] if lines else ""})
print(json.dumps(results))
"""


def mentions_command(text: str, name: str) -> bool:
    return re.search(rf"(`|ozon-sync ){re.escape(name)}(?![A-Za-z0-9_-])", text) is not None


# ---------------------------------------------------------------- the tests


def test_the_derived_lists_are_not_empty() -> None:
    """Guards the derivations: the contract's commands and sections are all found."""
    assert {"run", "once", "status", "history", "check", "hold", "release", "demo"} <= set(COMMANDS)
    assert {"[daemon]", "[ozon]", "[[accounts]]", "[policy]", "[[notify]]", "[health]"} <= set(
        SECTIONS
    )
    assert {0, 1, 2, 69, 73, 74, 75, 77, 78} <= set(EXIT_CODES)


def test_sections_and_commands_added_later_are_required_too() -> None:
    """A table added to the model (optional or an array) is a section the guides must name;
    a command is found in prose only as `name` or `ozon-sync name`."""

    class Table(BaseModel):
        key: int = 0

    class Future(BaseModel):
        daemon: Table = Table()
        shops: list[Table] = []
        board: Table | None = None
        screens: typing.Annotated[list[Table], "meta"] = []
        path: str | None = None
        limits: list[int] = []

    assert config_sections(Future) == ["[daemon]", "[[shops]]", "[board]", "[[screens]]"]
    assert mentions_command("run `board --listen X` or `ack`", "board")
    assert mentions_command("ozon-sync ack 1", "ack")
    assert not mentions_command("the dashboard and a backlog", "board")
    assert not mentions_command("`hold-all`", "hold")


def test_the_parser_finds_what_a_shell_would_run() -> None:
    text = "\n".join(
        [
            "```sh",
            "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/ozon-sync demo",
            "sudo -u ozon-sync ozon-sync status --json | jq '.[]'  # a comment: ozon-sync x",
            "systemd-run --pty -p User=ozon-sync \\",
            "  /opt/ozon-sync/bin/ozon-sync --config /etc/ozon-sync/config.toml check --notify",
            "ln -s /opt/ozon-sync/bin/ozon-sync /usr/local/bin/ozon-sync",
            "systemctl status ozon-sync; journalctl -u ozon-sync -f",
            "OZON_SHOP1_KEY=k python -m daemon once --dry-run",
            "```",
        ]
    )
    assert ozon_sync_lines(text) == [
        ["demo"],
        ["status", "--json"],
        ["--config", "/etc/ozon-sync/config.toml", "check", "--notify"],
        ["once", "--dry-run"],
    ]
    assert option_problems(["status", "--json", "--all"]) == []
    assert option_problems(["status", "--watch"]) == ["`ozon-sync status` has no option --watch"]
    assert option_problems(["--config"]) == ["--config needs a value"]
    assert option_problems(["frobnicate"])[0].startswith("ozon-sync has no command 'frobnicate'")
    assert option_problems(["hold", "X", "--for"]) == ["`ozon-sync hold`: --for needs a value"]
    assert click_problems(["--config", "c.toml", "history", "--limit", "20"]) == []
    assert click_problems(["history", "--limit", "0"])[0].startswith("BadParameter")
    assert click_problems(["sandbox", "--port", "many"])[0].startswith("BadParameter")
    assert click_problems(["status", "--help"]) == []
    assert inline_commands("see `hold POSTING [--for DURATION]` and `systemctl status x`") == [
        ["hold", "POSTING", "--for", "DURATION"]
    ]


def test_the_english_readme_links_both_guides_at_the_top() -> None:
    top = "\n".join(text_of("README.md").splitlines()[:10])
    for guide in GUIDES:
        assert f"]({guide})" in top


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guide_links_back_and_to_the_other_guide_at_the_top(guide: str) -> None:
    top = "\n".join(text_of(guide).splitlines()[:10])
    assert "](README.md)" in top
    for other in GUIDES:
        if other != guide:
            assert f"]({other})" in top


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guide_mentions_every_command(guide: str) -> None:
    text = text_of(guide)
    missing = [name for name in COMMANDS if not mentions_command(text, name)]
    assert missing == [], f"{guide} does not mention these commands: {missing}"


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guide_mentions_every_config_section(guide: str) -> None:
    text = text_of(guide)
    missing = [section for section in SECTIONS if section not in text]
    assert missing == [], f"{guide} does not mention these config sections: {missing}"


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guide_explains_every_exit_code(guide: str) -> None:
    text = text_of(guide)
    missing = [
        code for code in EXIT_CODES if not re.search(rf"^\|\s*`?{code}`?\s*\|", text, re.MULTILINE)
    ]
    assert missing == [], f"{guide} has no exit-code table row for {missing}"


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guide_shows_the_english_readmes_demo_line_exactly(guide: str) -> None:
    demo = [line for line in shell_lines(text_of("README.md")) if "ozon-sync demo" in line]
    assert demo, "README.md has no demo line in a sh block"
    assert demo[0] in list(shell_lines(text_of(guide)))


@pytest.mark.parametrize("guide", GUIDES)
def test_every_shell_example_uses_commands_and_options_that_exist(guide: str) -> None:
    lines = checked_lines(text_of(guide))
    assert len(lines) >= 5, "the guide should show how to run ozon-sync"
    problems = [f"ozon-sync {' '.join(args)}: {p}" for args in lines for p in option_problems(args)]
    assert problems == []


@pytest.mark.parametrize("guide", GUIDES)
def test_every_inline_command_uses_options_that_exist(guide: str) -> None:
    spans = [without_pending(args) for args in inline_commands(text_of(guide))]
    problems = [f"`{' '.join(args)}`: {p}" for args in spans for p in option_problems(args)]
    assert problems == []


@pytest.mark.parametrize("guide", GUIDES)
def test_every_shell_example_has_values_click_accepts(guide: str) -> None:
    lines = checked_lines(text_of(guide))
    problems = [f"ozon-sync {' '.join(args)}: {p}" for args in lines for p in click_problems(args)]
    assert problems == []


@pytest.mark.parametrize("guide", GUIDES)
def test_every_shell_example_parses_with_help(guide: str) -> None:
    """Each `ozon-sync ...` line of the guide, with `--help` appended, is accepted by the CLI
    itself: click parses every option (and its value) before it shows the help and exits 0.
    Nothing is read, written or called."""
    runner = CliRunner()
    for args in checked_lines(text_of(guide)):
        # an option left without its value would take `--help` as its value and run the command
        assert option_problems(args) == []
        result = runner.invoke(app, [*args, "--help"], env={"OZON_SYNC_CONFIG": None})
        assert result.exit_code == 0, f"ozon-sync {' '.join(args)} --help: {result.output}"
        assert "Usage:" in result.output


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guide_has_an_apprise_url_for_each_chat_app(guide: str) -> None:
    urls = APPRISE_URL.findall(text_of(guide))
    for app_name, schemes in ROUTE_SCHEMES.items():
        assert any(url.split("://")[0] in schemes for url in urls), f"no {app_name} example"


@pytest.mark.parametrize("guide", GUIDES)
def test_every_apprise_url_of_the_guide_is_accepted_by_apprise(guide: str) -> None:
    """The examples have the real shape (placeholder tokens that Apprise's own syntax checks
    accept); building the plugin object sends nothing."""
    import apprise

    urls = sorted(set(APPRISE_URL.findall(text_of(guide))))
    assert urls
    rejected = [url for url in urls if apprise.Apprise.instantiate(url) is None]
    assert rejected == []


# ---------------------------------------------------------------- added with the second round


def test_the_example_config_sections_are_found() -> None:
    """Sections come from config.example.toml too, written or commented out, never a
    sub-table; both sources agree today."""
    text = "\n".join(
        [
            "[daemon]",
            "# [[accounts]]",
            "# [accounts.policy]",
            "# # Escalation level [0]: 0 = the alerts themselves",
            "#   [Service]",
            "# [board]  # optional",
        ]
    )
    assert example_sections(text) == ["[[accounts]]", "[board]", "[daemon]"]
    assert set(example_sections(text_of("config.example.toml"))) <= set(config_sections())


def test_pending_options_are_left_out_only_while_the_cli_lacks_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(PENDING_OPTIONS, ("status", "--watch"), ("x99", True))
    monkeypatch.setitem(PENDING_OPTIONS, ("history", "--json"), ("x98", False))
    assert missing_pending_options() == {("status", "--watch"): "x99"}
    assert without_pending(["--config", "c.toml", "status", "--watch", "5s", "--json"]) == [
        "--config",
        "c.toml",
        "status",
        "--json",
    ]
    assert without_pending(["status", "--watch=5s"]) == ["status"]
    assert without_pending(["history", "--json"]) == ["history", "--json"]  # the CLI has it
    assert without_pending(["hold", "--all", "--for", "6h"]) == ["hold", "--all", "--for", "6h"]
    assert without_pending(["--help"]) == ["--help"]
    assert option_problems(without_pending(["status", "--watch", "5s"])) == []
    assert option_problems(["status", "--watch", "5s"]) != []


def test_pending_keys_and_events_are_left_out_only_while_the_code_lacks_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block = '[daemon]\nwatchdog = "2m"\n\n[[notify]]\nurl_env = "X"\nevents = ["overdue", "paged"]'
    assert toml_problems(block) != []
    monkeypatch.setitem(PENDING_KEYS, "daemon.watchdog", "x99")
    monkeypatch.setitem(PENDING_EVENTS, "paged", "x99")
    monkeypatch.setitem(PENDING_KEYS, "daemon.timezone", "x98")  # the model has it: checked
    assert toml_problems(block) == []
    assert toml_problems('[daemon]\ntimezone = "Mars/Olympus"') != []


def test_toml_examples_are_checked_by_the_daemons_own_validation() -> None:
    assert model_has("policy.cancel.respect_advice")
    assert model_has("accounts.policy.escalate_after")
    assert not model_has("policy.cancel.frobnicate")
    assert not model_has("daemon.database.x")
    assert toml_problems('[policy]\nescalate_after = ["30m", "2h"]') == []
    assert toml_problems('[policy]\nescalate_after = ["2h", "30m"]')[0].startswith(
        "policy.escalate_after"
    )
    assert toml_problems("[policy]\nremind_befor = []")[0].startswith("policy.remind_befor")
    assert toml_problems('[[notify]]\nurl_env = "X"\nquiet_hours = "calendar:main"') != []
    assert toml_problems("[daemon\n")[0].startswith("invalid TOML")


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guide_names_every_event(guide: str) -> None:
    """Every event a route can filter on (`events = [...]`), today's and those of PENDING_EVENTS."""
    text = text_of(guide)
    missing = [
        event for event in sorted(set(EVENTS) | set(PENDING_EVENTS)) if f"`{event}`" not in text
    ]
    assert missing == [], f"{guide} does not name these events: {missing}"


@pytest.mark.parametrize("guide", GUIDES)
def test_every_toml_example_is_a_config_the_daemon_accepts(guide: str) -> None:
    blocks = TOML_BLOCK.findall(text_of(guide))
    assert len(blocks) >= 5
    problems = [(block.splitlines()[0], toml_problems(block)) for block in blocks]
    assert [item for item in problems if item[1]] == []


@pytest.fixture(scope="module")
def shop() -> Iterator[Sandbox]:
    """The sandbox with a few postings, the ones the guides' hold/release/ack lines name among
    them, due in 3 hours; no timed events, no rate limit."""
    options = SandboxOptions(scenario="bulk", postings=3, events=False, knobs=Knobs(rate_limit=0))
    with Sandbox(options) as sandbox:
        due = datetime.now(UTC) + timedelta(hours=3)
        for number in guide_posting_numbers():
            sandbox.app.add_posting(due, posting_number=number)
        yield sandbox


@pytest.mark.e2e
@pytest.mark.parametrize("guide", GUIDES)
def test_the_quick_shell_examples_work_against_the_sandbox(
    guide: str, shop: Sandbox, tmp_path: Path
) -> None:
    """Each `status`, `history`, `hold`, `release`, `ack`, `check` and `once` line of the guide
    runs, in the order shown, through the real entry point in a process of its own, against a
    database a first `once` synced from the sandbox (the config is the one `ozon-sync sandbox`
    prints to paste, with a database path), and exits 0."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[daemon]\ndatabase = "{tmp_path / "ozon-sync.db"}"\n\n'
        + config_snippet(shop.base_url, shop.options),
        encoding="utf-8",
    )
    runs = real_runs(text_of(guide), config)
    assert {args[2] for args in runs} >= {"status", "history", "hold", "release", "ack"}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps([["--config", str(config), "once"], *runs]),
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    failed = [
        f"ozon-sync {' '.join(item['argv'][2:])}: exit {item['code']}: {item['stderr']}"
        for item in results
        if item["code"] != 0
    ]
    assert failed == []
    assert len(results) == len(runs) + 1


def test_every_pending_entry_is_shown_by_a_guide() -> None:
    """PENDING_* list exactly what the guides show ahead of the code, so the list the lead
    checks after merging is the real one."""
    texts = [text_of(guide) for guide in GUIDES]
    shown = set()
    for text in texts:
        for args in [*ozon_sync_lines(text), *inline_commands(text)]:
            _, name, rest = split_command(args)
            shown |= {(name, option) for option, _ in _spellings(rest)}
    assert set(PENDING_OPTIONS) - shown == set()
    blocks = [tomllib.loads(block) for text in texts for block in TOML_BLOCK.findall(text)]
    assert [
        key for key in PENDING_KEYS if not any(_has(raw, key.split(".")) for raw in blocks)
    ] == []
    assert [
        event for event in PENDING_EVENTS if not all(f"`{event}`" in text for text in texts)
    ] == []


def _has(node: Any, parts: list[str]) -> bool:
    if isinstance(node, list):
        return any(_has(item, parts) for item in node)
    if not isinstance(node, dict) or parts[0] not in node:
        return False
    return len(parts) == 1 or _has(node[parts[0]], parts[1:])


def test_nothing_the_guides_show_still_waits_for_another_branch() -> None:
    """On main every branch the guides once ran ahead of is merged: whatever PENDING_* still
    name must be in the code (a guide describing something main lacks fails here, by name)."""
    waiting = [
        f"{name} {option} ({branch})"
        for (name, option), branch in missing_pending_options().items()
    ]
    waiting += [
        f"config key {key} ({branch})" for key, branch in PENDING_KEYS.items() if not model_has(key)
    ]
    waiting += [
        f"event {event} ({branch})"
        for event, branch in PENDING_EVENTS.items()
        if event not in EVENTS
    ]
    assert waiting == [], "the guides show these before their branches are merged"


def heading_anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation (full-width too) dropped,
    spaces to hyphens; letters of any script stay."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("guide", GUIDES)
def test_every_link_inside_the_guide_leads_to_a_heading(guide: str) -> None:
    text = text_of(guide)
    anchors = {
        heading_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", ANY_BLOCK.sub("", text), re.M)
    }
    assert (
        heading_anchor("## 工作日历：春节、国庆黄金周和调休".lstrip("# "))
        == "工作日历春节国庆黄金周和调休"
    )
    assert heading_anchor("Много магазинов: шарды") == "много-магазинов-шарды"
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links
    assert [link for link in links if link not in anchors] == []
