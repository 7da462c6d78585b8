"""Validate JSON bodies against the official Ozon OpenAPI documents (test support, not a test).

The Ozon documents are OpenAPI 3.0 with documentation artefacts, so validation here follows
API-FACTS §12:

- every `pattern` keyword is ignored (its values are prose placeholders, not regexes);
- a JSON `null` counts as an absent field (nulls are stripped recursively before validating);
- `$ref`s resolve against the whole document (`#/components/schemas/...`);
- int64 ids may be declared as strings while Ozon sends numbers: by default both are accepted;
  pass `lenient_int64=False` to check that a body sends them exactly as declared (requests);
- `date-time` formats are checked (tolerant RFC 3339: 0-9 fraction digits, `Z` or an offset).

Typical use:

    doc = load_document(Path("tests/data/ozon/ozon-fbs-openapi-2026.json"))
    validate(body, request_schema(doc, "/v4/posting/fbs/list"), doc, lenient_int64=False)
    validate(answer, response_schema(doc, "/v4/posting/fbs/list"), doc)

This module imports only the standard library and jsonschema.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker

__all__ = [
    "ValidationFailed",
    "errors",
    "load_document",
    "request_schema",
    "response_schema",
    "strip_nulls",
    "validate",
]

_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})\Z"
)


class ValidationFailed(AssertionError):
    """A body does not match its schema; the message lists every error with its JSON path."""


@cache
def load_document(path: Path) -> dict[str, Any]:
    """Read an OpenAPI document (cached per path) and return it as a dict."""
    document: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return document


def _operation(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    try:
        operation: dict[str, Any] = doc["paths"][path][method.lower()]
    except KeyError:
        raise KeyError(f"{method.upper()} {path} is not in the OpenAPI document") from None
    return operation


def request_schema(doc: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    """Return the JSON request-body schema of `method path` (usually a `$ref` dict).

    Raises KeyError when the document has no such operation or it declares no JSON body.
    """
    operation = _operation(doc, path, method)
    try:
        schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    except KeyError:
        raise KeyError(f"{method.upper()} {path} declares no JSON request body") from None
    return schema


def response_schema(
    doc: dict[str, Any], path: str, status: str = "200", method: str = "post"
) -> dict[str, Any]:
    """Return the JSON schema of the `status` response of `method path`.

    Falls back to the `default` response when `status` is not documented (older methods only
    document `default` for errors). Raises KeyError when neither exists.
    """
    responses = _operation(doc, path, method).get("responses", {})
    response = responses.get(str(status)) or responses.get("default")
    if response is None:
        raise KeyError(f"{method.upper()} {path} documents no {status} or default response")
    try:
        schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    except KeyError:
        raise KeyError(f"{method.upper()} {path} {status} has no JSON schema") from None
    return schema


def strip_nulls(value: Any) -> Any:
    """Return a copy of `value` with every null object member and null array item removed."""
    if isinstance(value, dict):
        return {key: strip_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [strip_nulls(item) for item in value if item is not None]
    return value


def _clean(node: Any, *, lenient_int64: bool) -> Any:
    """Copy a schema tree: drop `pattern`, `example(s)`; widen int64 types when lenient."""
    if isinstance(node, list):
        return [_clean(item, lenient_int64=lenient_int64) for item in node]
    if not isinstance(node, dict):
        return node
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            # Keys here are property names, not keywords: a property may be called "pattern".
            cleaned[key] = {
                name: _clean(sub, lenient_int64=lenient_int64) for name, sub in value.items()
            }
        elif (key == "pattern" and isinstance(value, str)) or key in ("example", "examples"):
            continue
        else:
            cleaned[key] = _clean(value, lenient_int64=lenient_int64)
    if (
        lenient_int64
        and cleaned.get("format") == "int64"
        and cleaned.get("type")
        in (
            "string",
            "integer",
        )
    ):
        cleaned["type"] = ["integer", "string"]
    return cleaned


@cache
def _cleaned_components(doc_id: int, lenient_int64: bool) -> dict[str, Any]:
    doc = _documents[doc_id]
    components: dict[str, Any] = _clean(doc.get("components", {}), lenient_int64=lenient_int64)
    return components


# Documents seen by validate(), kept alive so the id() keys of the cache above stay unique.
_documents: dict[int, dict[str, Any]] = {}

_format_checker = FormatChecker(formats=())


@_format_checker.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    text = value[:10] + "T" + value[11:]
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("z", "Z").replace("Z", "+00:00")
    datetime.fromisoformat(text)
    return True


def _validator(
    schema: dict[str, Any], doc: dict[str, Any], *, lenient_int64: bool
) -> Draft4Validator:
    _documents.setdefault(id(doc), doc)
    root = dict(_clean(schema, lenient_int64=lenient_int64))
    # Put the document's components beside the schema so "#/components/..." refs resolve.
    root["components"] = _cleaned_components(id(doc), lenient_int64)
    return Draft4Validator(root, format_checker=_format_checker)


def errors(
    instance: Any, schema: dict[str, Any], doc: dict[str, Any], *, lenient_int64: bool = True
) -> list[str]:
    """Return every validation error of `instance` as "path: message" lines (empty if valid).

    `schema` is a schema from `request_schema`/`response_schema` (or any schema whose `$ref`s
    point into `doc`). Nulls in `instance` count as absent fields.
    """
    validator = _validator(schema, doc, lenient_int64=lenient_int64)
    found = sorted(validator.iter_errors(strip_nulls(instance)), key=lambda error: list(error.path))
    return [f"{error.json_path}: {error.message}" for error in found]


def validate(
    instance: Any, schema: dict[str, Any], doc: dict[str, Any], *, lenient_int64: bool = True
) -> None:
    """Raise ValidationFailed listing every error when `instance` does not match `schema`.

    See `errors` for the arguments. Returns None when the instance is valid.
    """
    problems = errors(instance, schema, doc, lenient_int64=lenient_int64)
    if problems:
        raise ValidationFailed("\n".join(problems))
