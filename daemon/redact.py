"""The known secrets and the one function that masks them in any text from outside.

Every secret the config resolves (API keys, notification URLs and the tokens inside them, the
heartbeat URL) is registered here once (`register_secrets`, by the CLI and on a reload). Text
that comes from outside the daemon (Ozon's error bodies, exception texts of libraries) goes
through `redact_text` before it is stored (the store's writers call it), logged (the log
processor in `daemon.logs`), rendered or printed (stdout and stderr are `RedactingStream`s), so
a secret that an error echoes is never kept or shown.

What is masked: a long secret (SHORT characters or more) wherever it appears, and any run of RUN
consecutive characters of one (but a URL's: its host is shown) together with the rest of that
secret it continues, so an echo of a key minus its last character shows nothing of it; a short
secret (a test key "a") only where it stands as a token of its own, never inside another word,
a JSON field name or a config key.

This module imports only the standard library; everything may import it.
"""

from __future__ import annotations

import io
import ipaddress
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

__all__ = [
    "MASK",
    "RedactingStream",
    "network_host",
    "redact_text",
    "redact_value",
    "register_secrets",
    "secret_fragments",
]

MASK = "***"
_MIN_FRAGMENT = 6
SHORT = 8
"""A secret shorter than this (a test key, a short URL part) is masked only where it stands as
a token of its own, never inside another word, a JSON field name or a config key name: masking
"a" everywhere would turn `database` into `d***t***b***se`."""
RUN = 8
"""Any run of this many consecutive characters of a secret (of at least this length) that looks
like part of a token (a digit, or mixed case) is masked together with the rest of the secret it
continues: an error that echoes a key minus its last character, or its tail, shows none of it."""
_MIN_DISTINCT = 4  # a run with fewer distinct characters ("0000-000") tells little, matches much


@dataclass(frozen=True)
class _Masker:
    """What `redact_text` applies, replaced whole by `register_secrets` (so a reader on another
    thread sees an old or a new one, never half of one)."""

    pattern: re.Pattern[str] | None = None
    """Every long secret as it is, every short one as a token of its own."""
    candidates: re.Pattern[str] | None = None
    """Stretches of text that could hold a run: RUN or more characters that secrets use."""
    runs: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    """Each RUN-long run -> (secret, where in it) for every secret it is a part of."""


_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_masker = _Masker()


def secret_fragments(value: str) -> list[str]:
    """The value itself plus the parts of it that may be logged on their own.

    For a URL such as `tgram://123456:AAH-token/987` the user, password, host and each path or
    query value long enough to be a token are returned too, so a library that logs only the
    token is still masked. A host that is a network address (`network_host`: a DNS name with
    a dot, an IP address, localhost) is no secret and stays readable: it is what `check` and
    the logs show of a route (`json://127.0.0.1:8080`); the token-like "hosts" of services
    (`tgram://BOT_TOKEN/`, `wecombot://KEY`) are masked.
    """
    fragments = [value]
    if "://" not in value:
        return fragments
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        port = str(parts.port or "")
    except ValueError:  # not a URL after all (a token with a colon): mask its pieces
        host, port = "", ""
        parts = urlsplit(value.replace("[", "%5B").replace("]", "%5D"))
    public = {host, port} if network_host(host) else set()
    candidates = [parts.username or "", parts.password or "", host]
    candidates += re.split(r"[/:@?&=,]", parts.netloc)
    candidates.append(parts.netloc.rsplit("@", 1)[-1])
    # A path or query part is a secret only when it looks like a token: a plain word such as
    # `/digest` or `/alerts` is the receiver's route, and masking it would mask that word
    # everywhere (an event named "digest" included).
    candidates += [
        part for part in re.split(r"[/:@?&=,]", parts.path + "?" + parts.query)
        if _token_like(unquote(part))
    ]  # fmt: skip
    for candidate in candidates:
        candidate = unquote(candidate)
        if (
            len(candidate) >= _MIN_FRAGMENT
            and candidate not in fragments
            and candidate.lower() not in public
            and candidate.lower() not in {f"{host}:{port}", f"[{host}]:{port}"}
        ):
            fragments.append(candidate)
    return fragments


def _token_like(part: str) -> bool:
    """A URL path or query part that may be a token: SHORT characters or more with a digit or
    both cases. Plain words (`to-cancelled_elsewhere`, `ozon-sync-alerts`) are the receiver's
    routes: registered, their 8-character runs would mask words such as "cancelled" anywhere."""
    if len(part) < SHORT:
        return False
    return any(c.isdigit() for c in part) or (part.lower() != part and part.upper() != part)


_DNS_NAME = re.compile(r"(?=.{4,253}\Z)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}\Z")


