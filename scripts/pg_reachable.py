"""Exit 0 if the configured PostgreSQL server accepts a connection.

Uses only the standard library (it runs before any virtual environment
exists): a TCP connect to the host and port that ``DATABASE_URL`` or the
``PG*`` variables name, or the local socket directory.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit


def target() -> tuple[str, int]:
    url = os.environ.get("DATABASE_URL")
    if url and url.split(":", 1)[0] in ("postgres", "postgresql", "pgsql"):
        parts = urlsplit(url)
        return parts.hostname or "", parts.port or 5432
    return os.environ.get("PGHOST", ""), int(os.environ.get("PGPORT", "5432"))


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("sqlite"):
        return 0
    host, port = target()
    try:
        if not host or host.startswith("/"):
            path = os.path.join(host or "/var/run/postgresql", f".s.PGSQL.{port}")
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(3)
                sock.connect(path)
        else:
            with socket.create_connection((host, port), timeout=3):
                pass
    except OSError as exc:
        print(f"PostgreSQL at {host or 'local socket'}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
