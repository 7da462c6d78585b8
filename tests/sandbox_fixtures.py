"""Pytest fixtures that start the simulated Ozon Seller API (daemon.sandbox) for a test.

- `sandbox`: the `demo` scenario (12 postings, events in the first 20 s) served in a thread,
  with the rate limit off; stopped after the test.
- `make_sandbox(**options)`: a factory for any `SandboxOptions` (scenario, postings, knobs,
  clock, monotonic...); every sandbox it makes is stopped after the test.
- `sandbox_process(*args)`: a factory for `python -m daemon.sandbox` in its own process
  (for end-to-end tests and benchmarks); stopped (SIGTERM) after the test.

Import them from tests/conftest.py (`from tests.sandbox_fixtures import ...  # noqa: F401`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from daemon.sandbox import Knobs, Sandbox, SandboxOptions, SandboxProcess

__all__ = ["make_sandbox", "sandbox", "sandbox_process"]

MakeSandbox = Callable[..., Sandbox]


@pytest.fixture
def make_sandbox() -> Iterator[MakeSandbox]:
    """A factory: `make_sandbox(scenario="bulk", postings=500, knobs=Knobs(...))` -> started."""
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        options.setdefault("scenario", "demo")
        options.setdefault("knobs", Knobs(rate_limit=0))
        sandbox = Sandbox(SandboxOptions(**options)).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: MakeSandbox) -> Sandbox:
    """A started `demo` sandbox without a rate limit."""
    return make_sandbox()


@pytest.fixture
def sandbox_process() -> Iterator[Callable[..., SandboxProcess]]:
    """A factory: `sandbox_process("--postings", "1000")` -> a started SandboxProcess."""
    started: list[SandboxProcess] = []

    def make(*args: str) -> SandboxProcess:
        process = SandboxProcess(*args).start()
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()
