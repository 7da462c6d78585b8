"""The board as a Starlette application (CONTRACT section 7, "Board HTTP interface").

    GET  /                                    the page (templates/board.html)
    GET  /api/postings                        JSON array of `status --json` elements
    GET  /api/sync                            each account's last successful sync, staleness
    POST /api/postings/{number}/ack           {"by": "name"}
    POST /api/postings/{number}/hold          {"for": "2d"} or {}
    POST /api/postings/{number}/release       {}
    GET  /login, POST /login, POST /logout    the session cookie for browsers
    GET  /static/...                          the page's script and styles, from the package

Writes answer 200 with the updated element, 401 without a valid token (daemon.web.auth), 400
for a bad body, 404 for an unknown posting; every error is JSON `{"error": "..."}`. Every
answer carries a strict Content-Security-Policy (scripts and styles only from /static, no
inline script), `nosniff`, no framing and no referrer. Outside text reaches the page only
through the template engine's escaping or the script's `textContent`.

Imports Starlette, Jinja2, daemon.web's auth, data and texts, and daemon.durations.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daemon.durations import parse_duration
from daemon.web.auth import (
    LOGIN_AGE,
    LOGIN_COOKIE,
    SESSION_AGE,
    SESSION_COOKIE,
    BoardAuth,
    Refusal,
)
from daemon.web.data import BoardData, UnknownPosting
from daemon.web.texts import texts_for

__all__ = ["REFRESH_SECONDS", "SHOW_AT_MOST", "board_app"]

HERE = Path(__file__).parent
MAX_BODY = 4096  # bytes: every body the board takes is a few words
REFRESH_SECONDS = 15
SHOW_AT_MOST = 500  # rows the page draws; the rest are counted
LOGIN_FAILURE_DELAY = 1.0  # seconds: slows down guessing the token through the form
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class BadBody(ValueError):
    """The request body is not what the endpoint takes (400)."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": message}, status_code=status, headers={"cache-control": "no-store"}
    )


