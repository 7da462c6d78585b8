"""Secrets: API keys and notification URLs, read from exactly one source each.

A secret comes from an environment variable, a file, a systemd credential
(`$CREDENTIALS_DIRECTORY`, see LoadCredential=) or the config itself. `Secret` never shows its
value in a repr or str; only `reveal()` does, where the value is sent to its owner.

Imports the standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["Secret", "api_key_problem", "read_secret", "reason", "set_sources", "source_names"]


class Secret:
    """A secret string (API key, a URL holding a token) that never shows itself in a repr/str."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value; call this only where the value is sent to its owner."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def source_names(prefix: str) -> dict[str, str]:
    return {
        "env": f"{prefix}_env",
        "file": f"{prefix}_file",
        "credential": f"{prefix}_credential",
        "inline": prefix,
    }


def set_sources(model: object, prefix: str) -> dict[str, str]:
    return {
        kind: name
        for kind, name in source_names(prefix).items()
        if getattr(model, name) is not None
    }


def reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return type(err).__name__


def read_secret(
    model: object,
    prefix: str,
    where: str,
    owner: str,
    env: Mapping[str, str],
    problems: list[str],
    check: Callable[[str], str | None] | None = None,
) -> Secret | None:
    """Read the secret `prefix` of `model` (an account's API key, a route's URL...) from the one
    source it names. `where` is the dotted path of the model (`accounts[0]`), `owner` names it
    in words (`account "shop-1"`). Surrounding whitespace is stripped from a file or a
    credential (editors end files with a newline), never from an inline value or a variable.
    `check(value)` returns what makes the value unusable, or None.

    Returns the Secret, or None after appending a problem to `problems`. No problem ever
    quotes the value, nor the variable, file or credential it names (a key pasted there is
    still the key): the dotted path says which key to look at.
    """
    sources = set_sources(model, prefix)
    if len(sources) != 1:
        return None  # already reported by validation
    kind, field = next(iter(sources.items()))
    ref = getattr(model, field)
    path = f"{where}.{field}"
    value: str | None
    if kind == "inline":
        value = ref
        what = f"the {_WORDS.get(prefix, prefix)} of {owner}"
        if not value:
            problems.append(f"{path}: {what} is empty")
            return None
    elif kind == "env":
        value = env.get(ref)
        what = f"the environment variable named for {owner}"
        if not value:
            problems.append(f"{path}: {what} {'is empty' if ref in env else 'is not set'}")
            return None
    elif kind == "file":
        what = f"the file named for {owner}"
        value = _read_file(Path(ref), path, what, problems)
    else:
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            problems.append(
                f"{path}: the systemd credential named for {owner} is not available "
                "($CREDENTIALS_DIRECTORY is not set; use LoadCredential= in the unit)"
            )
            return None
        what = f"the systemd credential named for {owner}"
        value = _read_file(Path(directory) / ref, path, what, problems)
    if value is None:
        return None
    problem = check(value) if check is not None else None
    if problem is not None:
        held = what if kind == "inline" else f"the {_WORDS.get(prefix, prefix)} in {what}"
        problems.append(f"{path}: {held} {problem}")
        return None
    return Secret(value)


_WORDS = {"api_key": "API key", "url": "URL", "heartbeat_url": "heartbeat URL"}


def _read_file(file: Path, path: str, what: str, problems: list[str]) -> str | None:
    try:
        value = file.expanduser().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        problems.append(f"{path}: {what} does not exist")
        return None
    except (OSError, UnicodeDecodeError, ValueError, RuntimeError) as err:  # RuntimeError: ~user
        problems.append(f"{path}: {what} cannot be read ({reason(err)})")
        return None
    if not value:
        problems.append(f"{path}: {what} is empty")
        return None
    return value


_HEADER_SAFE = re.compile(r"^[!-~]+$")  # visible ASCII: what an HTTP header carries as it is


def api_key_problem(value: str) -> str | None:
    """What makes `value` unusable as an Api-Key header, None when nothing does. The text never
    quotes the value."""
    if _HEADER_SAFE.match(value):
        return None
    if any(char.isspace() for char in value):
        return "has whitespace around or inside it; remove it"
    return (
        "has a character that is not visible ASCII (Ozon API keys are Latin letters, digits "
        "and dashes); copy it again from the seller account"
    )
