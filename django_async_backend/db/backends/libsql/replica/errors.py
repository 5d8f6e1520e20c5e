"""``libsql``'s ``ValueError``\\ s as the ``sqlite3`` exceptions Django maps.

The ``libsql`` package (0.1.8) raises a bare ``ValueError`` for every database
error. Django's SQLite backend maps ``sqlite3``'s exception classes to its own
(``IntegrityError``, ``OperationalError``, ...), so the replica driver turns
each ``ValueError`` into the ``sqlite3`` class ``sqlite3`` itself would have
raised: by the SQLite result code when the message carries one (forwarded
writes: ``'Remote SQlite failure: `3:2067:UNIQUE constraint failed: t.s`'``,
2067 being ``SQLITE_CONSTRAINT_UNIQUE``), else by the message (local
statements: ``'no such table: t'``). Errors reaching the primary (write
delegation, sync, the first connect) are ``OperationalError``\\ s.
"""

from __future__ import annotations

import re
import sqlite3

__all__ = ["translate"]

_CODE = re.compile(r"`(?:\d+):(\d+):")

# sqlite3's own mapping of primary result codes (Modules/_sqlite/util.c).
_BY_CODE: dict[int, type[sqlite3.Error]] = {
    2: sqlite3.InternalError,  # SQLITE_INTERNAL
    12: sqlite3.InternalError,  # SQLITE_NOTFOUND
    11: sqlite3.DatabaseError,  # SQLITE_CORRUPT
    18: sqlite3.DataError,  # SQLITE_TOOBIG
    19: sqlite3.IntegrityError,  # SQLITE_CONSTRAINT
    20: sqlite3.IntegrityError,  # SQLITE_MISMATCH
    21: sqlite3.InterfaceError,  # SQLITE_MISUSE
    25: sqlite3.InterfaceError,  # SQLITE_RANGE
}

_PARAMETER = ("Unsupported parameter type", "Expected a list or tuple")


def translate(error: ValueError) -> sqlite3.Error:
    """The ``sqlite3`` exception ``error`` stands for (to raise ``from`` it)."""
    message = str(error)
    match = _CODE.search(message)
    if match is not None:
        code = int(match.group(1))
        exc = _BY_CODE.get(code & 0xFF, sqlite3.OperationalError)(message)
        exc.sqlite_errorcode = code
        return exc
    if message.startswith(_PARAMETER):
        return sqlite3.ProgrammingError(message)
    if "constraint failed" in message:
        return sqlite3.IntegrityError(message)
    return sqlite3.OperationalError(message)
