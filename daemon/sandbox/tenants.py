"""Many simulated seller accounts behind one sandbox (`--clients N`): one `SandboxApp` per
Client-Id, each with its own postings, Api-Key, knobs, recorded calls and rate limit.

Client 0 keeps the options' Client-Id and Api-Key, so a one-client sandbox is what it always
was; client i (i > 0) gets the Client-Id plus i (a numeric Client-Id, else `<id>-<i>`), the
Api-Key with `-<i>` appended and the seed plus i (its own postings). A request is answered by
the app of its `Client-Id` header; an unknown one by client 0, which refuses it (403). Admin
requests go to client 0 unless they carry a `Client-Id` header.

This module imports only the standard library and the sandbox's app.
"""

from __future__ import annotations

from dataclasses import replace

from daemon.sandbox.app import SandboxApp, SandboxOptions

__all__ = ["MAX_CLIENTS", "Tenants", "tenant_options"]

MAX_CLIENTS = 10_000


def tenant_options(options: SandboxOptions, index: int) -> SandboxOptions:
    """The options of client `index` of a sandbox started with `options`."""
    if index == 0:
        return options
    base = options.client_id
    client_id = str(int(base) + index) if base.isdigit() else f"{base}-{index}"
    return replace(
        options,
        client_id=client_id,
        api_key=f"{options.api_key}-{index}",
        seed=options.seed + index,
    )


class Tenants:
    """The sandbox's accounts, by Client-Id."""

    def __init__(self, options: SandboxOptions) -> None:
        if not 1 <= options.clients <= MAX_CLIENTS:
            raise ValueError(f"clients must be 1..{MAX_CLIENTS}: {options.clients}")
        self.apps = [SandboxApp(tenant_options(options, i)) for i in range(options.clients)]
        self._by_id = {app.options.client_id: app for app in self.apps}
        if len(self._by_id) != len(self.apps):
            raise ValueError(
                f"client ids of {options.clients} clients from {options.client_id!r} collide"
            )

    @property
    def first(self) -> SandboxApp:
        """Client 0."""
        return self.apps[0]

    def app_for(self, client_id: str | None) -> SandboxApp:
        """The app of `client_id`, else client 0 (which refuses an unknown Client-Id)."""
        return self._by_id.get(client_id or "", self.apps[0])

    def credentials(self) -> list[dict[str, str]]:
        """`[{"client_id", "api_key"}]` of every client, client 0 first."""
        return [
            {"client_id": app.options.client_id, "api_key": app.options.api_key}
            for app in self.apps
        ]

    def stop(self) -> None:
        """Wake every hanging or delayed answer (the server is stopping)."""
        for app in self.apps:
            app.stopping.set()
