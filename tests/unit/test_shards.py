"""Shards: the Client-Id hash is pinned (it must never change between releases), `N/M` is read
strictly, each shard has its own database beside the configured one, and a shard's view of the
config holds only its accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemon.config import ConfigError, parse_config
from daemon.shards import Shard, ShardError, database_files, shard_database, shard_of

# shard_of(client_id, M) for M = 1, 2, 3, 4, 7, 16: computed once with the documented formula
# (sha256 of the UTF-8 Client-Id, first 8 bytes big-endian, modulo M). Changing the hash moves
# accounts between shards on upgrade: these values must stay as they are.
PINNED = [
    ("100500", [0, 1, 1, 3, 4, 11]),
    ("100501", [0, 0, 1, 2, 3, 2]),
    ("123456", [0, 0, 1, 2, 3, 2]),
    ("1", [0, 1, 1, 1, 2, 1]),
    ("2", [0, 0, 1, 2, 3, 14]),
    ("3", [0, 1, 1, 3, 1, 11]),
    ("42", [0, 1, 0, 1, 2, 13]),
    ("987654321", [0, 0, 1, 0, 1, 0]),
    ("shop-7", [0, 1, 1, 3, 4, 3]),
    ("客户", [0, 1, 2, 3, 6, 3]),
]
COUNTS = (1, 2, 3, 4, 7, 16)


@pytest.mark.parametrize(("client_id", "shards"), PINNED, ids=[c for c, _ in PINNED])
def test_the_hash_of_a_client_id_is_pinned_across_releases(
    client_id: str, shards: list[int]
) -> None:
    assert [shard_of(client_id, count) for count in COUNTS] == shards


def test_the_hash_is_the_documented_formula() -> None:
    import hashlib

    digest = hashlib.sha256(b"100500").digest()
    assert int.from_bytes(digest[:8], "big") % 16 == shard_of("100500", 16) == 11


def test_every_client_id_has_exactly_one_shard_of_m() -> None:
    for number in range(200):
        owners = [n for n in range(5) if Shard(n, 5).owns(str(number))]
        assert len(owners) == 1


@pytest.mark.parametrize(
    ("text", "shard"),
    [
        ("0/1", Shard(0, 1)),
        ("1/2", Shard(1, 2)),
        (" 3 / 4 ", Shard(3, 4)),
        ("0/1024", Shard(0, 1024)),
    ],
)
def test_a_shard_is_read_from_n_slash_m(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard
    assert str(shard) == f"{shard.index}/{shard.count}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2/2", "shard 2/2 does not exist: N must be 0..1"),
        ("0/0", "the number of shards must be 1..1024, not 0"),
        ("0/1025", "the number of shards must be 1..1024, not 1025"),
        ("1", 'is not a shard such as "0/2"'),
        ("-1/2", 'is not a shard such as "0/2"'),
        ("a/b", 'is not a shard such as "0/2"'),
        ("", 'is not a shard such as "0/2"'),
    ],
)
def test_a_bad_shard_is_refused_saying_why(text: str, problem: str) -> None:
    with pytest.raises(ShardError) as caught:
        Shard.parse(text)
    assert problem in str(caught.value)


def test_each_shard_has_its_own_database_beside_the_configured_one(tmp_path: Path) -> None:
    base = tmp_path / "ozon-sync.db"
    assert shard_database(base, Shard(0, 1)) == base
    assert shard_database(base, Shard(0, 2)) == tmp_path / "ozon-sync-0.db"
    assert shard_database(base, Shard(3, 4)) == tmp_path / "ozon-sync-3.db"
    assert shard_database(tmp_path / "shop.sqlite", Shard(1, 2)) == tmp_path / "shop-1.sqlite"


def test_the_databases_of_every_shard_are_found_beside_the_configured_one(tmp_path: Path) -> None:
    base = tmp_path / "ozon-sync.db"
    assert database_files(base) == []
    names = "ozon-sync-1.db ozon-sync-10.db ozon-sync-0.db ozon-sync.db ozon-sync-0.db-wal"
    others = "ozon-sync-0.db.lock ozon-sync-x.db other-0.db ozon-sync-2026.db ozon-sync-1-2.db"
    for name in f"{names} {others}".split():
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in database_files(base)] == [
        "ozon-sync.db", "ozon-sync-0.db", "ozon-sync-1.db", "ozon-sync-10.db",
    ]  # fmt: skip


def _config(**daemon: Any) -> dict[str, Any]:
    return {
        "daemon": daemon,
        "health": {"listen": "127.0.0.1:9464"},
        "board": {"listen": "127.0.0.1:9465"},
        "accounts": [
            {"name": f"shop-{n}", "client_id": str(100500 + n), "api_key": "k" * 20}
            for n in range(10)
        ],
    }


def test_a_shards_view_holds_only_its_accounts_its_database_and_moved_ports(tmp_path: Path) -> None:
    config = parse_config({**_config(shard="1/2", database="s.db")}, tmp_path / "config.toml")
    view = config.shard_view()
    expected = [f"shop-{n}" for n in range(10) if shard_of(str(100500 + n), 2) == 1]
    assert [a.name for a in view.accounts] == expected
    assert view.database_path() == tmp_path / "s-1.db"
    assert config.base_database_path() == tmp_path / "s.db"
    assert (view.health.listen, view.board.listen) == ("127.0.0.1:9465", "127.0.0.1:9466")
    other = config.shard_view(Shard(0, 2))
    assert {a.name for a in other.accounts} | set(expected) == {f"shop-{n}" for n in range(10)}
    assert not {a.name for a in other.accounts} & set(expected)
    assert other.health.listen == "127.0.0.1:9464"


def test_without_the_port_offset_every_shard_listens_on_the_configured_port() -> None:
    view = parse_config(_config(shard="1/2", shard_port_offset=False)).shard_view()
    assert view.health.listen == "127.0.0.1:9464"


def test_the_default_shard_is_every_account_in_the_configured_database(tmp_path: Path) -> None:
    config = parse_config({**_config(database="s.db")}, tmp_path / "config.toml")
    assert str(config.daemon.shard) == "0/1"
    assert len(config.shard_view().accounts) == 10
    assert config.database_path() == tmp_path / "s.db"


@pytest.mark.parametrize(
    ("daemon", "problem"),
    [
        ({"shard": "2/2"}, "daemon.shard: shard 2/2 does not exist: N must be 0..1"),
        ({"shard": 1}, 'daemon.shard: "1" is not a shard such as "0/2"'),
        ({"shard": "0/3", "shard_port_offset": "maybe"}, "daemon.shard_port_offset"),
    ],
)
def test_a_bad_shard_key_is_a_config_problem_named_by_its_path(
    daemon: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(**daemon))
    assert problem in str(caught.value)


def test_a_port_that_a_later_shard_cannot_use_is_refused_at_load() -> None:
    raw = _config(shard="0/3")
    raw["health"] = {"listen": "127.0.0.1:65534"}
    with pytest.raises(ConfigError, match=r"health.listen: port 65534 \+ shard 2 passes 65535"):
        parse_config(raw)
