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
