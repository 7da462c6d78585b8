"""Secrets: API keys and notification URLs, read from exactly one source each.

A secret comes from an environment variable, a file, a systemd credential
(`$CREDENTIALS_DIRECTORY`, see LoadCredential=) or the config itself. `Secret` never shows its
value in a repr or str; only `reveal()` does, where the value is sent to its owner.

Imports pydantic and the standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

__all__ = ["Secret", "read_secret", "reason", "set_sources", "source_names"]


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


def set_sources(model: BaseModel, prefix: str) -> dict[str, str]:
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
    model: BaseModel,
    prefix: str,
    where: str,
    owner: str,
    env: Mapping[str, str],
    problems: list[str],
) -> Secret | None:
    sources = set_sources(model, prefix)
    if len(sources) != 1:
        return None  # already reported by validation
    kind, field = next(iter(sources.items()))
    ref = getattr(model, field)
    path = f"{where}.{field}"
    if kind == "inline":
        if not ref:
            problems.append(f"{path}: the {prefix} of {owner} is empty")
            return None
        return Secret(ref)
    if kind == "env":
        value = env.get(ref)
        if not value:
            state = "is empty" if ref in env else "is not set"
            problems.append(f"{path}: environment variable {ref} of {owner} {state}")
            return None
        return Secret(value.strip())
    if kind == "file":
        return _read_file(Path(ref).expanduser(), path, f"file {ref} of {owner}", problems)
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        problems.append(
            f"{path}: systemd credential {ref} of {owner} is not available "
            "($CREDENTIALS_DIRECTORY is not set; use LoadCredential= in the unit)"
        )
        return None
    return _read_file(Path(directory) / ref, path, f"systemd credential {ref} of {owner}", problems)


def _read_file(file: Path, path: str, what: str, problems: list[str]) -> Secret | None:
    try:
        value = file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        problems.append(f"{path}: {what} does not exist")
        return None
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"{path}: {what} cannot be read ({reason(err)})")
        return None
    if not value:
        problems.append(f"{path}: {what} is empty")
        return None
    return Secret(value)
