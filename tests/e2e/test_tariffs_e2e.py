"""Ozon's tariff and missing data through the installed command (issue 20): after `once`,
`status --json` gives each posting's `requirements` and `next_tariff_at` as the sandbox's
answers have them; a posting in its last tariff step (Ozon's 9999-12-31 marker) has null."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.e2e.conftest import RFC3339_Z, MakeDaemon, StartSandbox, sandbox_watched

pytestmark = pytest.mark.e2e


def parse_z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_status_json_gives_requirements_and_the_next_tariff_step(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo", "--no-events")
    daemon = make_daemon(sb.base_url)
    daemon.once_ok()

    expected = sandbox_watched(sb)
    shown = {item["posting_number"]: item for item in daemon.status()}
    assert set(expected) <= set(shown)
    markers = steps = 0
    for number, posting in expected.items():
        item = shown[number]
        wanted = sorted(name for name, skus in posting["requirements"].items() if skus)
        assert sorted(item["requirements"]) == wanted, number
        starts = posting["tariffication"]["next_tariff_starts_at"]
        if starts is None or starts.startswith("9999-12-31"):
            markers += 1
            assert item["next_tariff_at"] is None, number
        else:
            steps += 1
            assert RFC3339_Z.match(item["next_tariff_at"]), item
            assert parse_z(item["next_tariff_at"]) == parse_z(starts), number
    assert markers >= 1, "the demo's long-overdue postings are in their last tariff step"
    assert steps >= 3
    blocked = shown["10000009-0009-1"]
    assert sorted(blocked["requirements"]) == [
        "products_requiring_gtd",
        "products_requiring_mandatory_mark",
    ]
    assert all(item["requirements"] == [] for n, item in shown.items() if n != "10000009-0009-1")
