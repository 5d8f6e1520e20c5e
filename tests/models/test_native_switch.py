"""The native path can be turned off, and aliases without async connections
keep Django's thread path."""

from __future__ import annotations

import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test.utils import override_settings

from django_async_backend.models import native
from tests.app.models import Author


@pytest.mark.allows_thread_hops
@pytest.mark.async_django_db(transaction=True)
async def test_setting_off_takes_djangos_thread_path(no_thread_hops):
    with override_settings(ASYNC_BACKEND_NATIVE_ORM=False):
        await Author.objects.acreate(name="via a thread")
        assert await Author.objects.acount() == 1
        await sync_to_async(connections.close_all)()
    assert "create" in no_thread_hops.sync_to_async
    assert "count" in no_thread_hops.sync_to_async


@pytest.mark.async_django_db
async def test_native_path_runs_on_the_event_loops_thread():
    loop_thread = threading.get_ident()
    seen = []

    def record(sender, instance, **kwargs):
        seen.append(threading.get_ident())

    from django.db.models.signals import pre_save

    pre_save.connect(record, sender=Author)
    try:
        await Author.objects.acreate(name="native")
    finally:
        pre_save.disconnect(record, sender=Author)
    assert seen == [loop_thread]


def test_decision_for_aliases_on_other_engines():
    stock = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    configured = connections.configure_settings({"default": {}, "stock": stock})
    connections.settings["stock"] = configured["stock"]
    native.settings_changed()
    try:
        assert native._runs_natively(Author.objects.using("default").count, ())
        assert not native._runs_natively(Author.objects.using("stock").count, ())
        # Helpers whose alias can't be told: native only if every alias is.
        assert not native._runs_natively(lambda: None, ())
    finally:
        del connections.settings["stock"]
        native.settings_changed()
    assert native._runs_natively(lambda: None, ())


def test_install_and_uninstall_swap_only_the_orm_modules():
    import django.contrib.auth.hashers as hashers
    import django.db.models.query as query
    from asgiref.sync import sync_to_async as original

    assert query.sync_to_async is native.native_sync_to_async
    assert (
        hashers.sync_to_async is original if hasattr(hashers, "sync_to_async") else True
    )
    native.uninstall()
    try:
        assert query.sync_to_async is original
    finally:
        native.install()
    assert query.sync_to_async is native.native_sync_to_async
