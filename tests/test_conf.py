"""The package's own settings: validated, re-read when tests change them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings

from django_async_backend import conf


def test_defaults():
    assert conf.native_orm_enabled() is True
    assert conf.request_signals_enabled() is True


def test_override_is_seen():
    with override_settings(ASYNC_BACKEND_NATIVE_ORM=False):
        assert conf.native_orm_enabled() is False
    assert conf.native_orm_enabled() is True


@pytest.mark.parametrize(
    "name", ["ASYNC_BACKEND_NATIVE_ORM", "ASYNC_BACKEND_DISABLE_REQUEST_SIGNALS"]
)
def test_wrong_type_names_the_setting(name):
    with override_settings(**{name: "yes"}):
        with pytest.raises(
            ImproperlyConfigured, match=rf"settings.{name} must be True or False"
        ):
            conf.native_orm_enabled()
            conf.request_signals_enabled()


def test_keep_connection_seconds():
    assert conf.keep_connection_seconds() == 2.0
    with override_settings(ASYNC_BACKEND_KEEP_CONNECTION_SECONDS=0):
        assert conf.keep_connection_seconds() == 0.0
    for bad in (-1, "2", True):
        with override_settings(ASYNC_BACKEND_KEEP_CONNECTION_SECONDS=bad):
            with pytest.raises(
                ImproperlyConfigured,
                match="ASYNC_BACKEND_KEEP_CONNECTION_SECONDS must be a number",
            ):
                conf.keep_connection_seconds()


def test_request_path_settings():
    assert conf.native_request_setting() is None
    assert conf.native_calls() == () and conf.thread_calls() == ()
    assert conf.native_sync_views() == ()
    with override_settings(
        ASYNC_BACKEND_NATIVE_REQUEST=False,
        ASYNC_BACKEND_NATIVE_CALLS="__all__",
        ASYNC_BACKEND_THREAD_CALLS=["myapp.middleware.Slow"],
        ASYNC_BACKEND_NATIVE_SYNC_VIEWS=True,
    ):
        assert conf.native_request_setting() is False
        assert conf.native_calls() == ("",)
        assert conf.thread_calls() == ("myapp.middleware.Slow",)
        assert conf.native_sync_views() == ("",)


@pytest.mark.parametrize(
    "name, value, fix",
    [
        ("ASYNC_BACKEND_NATIVE_REQUEST", "yes", "True, False or None"),
        ("ASYNC_BACKEND_NATIVE_CALLS", "myapp.middleware", "list of dotted paths"),
        ("ASYNC_BACKEND_THREAD_CALLS", "__all__", "list of dotted paths"),
        ("ASYNC_BACKEND_THREAD_CALLS", [""], "list of dotted paths"),
        ("ASYNC_BACKEND_NATIVE_SYNC_VIEWS", "all", "True, False or a list"),
    ],
)
def test_request_path_settings_are_validated(name, value, fix):
    with override_settings(**{name: value}):
        with pytest.raises(ImproperlyConfigured, match=rf"settings.{name} .*{fix}"):
            conf.validate()
