"""Shards: which process of M owns which accounts, and where each shard keeps its database.

A shard is written `N/M` (0 <= N < M): the process runs the accounts whose Client-Id hashes to
N of M. The hash is fixed forever, because changing it moves accounts between shards:

    shard_of(client_id, M) = int.from_bytes(sha256(client_id as UTF-8)[:8], "big") % M

(the first 8 bytes of the SHA-256 digest, big-endian, modulo M). It depends on nothing but the
Client-Id's text, so every release, machine and Python version agrees; entries of one shop
split by warehouse share a Client-Id and so always share a shard. `tests/unit/test_shards.py`
pins a table of values.

With M > 1 a shard's database is `<stem>-<N><suffix>` beside the configured one
(`ozon-sync.db` -> `ozon-sync-0.db`); `0/1`, the default, keeps the configured path itself.
`database_files(path)` finds the configured database and every shard database beside it, which
`status` and `history` read and merge.

This module imports only the standard library.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MAX_SHARDS", "Shard", "ShardError", "database_files", "shard_database", "shard_of"]

MAX_SHARDS = 1024  # far beyond any sane split; keeps typos such as "0/10000000" out
_SHARD = re.compile(r"^\s*(\d{1,6})\s*/\s*(\d{1,6})\s*$")


class ShardError(ValueError):
    """A shard text that is not `N/M` with 0 <= N < M <= MAX_SHARDS (the message says why)."""


@dataclass(frozen=True, order=True)
class Shard:
    """Shard `index` of `count` (0-based); `Shard(0, 1)` is every account."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ShardError(f"the number of shards must be 1..{MAX_SHARDS}, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ShardError(
                f"shard {self.index}/{self.count} does not exist: N must be 0..{self.count - 1}"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`"1/4"` -> Shard(1, 4); raises ShardError naming what is wrong."""
        match = _SHARD.match(text) if isinstance(text, str) else None
        if match is None:
            raise ShardError(f'"{text}" is not a shard such as "0/2" (N/M, 0 <= N < M)')
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def sharded(self) -> bool:
        """True when the accounts are split (more than one shard)."""
        return self.count > 1

    def owns(self, client_id: str) -> bool:
        """True when the account with this Client-Id belongs to this shard."""
        return shard_of(client_id, self.count) == self.index


def shard_of(client_id: str, count: int) -> int:
    """The shard (0..count-1) of a Client-Id: see the module docstring; never change it."""
    if count < 1:
        raise ShardError(f"the number of shards must be at least 1, not {count}")
    digest = hashlib.sha256(client_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def shard_database(path: Path, shard: Shard) -> Path:
    """The database of `shard` given the configured database `path`: `path` itself for an
    unsharded process, else `<stem>-<N><suffix>` beside it."""
    if not shard.sharded:
        return path
    return path.with_name(f"{path.stem}-{shard.index}{path.suffix}")


def database_files(path: Path) -> list[Path]:
    """The configured database `path` (if it exists) and every shard database beside it
    (`<stem>-<N><suffix>`, N below MAX_SHARDS: `ozon-sync-2026.db` is no shard's), the
    unsharded one first, then by N. Empty when there is none."""
    found: list[tuple[int, Path]] = []
    if path.is_file():
        found.append((-1, path))
    pattern = re.compile(re.escape(path.stem) + r"-(\d{1,4})" + re.escape(path.suffix) + "$")
    try:
        entries = list(path.parent.iterdir())
    except OSError:  # a folder we cannot list: only the configured file, if any
        entries = []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is not None and int(match[1]) < MAX_SHARDS and entry.is_file():
            found.append((int(match[1]), entry))
    return [file for _, file in sorted(found)]
