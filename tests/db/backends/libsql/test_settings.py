"""settings.py: NAME forms, keys, errors that name the key, no token shown."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_async_backend.db.backends.libsql.settings import mode_of, parse_settings

TOKEN = "eyJhbGciOiJFZERTQSJ9.secret-token-value.signature"


def parse(**entry):
    return parse_settings({"OPTIONS": {}, **entry}, "default")


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("libsql://db-me.turso.io", "https://db-me.turso.io"),
        ("libsql://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("libsql://localhost:8080", "http://localhost:8080"),
        ("libsql://db.example:9000?tls=0", "http://db.example:9000"),
        ("https://db-me.turso.io", "https://db-me.turso.io"),
        ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
        ("wss://db-me.turso.io", "https://db-me.turso.io"),
        ("ws://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("db-me.turso.io", "https://db-me.turso.io"),
    ],
)
def test_remote_name_forms(name, url):
    settings = parse(NAME=name)
    assert settings.mode == "remote"
    assert settings.url == url


@pytest.mark.parametrize(
    ("entry", "mode"),
    [
        ({"NAME": "/var/db/app.sqlite3"}, "local"),
        ({"NAME": "app.db"}, "local"),
        ({"NAME": ":memory:"}, "local"),
        ({"NAME": "replica.db", "SYNC_URL": "libsql://db-me.turso.io"}, "replica"),
        ({"NAME": "libsql://db-me.turso.io"}, "remote"),
    ],
)
def test_modes(entry, mode):
    assert mode_of(entry) == mode
    assert parse(**entry).mode == mode


def test_replica_sync_url_is_mapped():
    settings = parse(NAME="r.db", SYNC_URL="libsql://127.0.0.1:8080", SYNC_INTERVAL=5)
    assert settings.sync_url == "http://127.0.0.1:8080"
    assert settings.sync_interval == 5.0


def test_token_from_each_key_and_never_in_repr():
    for entry in (
        {"NAME": "libsql://db.turso.io", "AUTH_TOKEN": TOKEN},
        {"NAME": "libsql://db.turso.io", "OPTIONS": {"auth_token": TOKEN}},
        {"NAME": f"libsql://db.turso.io?authToken={TOKEN}"},
    ):
        settings = parse(**entry)
        assert settings.auth_token == TOKEN
        assert TOKEN not in repr(settings)
        assert TOKEN not in settings.describe()


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"NAME": ""}, "'NAME'"),
        ({"NAME": "libsql://db.turso.io", "SYNC_URL": "libsql://x.turso.io"}, "SYNC_URL"),
        ({"NAME": "libsql://db.turso.io", "ENCRYPTION_KEY": "k"}, "ENCRYPTION_KEY"),
        ({"NAME": "r.db", "SYNC_URL": "not a url"}, "SYNC_URL"),
        ({"NAME": "r.db", "SYNC_URL": "libsql://x.io", "SYNC_INTERVAL": -1}, "SYNC_INTERVAL"),
        ({"NAME": "r.db", "SYNC_INTERVAL": 5}, "SYNC_INTERVAL"),
        ({"NAME": "libsql://db.turso.io", "OPTIONS": {"timeout": "5"}}, "timeout"),
        ({"NAME": "libsql://db.turso.io", "OPTIONS": {"journal_mode": "WAL"}}, "journal_mode"),
        ({"NAME": "libsql://db.turso.io/path"}, "'NAME'"),
        ({"NAME": "libsql://db.turso.io", "OPTIONS": {"transaction_mode": "x"}},
         "transaction_mode"),
    ],
)  # fmt: skip
def test_errors_name_the_key(entry, key):
    with pytest.raises(ImproperlyConfigured, match=key):
        parse(**entry)


def test_a_wrong_token_type_is_not_shown():
    with pytest.raises(ImproperlyConfigured) as caught:
        parse(NAME="libsql://db.turso.io", AUTH_TOKEN=b"secret-bytes")
    assert "secret-bytes" not in str(caught.value)
    assert "AUTH_TOKEN" in str(caught.value)