def network_host(host: str) -> bool:
    """True when `host` (of a URL) is a network address: a DNS name with a dot and a
    letters-only top-level domain, an IP address, or localhost. Such a host is shown; any other
    "host" (a bot token, a webhook key) is treated as a secret."""
    if host == "localhost" or _DNS_NAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def register_secrets(values: Iterable[str]) -> None:
    """Add secret values to the redaction list (empty strings are ignored)."""
    global _secrets, _masker
    with _lock:
        known = set(_secrets)
        for value in values:
            for fragment in secret_fragments(value):
                if fragment:
                    known.add(fragment)
        # Longest first, so a URL is masked whole before its fragments are.
        _secrets = tuple(sorted(known, key=len, reverse=True))
        _masker = _build(_secrets)


def _build(secrets: tuple[str, ...]) -> _Masker:
    """The masker of `secrets` (longest first): every long secret as it is, the RUN-long runs
    of every long secret but a URL (its host and scheme are no secret; its token-like parts
    are registered on their own), and each short secret as a token of its own."""
    if not secrets:
        return _Masker()
    whole = [secret for secret in secrets if len(secret) >= SHORT]
    short = [secret for secret in secrets if len(secret) < SHORT]
    runs: dict[str, list[tuple[str, int]]] = {}
    for secret in whole:
        if "://" in secret:
            continue
        for start in range(len(secret) - RUN + 1):
            run = secret[start : start + RUN]
            if _maskable_run(run):
                runs.setdefault(run, []).append((secret, start))
    pattern = re.compile("|".join([*map(re.escape, whole), *map(_token, short)]))
    if not runs:
        return _Masker(pattern)
    alphabet = "".join(sorted({char for run in runs for char in run}))
    candidates = re.compile(f"[{re.escape(alphabet)}]{{{RUN},}}")
    return _Masker(pattern, candidates, {run: tuple(at) for run, at in runs.items()})


def _maskable_run(run: str) -> bool:
    """True for a run that looks like part of a token, not of words: it holds a digit or both
    upper- and lower-case letters, and enough different characters. A secret may hold words
    (`reminder-hook-3f9a...`): their runs ("reminder") must not mask those words elsewhere."""
    if len(set(run)) < _MIN_DISTINCT:
        return False
    return any(c.isdigit() for c in run) or (
        any(c.isupper() for c in run) and any(c.islower() for c in run)
    )


def _token(secret: str) -> str:
    """A pattern for `secret` standing as a token of its own: no word character glued to it,
    and not in the place of a JSON field name (`"level":`) or a key (`name = `, `name=`),
    which are the program's own words."""
    head = r"(?<!\w)" if re.match(r"\w", secret[0]) else ""
    tail = r"(?!\w)" if re.match(r"\w", secret[-1]) else ""
    return f'{head}{re.escape(secret)}{tail}(?!":|"? ?=)'


def redact_text(text: str) -> str:
    """Return `text` with every registered secret replaced by the mask: a long secret wherever
    it appears, any RUN-long run of one together with all of that secret it continues, a short
    one where it stands as a token of its own."""
    masker = _masker
    if masker.pattern is None:
        return text
    text = masker.pattern.sub(MASK, text)
    if masker.candidates is None:
        return text
    out: list[str] = []
    done = 0  # text[:done] is in `out`
    runs = masker.runs
    for stretch in masker.candidates.finditer(text):
        at, stop = stretch.span()
        while at <= stop - RUN:
            places = runs.get(text[at : at + RUN])
            if places is None:
                at += 1
                continue
            start, end = _widen(text, at, done, places)
            out += (text[done:start], MASK)
            done = at = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _widen(text: str, at: int, floor: int, places: tuple[tuple[str, int], ...]) -> tuple[int, int]:
    """The widest span around the RUN-long run at `text[at:]` that is a part of one of the
    secrets it comes from (`places`: secret, offset in it), not reaching before `floor`."""
    best = (at, at + RUN)
    for secret, offset in places:
        end, into = at + RUN, offset + RUN
        while end < len(text) and into < len(secret) and text[end] == secret[into]:
            end, into = end + 1, into + 1
        start, into = at, offset
        while start > floor and into > 0 and text[start - 1] == secret[into - 1]:
            start, into = start - 1, into - 1
        if end - start > best[1] - best[0]:
            best = (start, end)
    return best


def redact_value(value: Any) -> Any:
    """`value` with every registered secret masked in its strings, at any depth (dicts,
    lists, tuples, sets; an exception becomes its masked text)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact_value(item) for item in value)
    if isinstance(value, set | frozenset):
        return type(value)(redact_value(item) for item in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


class RedactingStream(io.TextIOBase):
    """A text stream that writes to `target` with every registered secret masked, a line at a
    time (a secret never holds a line break, so none is split between two writes); what is
    left of a line is written on `flush`."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self.target.write(redact_text(lines + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.target.write(redact_text(self._pending))
            self._pending = ""
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.target, "encoding", "utf-8"))
