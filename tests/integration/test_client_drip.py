"""A server dripping its answer a byte at a time: `[ozon] timeout` bounds the whole exchange of
one request (httpx alone bounds each read, so such a server held one request for minutes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from daemon.ozon import OzonClient, OzonUnavailable, RateLimiter

NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
BODY = b'{"result": {"postings": [], "has_next": false, "cursor": ""}}'


@pytest.fixture
async def dripping() -> AsyncIterator[str]:
    """A loopback HTTP server answering 200 with its body one byte every 0.2 s."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(BODY)}\r\n\r\n"
            )
            writer.write(head.encode())
            for byte in BODY:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"
        server.close()


async def test_a_dripping_answer_ends_within_the_timeout_and_the_retry_budget(
    dripping: str,
) -> None:
    client = OzonClient(
        "123456", "test-api-key", base_url=dripping, timeout=1.0, retry_for=2.0,
        wall_clock=lambda: NOW, rate_limiter=RateLimiter(1e9),
    )  # fmt: skip
    started = time.monotonic()
    async with client:
        listing = client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW)
        with pytest.raises(OzonUnavailable) as caught:
            [page async for page in listing]
    took = time.monotonic() - started
    # the body alone takes 0.2 s x 60 bytes = 12 s per attempt; each attempt is cut at 1 s
    assert took < 8, took
    assert "no complete answer within 1 s" in str(caught.value)
