"""The `/__sandbox__/...` admin endpoints: knobs and scenario verbs for tests in other processes.

- `GET  /__sandbox__/knobs`  -> the knobs as JSON
- `POST /__sandbox__/knobs`  `{"fail_next": 3, ...}` -> the knobs after the change (400 if bad)
- `POST /__sandbox__/action` `{"action": "ship", "posting_number": "..."}`; actions: `ship`,
  `pack`, `in_carriage`, `hand_over`, `cancel_by_buyer`, `move_deadline` (+ `shipment_date`),
  `split` (+ `parts`), `add_posting` (+ `shipment_date`, optional `posting_number`, `status`,
  `reasons`, `warehouse_id`, `warehouse_name`), `advance` (+ `seconds`) -> `{"ok": true, ...}`
- `GET  /__sandbox__/calls`  -> recorded API calls `[{path, body, at, client_id, status}]`
- `GET  /__sandbox__/cancels` -> every cancel request received, per posting:
  `{"posting_number": [200, 429, 0, ...]}` (the status answered to each; 0 = dropped)
- `GET  /__sandbox__/status/<posting_number>` -> `{"status": "..."}`
- `GET  /__sandbox__/postings` -> every posting `[{posting_number, status, shipment_date,
  in_process_at}]` (RFC 3339)

They need no key, are not rate limited, not faulted and not recorded. Errors answer 400/404
with `{"error": "..."}`.

This module imports only the standard library and the sandbox's own modules.
"""

from __future__ import annotations

import json
from typing import Any

from daemon.sandbox import wire
from daemon.sandbox.app import SandboxApp
from daemon.sandbox.clock import from_us, parse_rfc3339
from daemon.sandbox.knobs import CHANGES
from daemon.sandbox.lifecycle import TransitionError
from daemon.sandbox.methods import Answer

__all__ = ["PREFIX", "admin"]

PREFIX = "/__sandbox__/"


def _error(status: int, message: str) -> Answer:
    return Answer(status, wire.encode({"error": message}))


def _action(app: SandboxApp, data: dict[str, Any]) -> dict[str, Any]:
    action = data.get("action")
    number = str(data.get("posting_number") or "")
    if action in CHANGES:
        app.change(number, str(action))
        return {"ok": True}
    if action == "move_deadline":
        app.move_deadline(number, from_us(parse_rfc3339(data["shipment_date"])))
        return {"ok": True}
    if action == "split":
        return {"ok": True, "posting_numbers": app.split(number, int(data.get("parts", 2)))}
    if action == "add_posting":
        created = app.add_posting(
            from_us(parse_rfc3339(data["shipment_date"])),
            posting_number=data.get("posting_number"),
            status=str(data.get("status", "awaiting_packaging")),
            reasons=tuple(int(r) for r in data.get("reasons", (352, 400, 402))),
            warehouse_id=data.get("warehouse_id"),
            warehouse_name=_optional_text(data.get("warehouse_name"), "warehouse_name"),
        )
        return {"ok": True, "posting_number": created}
    if action == "advance":
        app.advance(float(data["seconds"]))
        return {"ok": True}
    raise ValueError(f"unknown action {action!r}")


def _optional_text(value: object, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    return value


def admin(app: SandboxApp, method: str, path: str, raw: bytes) -> Answer:
    """Answer one admin request (`path` starts with PREFIX)."""
    name = path[len(PREFIX) :]
    try:
        data = json.loads(raw or b"{}") if method == "POST" else {}
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        if name == "knobs":
            if method == "POST":
                app.set_knobs(data)
            with app.lock:
                return Answer(200, wire.encode(app.knobs.as_dict()))
        if name == "action" and method == "POST":
            return Answer(200, wire.encode(_action(app, data)))
        if name == "calls" and method == "GET":
            calls = [
                {"path": c.path, "body": c.body, "at": c.at, "client_id": c.client_id,
                 "status": c.status}
                for c in app.calls
            ]  # fmt: skip
            return Answer(200, wire.encode(calls))
        if name == "postings" and method == "GET":
            return Answer(200, wire.encode(app.deadlines()))
        if name == "cancels" and method == "GET":
            return Answer(200, wire.encode(app.cancel_requests()))
        if name.startswith("status/") and method == "GET":
            return Answer(200, wire.encode({"status": app.status(name[len("status/") :])}))
    except KeyError as err:
        return _error(404, f"no such posting or field: {err}")
    except (ValueError, TypeError, TransitionError) as err:
        return _error(400, str(err))
    return _error(404, f"no admin endpoint {method} {path}")
