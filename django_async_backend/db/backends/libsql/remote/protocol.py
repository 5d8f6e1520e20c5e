"""Hrana over HTTP: the part the async and sync clients share.

No I/O here: the values codec, the pipeline bodies, reading results, mapping
errors to the ``sqlite3`` exception classes (which Django's SQLite backend
turns into Django's), and what a statement does to the stream it runs on.

Values are exact both ways: integers travel as strings (``{"type":
"integer", "value": "9223372036854775807"}``; a JSON number would be a
float on the way), floats as JSON numbers, blobs as base64, NULL as
``{"type": "null"}``. Other Python types go through ``sqlite3.adapt`` (the
adapters Django registers for dates, datetimes and decimals), so a value
binds remotely exactly as it would locally.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "Result",
    "StatementKind",
    "decode_value",
    "encode_args",
    "encode_value",
    "error_for",
    "statement_kind",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def encode_value(value: Any) -> dict[str, Any]:
    """A Hrana value for a Python parameter."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "integer", "value": "1" if value else "0"}
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "text", "value": value}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"type": "blob", "base64": base64.b64encode(bytes(value)).decode()}
    try:
        adapted = sqlite3.adapt(value, sqlite3.PrepareProtocol)
    except sqlite3.ProgrammingError:
        raise sqlite3.ProgrammingError(
            f"Error binding parameter: type {type(value).__name__!r} is not supported"
        ) from None
    if adapted is value:
        raise sqlite3.ProgrammingError(
            f"Error binding parameter: type {type(value).__name__!r} is not supported"
        )
    return encode_value(adapted)


def encode_args(params: Any) -> dict[str, Any]:
    """The ``args``/``named_args`` of a statement for DB-API parameters."""
    if params is None:
        return {}
    if isinstance(params, Mapping):
        return {
            "named_args": [
                {"name": f":{name}", "value": encode_value(value)}
                for name, value in params.items()
            ]
        }
    if isinstance(params, Sequence) and not isinstance(params, str | bytes):
        return {"args": [encode_value(value) for value in params]}
    raise sqlite3.ProgrammingError("parameters are of unsupported type")


def decode_value(value: dict[str, Any]) -> Any:
    kind = value["type"]
    if kind == "integer":
        return int(value["value"])
    if kind == "text":
        return value["value"]
    if kind == "float":
        number = value["value"]
        return None if number is None else float(number)
    if kind == "blob":
        data = value.get("base64", "")
        return base64.b64decode(data + "=" * (-len(data) % 4))
    return None


@dataclasses.dataclass
class Result:
    """One statement's result, as a DB-API cursor needs it."""

    description: tuple[tuple[Any, ...], ...] | None
    rows: list[tuple[Any, ...]]
    rowcount: int
    lastrowid: int | None
    # Each column's declared type (None for an expression), from Hrana's cols.
    decltypes: tuple[str | None, ...] = ()

    @classmethod
    def from_response(cls, result: dict[str, Any]) -> Result:
        cols = result.get("cols") or []
        rows = [tuple(decode_value(v) for v in row) for row in result.get("rows") or []]
        last = result.get("last_insert_rowid")
        description = (
            tuple((col.get("name"), None, None, None, None, None, None) for col in cols)
            if cols
            else None
        )
        rowcount = -1 if description else int(result.get("affected_row_count") or 0)
        decltypes = tuple(col.get("decltype") for col in cols)
        lastrowid = None if last is None else int(last)
        return cls(description, rows, rowcount, lastrowid, decltypes)


_PERMISSION = ("401", "403")


def error_for(error: Mapping[str, Any], *, where: str) -> sqlite3.Error:
    """The ``sqlite3`` exception for a Hrana error (Django maps it on)."""
    code = str(error.get("code") or "")
    message = str(error.get("message") or code or "unknown error")
    if code.startswith("SQLITE_CONSTRAINT"):
        exc: sqlite3.Error = sqlite3.IntegrityError(_strip(message))
    elif code in ("ARGS_INVALID", "SQL_MANY_STATEMENTS", "SQL_NO_STATEMENT"):
        exc = sqlite3.ProgrammingError(message)
    elif code in ("TRANSACTION_TIMEOUT", "STREAM_EXPIRED"):
        exc = sqlite3.OperationalError(
            f"the libSQL server at {where} ended the transaction ({code}: "
            f"{message}); it was rolled back. A transaction holding the write "
            f"lock is rolled back after ~5 s when another connection waits for "
            f"it: keep write transactions short."
        )
    else:
        exc = sqlite3.OperationalError(_strip(message))
    exc.sqlite_errorname = code
    return exc


