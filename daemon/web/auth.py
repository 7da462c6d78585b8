"""Who may read and write the board: the board token, the login session, CSRF tokens.

- A request carries the token as `Authorization: Bearer TOKEN` (scripts), or the session cookie
  the login form sets (browsers: `HttpOnly`, `SameSite=Strict`, `Secure` over HTTPS).
- The session cookie is `ISSUED.MAC`: when it was issued (Unix seconds) and an HMAC of that
  under a key derived from the token, so it needs no server-side state, survives a restart and
  dies with a changed token or after SESSION_AGE.
- Every write authenticated by the cookie must also carry the page's CSRF token
  (`X-CSRF-Token`, or the form field `csrf`), an HMAC of the session value; a bearer request
  needs none (no browser sends that header on its own). The login form itself is protected by a
  double-submit nonce (a cookie and a hidden field that must match).
- Without a token configured the board is read-only: every write is refused. Reads need the
  token only when the board listens on a non-loopback address (`reads_need_token`).

Tokens are compared in constant time and never logged. Imports Starlette and the standard
library, and daemon.secrets for the token's type.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from starlette.requests import HTTPConnection
from starlette.responses import Response

from daemon.secrets import Secret

__all__ = [
    "CSRF_HEADER",
    "LOGIN_COOKIE",
    "SESSION_AGE",
    "SESSION_COOKIE",
    "BoardAuth",
    "Refusal",
]

SESSION_COOKIE = "ozon_sync_board"
LOGIN_COOKIE = "ozon_sync_login"
CSRF_HEADER = "x-csrf-token"
SESSION_AGE = 90 * 86_400  # seconds a login lasts: a wall screen should not log out monthly
LOGIN_AGE = 3600  # seconds a login form stays usable


class Refusal(Exception):
    """A request refused for want of a valid token: its message is the JSON error text."""


class BoardAuth:
    """The board's access rules for one token (None: a read-only board).

    `clock` gives Unix seconds (tests move it).
    """

    def __init__(
        self,
        token: Secret | None,
        *,
        reads_need_token: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token = token
        self.reads_need_token = reads_need_token and token is not None
        self._clock = clock
        self._key = (
            None
            if token is None
            else hashlib.sha256(b"ozon-sync board\0" + token.reveal().encode()).digest()
        )

    @property
    def can_write(self) -> bool:
        """False for a read-only board (no token configured)."""
        return self._token is not None

    def _mac(self, purpose: str, value: str) -> str:
        assert self._key is not None  # noqa: S101 - only called with a token
        return hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()

    # -- what a request carries ----------------------------------------------------------------

    def bearer_ok(self, request: HTTPConnection) -> bool:
        """True when the request's `Authorization: Bearer` header holds the token."""
        if self._token is None:
            return False
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return False
        return hmac.compare_digest(given.strip().encode(), self._token.reveal().encode())

    def session(self, request: HTTPConnection) -> str | None:
        """The request's session cookie when it is valid (made by `new_session` under this
        token and not older than SESSION_AGE), else None."""
        value = request.cookies.get(SESSION_COOKIE, "")
        issued, _, mac = value.partition(".")
        if self._key is None or not issued.isdigit() or not mac:
            return None
        if not hmac.compare_digest(mac, self._mac("session", issued)):
            return None
        age = self._clock() - int(issued)
        return value if 0 <= age < SESSION_AGE else None

    def csrf_token(self, session: str) -> str:
        """The CSRF token that goes with `session` (the page gets it; every write repeats it)."""
        return self._mac("csrf", session)[:40]

    # -- the checks the endpoints make ---------------------------------------------------------

    def check_read(self, request: HTTPConnection) -> None:
        """Raise Refusal when reads need the token and the request has none that is valid."""
        if self.reads_need_token and not (self.bearer_ok(request) or self.session(request)):
            raise Refusal("this board needs its token: log in, or send Authorization: Bearer")

    def check_write(self, request: HTTPConnection, form_csrf: str | None = None) -> None:
        """Raise Refusal unless the request may write: the bearer token, or a valid session
        cookie with its CSRF token (header X-CSRF-Token, or `form_csrf` from a form)."""
        if self._token is None:
            raise Refusal(
                "this board is read-only: no token is configured ([board] token_env, "
                "token_file, token_credential or token)"
            )
        if self.bearer_ok(request):
            return
        session = self.session(request)
        if session is None:
            raise Refusal("a write needs the board token: log in, or send Authorization: Bearer")
        given = request.headers.get(CSRF_HEADER) or form_csrf or ""
        if not hmac.compare_digest(given.encode(), self.csrf_token(session).encode()):
            raise Refusal("missing or wrong CSRF token: reload the page")

    # -- login ---------------------------------------------------------------------------------

    def token_ok(self, given: str) -> bool:
        """True when `given` (typed into the login form) is the token."""
        if self._token is None:
            return False
        return hmac.compare_digest(given.strip().encode(), self._token.reveal().encode())

    def new_session(self) -> str:
        """A new session cookie value, issued now."""
        issued = str(int(self._clock()))
        return f"{issued}.{self._mac('session', issued)}"

    @staticmethod
    def new_login_nonce() -> str:
        """A random nonce for the login form's double-submit check."""
        return secrets.token_urlsafe(24)

    @staticmethod
    def login_nonce_ok(request: HTTPConnection, form_nonce: str) -> bool:
        """True when the login form's hidden nonce matches its cookie."""
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), form_nonce.encode())

    @staticmethod
    def set_cookie(
        response: Response, request: HTTPConnection, name: str, value: str, max_age: int
    ) -> None:
        """Set a cookie the page's scripts cannot read and other sites never send."""
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