class _SecurityHeaders:
    """Adds SECURITY_HEADERS to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _read_body(request: Request) -> bytes:
    """The body, refused (BadBody) past MAX_BODY bytes without reading the rest."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadBody(f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_object(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The body as a JSON object with no key but `allowed` (an empty body is `{}`)."""
    raw = await _read_body(request)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadBody("the body is not JSON") from err
    if not isinstance(data, dict):
        raise BadBody("the body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        known = ", ".join(f'"{key}"' for key in sorted(allowed)) or "none"
        raise BadBody(f"unknown key {', '.join(unknown)} (this endpoint takes {known})")
    return data


def _duration(value: Any) -> timedelta | None:
    if value is None:
        return None
    duration = parse_duration(value) if isinstance(value, str) else None
    if duration is None or duration.total_seconds() <= 0:
        raise BadBody('"for" must be a duration such as "2h" or "2d"')
    return duration


def board_app(
    data: BoardData,
    auth: BoardAuth,
    *,
    language: str = "en",
    zone: ZoneInfo | None = None,
) -> Starlette:
    """The board's ASGI application over `data`, guarded by `auth`, its page in `language`
    with deadlines in `zone` (and Moscow time)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True
    )
    templates = Jinja2Templates(env=environment)
    texts = texts_for(language)
    zone_name = zone.key if zone is not None else "Europe/Moscow"

    # -- the page and the login ----------------------------------------------------------------

    async def page(request: Request) -> Response:
        if auth.reads_need_token and not (auth.bearer_ok(request) or auth.session(request)):
            return RedirectResponse("login", status_code=303)
        session = auth.session(request)
        settings = {
            "language": language,
            "zone": zone_name,
            "can_write": auth.can_write,
            "logged_in": session is not None,
            "csrf": auth.csrf_token(session) if session else None,
            "refresh_seconds": REFRESH_SECONDS,
            "show_at_most": SHOW_AT_MOST,
        }
        return templates.TemplateResponse(
            request,
            "board.html",
            {"texts": texts, "settings": settings, "language": language},
            headers={"cache-control": "no-store"},
        )

    async def login_form(request: Request) -> Response:
        if not auth.can_write:
            return RedirectResponse("./", status_code=303)
        return _login_page(request, wrong=False)

    def _login_page(request: Request, *, wrong: bool) -> Response:
        nonce = auth.new_login_nonce()
        response = templates.TemplateResponse(
            request,
            "login.html",
            {"texts": texts, "nonce": nonce, "wrong": wrong, "language": language},
            status_code=401 if wrong else 200,
            headers={"cache-control": "no-store"},
        )
        auth.set_cookie(response, request, LOGIN_COOKIE, nonce, LOGIN_AGE)
        return response

    async def login(request: Request) -> Response:
        if not auth.can_write:
            return RedirectResponse("./", status_code=303)
        try:
            form = urllib.parse.parse_qs((await _read_body(request)).decode("utf-8"))
        except (BadBody, UnicodeDecodeError):
            return _error(400, "the login form is too large or not text")
        nonce = form.get("csrf", [""])[0]
        if not auth.login_nonce_ok(request, nonce):
            return _error(400, "the login form expired or came from elsewhere: reload it")
        if not auth.token_ok(form.get("token", [""])[0]):
            await asyncio.sleep(LOGIN_FAILURE_DELAY)
            return _login_page(request, wrong=True)
        response = RedirectResponse("./", status_code=303)
        auth.set_cookie(response, request, SESSION_COOKIE, auth.new_session(), SESSION_AGE)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    async def logout(request: Request) -> Response:
        try:
            form = urllib.parse.parse_qs((await _read_body(request)).decode("utf-8"))
            auth.check_write(request, form.get("csrf", [""])[0])
        except (BadBody, UnicodeDecodeError):
            return _error(400, "the form is too large or not text")
        except Refusal as err:
            return _error(401, str(err))
        response = RedirectResponse("./", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- the JSON interface --------------------------------------------------------------------

    async def postings(request: Request) -> Response:
        auth.check_read(request)
        compress = "gzip" in request.headers.get("accept-encoding", "")
        body = await asyncio.to_thread(lambda: data.postings_json(compress=compress))
        headers = {"cache-control": "no-store", "vary": "accept-encoding"}
        if compress:
            headers["content-encoding"] = "gzip"
        return Response(body, media_type="application/json", headers=headers)

    async def sync(request: Request) -> Response:
        auth.check_read(request)
        return JSONResponse(
            await asyncio.to_thread(data.sync), headers={"cache-control": "no-store"}
        )

    def write(
        allowed: set[str], act: Callable[[str, dict[str, Any]], dict[str, Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            auth.check_write(request)
            body = await _json_object(request, allowed)
            number = request.path_params["posting_number"]
            element = await asyncio.to_thread(lambda: act(number, body))
            return JSONResponse(element, headers={"cache-control": "no-store"})

        return endpoint

    def ack(number: str, body: dict[str, Any]) -> dict[str, Any]:
        by = body.get("by")
        if not isinstance(by, str):
            raise BadBody('give who takes it in hand: {"by": "name"}')
        try:
            return data.acknowledge(number, by)
        except ValueError as err:  # the name (UnknownPosting is no ValueError)
            raise BadBody(str(err)) from err

    def hold(number: str, body: dict[str, Any]) -> dict[str, Any]:
        return data.hold(number, _duration(body.get("for")))

    def release(number: str, body: dict[str, Any]) -> dict[str, Any]:
        return data.release(number)

    # -- errors as JSON ------------------------------------------------------------------------

    async def refused(request: Request, exc: Exception) -> Response:
        return _error(401, str(exc))

    async def bad_body(request: Request, exc: Exception) -> Response:
        return _error(400, str(exc))

    async def unknown(request: Request, exc: Exception) -> Response:
        return _error(404, str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101 - registered for it alone
        return _error(exc.status_code, exc.detail)

    number = "/api/postings/{posting_number}"
    routes = [
        Route("/", page, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/postings", postings, methods=["GET"]),
        Route("/api/sync", sync, methods=["GET"]),
        Route(f"{number}/ack", write({"by"}, ack), methods=["POST"]),
        Route(f"{number}/hold", write({"for"}, hold), methods=["POST"]),
        Route(f"{number}/release", write(set(), release), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            Refusal: refused,
            BadBody: bad_body,
            UnknownPosting: unknown,
            HTTPException: http_error,
        },
    )
    app.add_middleware(_SecurityHeaders)
    return app
