"""`[board]`: where the packer's board listens, its token, its language.

`BoardSection` is the config table (pydantic, checked with the rest of the file): `listen` is
`HOST:PORT`; the token comes from at most one of `token_env`, `token_file`, `token_credential`,
`token` (the same sources as API keys); a board listening on anything but a loopback address
must have one, since its reads would otherwise be open to the network. `read_token` reads the
token from its source and checks it is fit to be a bearer token.

Imports pydantic, the standard library and daemon.secrets only: daemon.config imports this
module, so it must not import the config, the store or anything of the web app.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from daemon.secrets import Secret, read_secret, set_sources, source_names

__all__ = [
    "DEFAULT_PORT",
    "TOKEN_MIN_LENGTH",
    "BoardListenError",
    "BoardSection",
    "ListenError",
    "is_loopback",
    "read_token",
    "split_listen",
]

DEFAULT_PORT = 9465
TOKEN_MIN_LENGTH = 16
TOKEN_SOURCES = "token_env, token_file, token_credential or token"  # noqa: S105 - key names


class ListenError(ValueError):
    """A listen address that is not HOST:PORT."""


class BoardListenError(OSError):
    """The board's address cannot be bound (taken, not this machine's, not allowed)."""


def split_listen(text: str) -> tuple[str, int]:
    """`"127.0.0.1:9465"`, `"[::1]:9465"`, `"localhost:9465"` -> (host, port); raises
    ListenError for anything else (no port, a port above 65535, an empty host). Port 0 picks
    a free port (the `board_listening` log line and `board`'s output say which)."""
    host, _, port = text.rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit() or not 0 <= int(port) < 65536 or any(c in host for c in "/ "):
        raise ListenError(f'"{text}" is not HOST:PORT such as "127.0.0.1:{DEFAULT_PORT}"')
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches: 127.0.0.0/8, ::1 and `localhost`."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to anything


def _listen(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("listen", 'must be HOST:PORT text such as "127.0.0.1:9465"')
    try:
        split_listen(value)
    except ListenError as err:
        raise PydanticCustomError("listen", str(err)) from None
    return value


def _masked(value: str | None) -> str | None:
    return None if value is None else "***"


class BoardSection(BaseModel):
    """The `[board]` table; `listen` None means no board in `run`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The token sources come first: `listen` is checked against them.
    token_env: str | None = None
    token_file: str | None = None
    token_credential: str | None = None
    # An inline token is shown as *** wherever the config is printed (`check`).
    token: Annotated[str | None, PlainSerializer(_masked)] = Field(default=None, repr=False)
    listen: Annotated[str, BeforeValidator(_listen)] | None = None
    language: Literal["en", "zh", "ru"] | None = None

    @field_validator("listen")
    @classmethod
    def _open_only_with_a_token(cls, listen: str | None, info: ValidationInfo) -> str | None:
        sources = [name for name in source_names("token").values() if info.data.get(name)]
        if listen is not None and not sources and not is_loopback(split_listen(listen)[0]):
            raise PydanticCustomError(
                "board_listen",
                '"{listen}" is not a loopback address, so anyone on the network could read '
                "the board: set a token ({sources}) or listen on 127.0.0.1",
                {"listen": listen, "sources": TOKEN_SOURCES},
            )
        return listen

    @model_validator(mode="after")
    def _one_token_source(self) -> Self:
        sources = self.secret_fields()
        if len(sources) > 1:
            raise PydanticCustomError(
                "board_token",
                "sets {fields}; set at most one token source",
                {"fields": " and ".join(sources.values())},
            )
        return self

    def secret_fields(self) -> dict[str, str]:
        """The token-source fields set: {kind: field name} (none: a read-only board)."""
        return set_sources(self, "token")


def read_token(section: BoardSection, env: Mapping[str, str], problems: list[str]) -> Secret | None:
    """The board token from its one source (None when the section names none), appending to
    `problems` (dotted paths, never the value) when it is missing, empty, shorter than
    TOKEN_MIN_LENGTH or not plain visible ASCII (it travels in an HTTP header)."""
    if not section.secret_fields():
        return None
    token = read_secret(section, "token", "board", "the board", env, problems)
    if token is None:
        return None
    field = next(iter(section.secret_fields().values()))
    value = token.reveal()
    if len(value) < TOKEN_MIN_LENGTH:
        problems.append(
            f"board.{field}: the board token is shorter than {TOKEN_MIN_LENGTH} characters; "
            "use a long random one (openssl rand -hex 24)"
        )
        return None
    if not (value.isascii() and value.isprintable()) or " " in value:
        problems.append(
            f"board.{field}: the board token must be visible ASCII characters without spaces"
        )
        return None
    return token
