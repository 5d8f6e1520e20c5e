"""DATABASE_URL / PG* variables to a DATABASES entry."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_async_backend.utils.database_url import (
    database_from_env,
    parse_database_url,
)


def test_postgresql_url():
    entry = parse_database_url(
        "postgresql://user:p%40ss@db.example:6543/shop?sslmode=require"
    )
    assert entry == {
        "ENGINE": "django_async_backend.db.backends.postgresql",
        "NAME": "shop",
        "USER": "user",
        "PASSWORD": "p@ss",
        "HOST": "db.example",
        "PORT": "6543",
        "OPTIONS": {"sslmode": "require"},
    }
    assert parse_database_url("postgres:///local")["HOST"] == ""


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:///db.sqlite3", "db.sqlite3"),
        ("sqlite:////tmp/abs.sqlite3", "/tmp/abs.sqlite3"),
        ("sqlite://:memory:", ":memory:"),
    ],
)
def test_sqlite_urls(url, name):
    entry = parse_database_url(url)
    assert entry["ENGINE"] == "django_async_backend.db.backends.sqlite3"
    assert entry["NAME"] == name


def test_unsupported_scheme_says_what_to_use():
    with pytest.raises(ImproperlyConfigured, match="postgresql://user:password@host"):
        parse_database_url("mysql://x/y")


def test_pg_variables(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PGHOST", "h")
    monkeypatch.setenv("PGPORT", "1")
    monkeypatch.setenv("PGUSER", "u")
    monkeypatch.setenv("PGDATABASE", "d")
    entry = database_from_env()
    assert (entry["HOST"], entry["PORT"], entry["USER"], entry["NAME"]) == (
        "h",
        "1",
        "u",
        "d",
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@y/z")
    assert database_from_env()["NAME"] == "z"


def test_libsql_urls():
    entry = parse_database_url(
        "libsql://127.0.0.1:8080?authToken=tok&admin_url=http://127.0.0.1:9090"
    )
    assert entry == {
        "ENGINE": "django_async_backend.db.backends.libsql",
        "NAME": "libsql://127.0.0.1:8080",
        "AUTH_TOKEN": "tok",
        "OPTIONS": {"admin_url": "http://127.0.0.1:9090"},
    }
    assert parse_database_url("libsql+https://db.turso.io")["NAME"] == (
        "https://db.turso.io"
    )
