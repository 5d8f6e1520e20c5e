"""One parser of the libSQL ENGINE's settings, for every mode.

The keys of both Django peers are accepted, so their users can switch:

``NAME``
    ``libsql://host[:port]``, ``https://host``, ``http://host:port``,
    ``wss://``/``ws://`` (mapped to ``https``/``http``: the ENGINE speaks Hrana
    over HTTP, which every sqld and Turso database serves beside WebSocket),
    or a bare hostname (``mydb-me.turso.io``): **remote** mode. A file path or
    ``:memory:``: **local** mode, or **embedded replica** mode with
    ``SYNC_URL``. ``libsql://`` means TLS (``https``), except for a loopback
    host (``127.0.0.1``, ``localhost``, ``::1``), where a development sqld
    listens on plain HTTP; ``?tls=0``/``?tls=1`` overrides.
``AUTH_TOKEN`` (or ``OPTIONS["auth_token"]``, or ``?authToken=`` in the URL)
    The JWT sent as ``Authorization: Bearer``. Never shown in a message or a
    ``repr``.
``SYNC_URL``, ``SYNC_INTERVAL``, ``ENCRYPTION_KEY``
    Embedded replica mode only (``SYNC_INTERVAL`` seconds between background
    syncs; ``ENCRYPTION_KEY`` encrypts the local file).
``OPTIONS["timeout"]``
    Seconds: how long a request may take, and how long an autocommit
    statement is retried while the server is unreachable (default 5).
``OPTIONS["transaction_mode"]``
    ``"IMMEDIATE"`` (default), ``"DEFERRED"``, ``"EXCLUSIVE"`` or None, as the
    SQLite ENGINE.
``OPTIONS["namespace"]``, ``OPTIONS["admin_url"]``
    A sqld started with ``--enable-namespaces``: the namespace to use (sent as
    the first label of the ``Host`` header), and the admin API that test
    databases are created on (see ``creation.py``).

A wrong key raises ``ImproperlyConfigured`` naming it and saying what to
write instead.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

__all__ = ["LibSQLSettings", "mode_of", "parse_settings"]

Mode = Literal["remote", "replica", "local"]

REMOTE_SCHEMES = {"libsql": None, "https": "https", "http": "http", "wss": "https",
                  "ws": "http"}  # fmt: skip
REMOTE_OPTIONS = frozenset(
    {"timeout", "transaction_mode", "namespace", "admin_url", "auth_token"}
)
TRANSACTION_MODES = (None, "DEFERRED", "IMMEDIATE", "EXCLUSIVE")
FILE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".libsql", ".db3")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}"
    r"(:\d{1,5})?$",
    re.IGNORECASE,
)
DEFAULT_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class LibSQLSettings:
    """What a ``DATABASES`` entry of the libSQL ENGINE says, validated."""

    alias: str
    mode: Mode
    url: str | None = None  # remote: http(s)://host[:port], no path
    path: str | None = None  # replica/local: the file (or ":memory:")
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    sync_url: str | None = None
    sync_interval: float | None = None
    encryption_key: str | None = dataclasses.field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    transaction_mode: str | None = "IMMEDIATE"
    namespace: str | None = None
    admin_url: str | None = None

    @property
    def host(self) -> str:
        """``host[:port]`` of the remote URL."""
        assert self.url is not None
        return urlsplit(self.url).netloc

    @property
    def host_header(self) -> str:
        """The ``Host`` header: with a namespace, its first label."""
        if self.namespace:
            hostname = urlsplit(self.url).hostname or "localhost"
            if _is_ip(hostname):
                hostname = "localhost"
            return f"{self.namespace}.{hostname}"
        return self.host

    def describe(self) -> str:
        """Where the database is, for messages (never the token)."""
        where = self.url or self.path or "?"
        return f"{where} (namespace {self.namespace})" if self.namespace else where


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _key(alias: str, key: str, option: bool = False) -> str:
    return (
        f"DATABASES[{alias!r}]['OPTIONS'][{key!r}]"
        if option
        else f"DATABASES[{alias!r}][{key!r}]"
    )


def looks_remote(name: Any) -> bool:
    """Whether ``NAME`` names a server rather than a file."""
    if not isinstance(name, str):
        return False  # a pathlib.Path
    scheme = urlsplit(name).scheme.lower() if "://" in name else ""
    if scheme:
        return scheme in REMOTE_SCHEMES
    if os.sep in name or "/" in name or name == ":memory:" or name.startswith("file:"):
        return False
    if name.lower().endswith(FILE_SUFFIXES) or os.path.exists(name):
        return False
    return bool(_HOSTNAME.match(name))


def mode_of(settings_dict: dict[str, Any]) -> Mode:
    """The mode a settings dict selects (no validation beyond that)."""
    if looks_remote(settings_dict.get("NAME")):
        return "remote"
    if settings_dict.get("SYNC_URL"):
        return "replica"
    return "local"


def _remote_url(alias: str, name: str) -> tuple[str, dict[str, str]]:
    if "://" not in name:
        name = f"libsql://{name}"
    parts = urlsplit(name)
    scheme = parts.scheme.lower()
    query = dict(parse_qsl(parts.query))
    if not parts.hostname:
        raise ImproperlyConfigured(
            f"{_key(alias, 'NAME')} is a {scheme}:// URL without a host. Write "
            f"'libsql://your-db.turso.io' or 'http://127.0.0.1:8080'."
        )
    if parts.path not in ("", "/"):
        raise ImproperlyConfigured(
            f"{_key(alias, 'NAME')} has a path ({parts.path!r}); a libSQL server "
            f"serves one database per host. Remove the path (a sqld with "
            f"namespaces takes OPTIONS['namespace'])."
        )
    target = REMOTE_SCHEMES[scheme]
    tls = query.pop("tls", None)
    if tls is not None:
        if tls not in ("0", "1"):
            raise ImproperlyConfigured(
                f"{_key(alias, 'NAME')} has ?tls={tls!r}: write ?tls=0 or ?tls=1."
            )
        target = "https" if tls == "1" else "http"
    if target is None:
        target = "http" if _is_loopback(parts.hostname) else "https"
    return urlunsplit((target, parts.netloc, "", "", "")), query


def _number(alias: str, key: str, value: Any, option: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ImproperlyConfigured(
            f"{_key(alias, key, option)} is {value!r}: it must be a number of "
            f"seconds (0 or more)."
        )
    return float(value)


def _text(alias: str, key: str, value: Any, option: bool = False,
          secret: bool = False) -> str | None:  # fmt: skip
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        shown = type(value).__name__ if secret else repr(value)
        raise ImproperlyConfigured(
            f"{_key(alias, key, option)} must be a string, not {shown}."
        )
    return value


def parse_settings(
    settings_dict: dict[str, Any], alias: str = "default"
) -> LibSQLSettings:
    """Validate a ``DATABASES`` entry of the libSQL ENGINE."""
    name = settings_dict.get("NAME")
    options = dict(settings_dict.get("OPTIONS") or {})
    if not name:
        raise ImproperlyConfigured(
            f"{_key(alias, 'NAME')} is empty. Write a server URL "
            f"('libsql://your-db.turso.io', 'http://127.0.0.1:8080') or a file "
            f"path (with SYNC_URL for an embedded replica)."
        )
    token = _text(alias, "AUTH_TOKEN", settings_dict.get("AUTH_TOKEN"), secret=True)
    option_token = _text(alias, "auth_token", options.pop("auth_token", None),
                         option=True, secret=True)  # fmt: skip
    token = token or option_token
    timeout = _number(alias, "timeout", options.pop("timeout", DEFAULT_TIMEOUT), True)
    transaction_mode = options.pop("transaction_mode", "IMMEDIATE")
    if isinstance(transaction_mode, str):
        transaction_mode = transaction_mode.upper()
    if transaction_mode not in TRANSACTION_MODES:
        raise ImproperlyConfigured(
            f"{_key(alias, 'transaction_mode', True)} is {transaction_mode!r}: "
            f"use 'IMMEDIATE', 'DEFERRED', 'EXCLUSIVE' or None."
        )
    sync_url = _text(alias, "SYNC_URL", settings_dict.get("SYNC_URL"))
    interval = settings_dict.get("SYNC_INTERVAL")
    sync_interval = (
        None if interval is None else _number(alias, "SYNC_INTERVAL", interval)
    )
    encryption_key = _text(alias, "ENCRYPTION_KEY", settings_dict.get("ENCRYPTION_KEY"),
                           secret=True)  # fmt: skip
    if mode_of(settings_dict) == "remote":
        url, query = _remote_url(alias, str(name))
        url_token = query.pop("authToken", None) or query.pop("auth_token", None)
        token = token or url_token
        for key, value in (("SYNC_URL", sync_url), ("SYNC_INTERVAL", sync_interval),
                           ("ENCRYPTION_KEY", encryption_key)):  # fmt: skip
            if value is not None:
                raise ImproperlyConfigured(
                    f"{_key(alias, key)} is set but NAME is a server URL: {key} "
                    f"belongs to an embedded replica (NAME a local file, SYNC_URL "
                    f"the server). Remove {key}, or make NAME a file path."
                )
        options.update(query)
        namespace = _text(alias, "namespace", options.pop("namespace", None), True)
        admin_url = _text(alias, "admin_url", options.pop("admin_url", None), True)
        unknown = sorted(set(options) - REMOTE_OPTIONS)
        if unknown:
            raise ImproperlyConfigured(
                f"{_key(alias, unknown[0], True)} is not an option of the libSQL "
                f"ENGINE's remote mode (a server, not a file). Remove it; the "
                f"options are {', '.join(sorted(REMOTE_OPTIONS))}."
            )
        return LibSQLSettings(
            alias=alias, mode="remote", url=url, auth_token=token, timeout=timeout,
            transaction_mode=transaction_mode, namespace=namespace,
            admin_url=admin_url.rstrip("/") if admin_url else None,
        )  # fmt: skip
    path = os.fspath(name)
    if sync_url is None:
        if sync_interval is not None:
            raise ImproperlyConfigured(
                f"{_key(alias, 'SYNC_INTERVAL')} is set without SYNC_URL: set "
                f"SYNC_URL to the primary's URL (embedded replica), or remove "
                f"SYNC_INTERVAL."
            )
        return LibSQLSettings(alias=alias, mode="local", path=path, auth_token=token,
                              encryption_key=encryption_key, timeout=timeout,
                              transaction_mode=transaction_mode)  # fmt: skip
    if not looks_remote(sync_url):
        raise ImproperlyConfigured(
            f"{_key(alias, 'SYNC_URL')} is {sync_url!r}, not a server URL. Write "
            f"the primary's URL, e.g. 'libsql://your-db.turso.io' or "
            f"'http://127.0.0.1:8080'."
        )
    sync_base, _ = _remote_url(alias, sync_url)
    return LibSQLSettings(
        alias=alias, mode="replica", path=path, auth_token=token, sync_url=sync_base,
        sync_interval=sync_interval, encryption_key=encryption_key, timeout=timeout,
        transaction_mode=transaction_mode,
    )  # fmt: skip