_SQLITE_PREFIX = re.compile(r"^SQLite error: ", re.IGNORECASE)


def _strip(message: str) -> str:
    """sqld prefixes SQLite's message ("SQLite error: UNIQUE constraint...")."""
    return _SQLITE_PREFIX.sub("", message)


def auth_error(status: int, where: str) -> sqlite3.OperationalError:
    what = (
        "the token is missing, invalid or expired"
        if status == 401
        else "the token does not allow this (a read-only token and a write?)"
    )
    return sqlite3.OperationalError(
        f"libSQL authentication failed at {where} (HTTP {status}): {what}. "
        f"Check DATABASES[...]['AUTH_TOKEN']."
    )


class StatementKind:
    OTHER = 0
    BEGIN = 1  # opens a transaction: hold a stream
    END = 2  # COMMIT/END/ROLLBACK (not ROLLBACK TO): the stream can go
    SAVEPOINT = 3  # opens a transaction outside one
    PRAGMA_FK = 4  # session state replayed on each new stream
    RELEASE = 5  # may end a transaction a SAVEPOINT opened


_LEADING = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/)*", re.DOTALL)
_FK = re.compile(r"^PRAGMA\s+foreign_keys\s*=\s*(\w+)\s*;?\s*$", re.IGNORECASE)


def statement_kind(sql: str) -> tuple[int, Any]:
    head = sql[_LEADING.match(sql).end() :]  # type: ignore[union-attr]
    word = head[:16].split(None, 1)[0].upper() if head.strip() else ""
    if word == "BEGIN":
        return StatementKind.BEGIN, None
    if word in ("COMMIT", "END"):
        return StatementKind.END, None
    if word == "ROLLBACK":
        rest = head[8:].lstrip().upper()
        if rest.startswith("TRANSACTION"):
            rest = rest[11:].lstrip()
        if rest.startswith("TO"):
            return StatementKind.OTHER, None
        return StatementKind.END, None
    if word == "RELEASE":
        return StatementKind.RELEASE, None
    if word == "SAVEPOINT":
        return StatementKind.SAVEPOINT, None
    if word == "PRAGMA":
        match = _FK.match(head)
        if match:
            value = match.group(1).upper() in ("1", "ON", "TRUE", "YES")
            return StatementKind.PRAGMA_FK, value
    return StatementKind.OTHER, None


def execute_request(sql: str, params: Any) -> dict[str, Any]:
    return {"type": "execute", "stmt": {"sql": sql, **encode_args(params)}}


def batch_request(
    sql: str, seq_of_params: Sequence[Any], *, atomic: bool
) -> dict[str, Any]:
    """One statement for many parameter sets, each step run only if the one
    before succeeded; with ``atomic`` (autocommit) wrapped in BEGIN/COMMIT, a
    failure rolling everything back."""
    steps: list[dict[str, Any]] = []

    def add(stmt: dict[str, Any]) -> None:
        step: dict[str, Any] = {"stmt": stmt}
        if steps:
            step["condition"] = {"type": "ok", "step": len(steps) - 1}
        steps.append(step)

    if atomic:
        add({"sql": "BEGIN IMMEDIATE"})
    for params in seq_of_params:
        add({"sql": sql, **encode_args(params)})
    if atomic:
        last = len(steps) - 1
        add({"sql": "COMMIT"})
        steps.append(
            {
                "stmt": {"sql": "ROLLBACK"},
                "condition": {"type": "not", "cond": {"type": "ok", "step": last + 1}},
            }
        )
    return {"type": "batch", "batch": {"steps": steps}}


def batch_outcome(response: dict[str, Any], *, atomic: bool, where: str) -> Result:
    """The summed result of a batch; the first step error raised."""
    result = response["result"]
    errors = result.get("step_errors") or []
    results = result.get("step_results") or []
    offset = 1 if atomic else 0
    count = len(results) - (2 if atomic else 0)
    for error in (
        errors[offset : offset + count] + errors[:offset] + errors[offset + count :]
    ):
        if error is not None:
            raise error_for(error, where=where)
    rowcount, lastrowid = 0, None
    for step in results[offset : offset + count]:
        if step is None:
            continue
        rowcount += int(step.get("affected_row_count") or 0)
        if step.get("last_insert_rowid") is not None:
            lastrowid = int(step["last_insert_rowid"])
    return Result(None, [], rowcount, lastrowid)
