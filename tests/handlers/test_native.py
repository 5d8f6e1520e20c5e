"""The request path natively: Django's unchanged ASGIHandler, the middleware
``startproject`` generates, session auth, CSRF, messages and transactions,
with no thread hop; and the same behaviour as Django's own thread path."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.contrib.auth import user_logged_in
from django.contrib.auth.models import User
from django.core.handlers.asgi import ASGIHandler
from django.db import DatabaseError, connections
from django.test.utils import override_settings
from django.utils.deprecation import MiddlewareMixin

from django_async_backend.db.transaction import async_atomic
from tests.app.models import Author, Book
from tests.hops import HopCounter

from . import views
from .conftest import Browser

pytestmark = pytest.mark.async_django_db(transaction=True)


async def sample() -> Book:
    await User.objects.acreate_user("ada", password="secret")
    author = await Author.objects.acreate(name="Verne")
    return await Book.objects.acreate(title="Nautilus", author=author)


async def log_in(browser: Browser) -> None:
    response = await browser.post("/login/", {"username": "ada", "password": "secret"})
    assert response.status_code == 200, response.text


async def a_session_of_requests(browser: Browser, book: Book) -> list[Any]:
    """Log in, read a page, write with a CSRF-protected POST, round-trip a
    message, render a template, log out: what a user's visit does."""
    seen = []
    await log_in(browser)
    page = await browser.get(f"/page/{book.pk}/")
    assert page.status_code == 200, page.text
    seen.append(page.json() | {"pid": None})
    written = await browser.post("/write/", {"author": "Hergé", "title": "Tintin"})
    assert written.status_code == 200, written.text
    rejected = await browser.post("/write/", {"author": "x", "title": "y"}, csrf=False)
    seen.append(rejected.status_code)
    again = await browser.get(f"/page/{book.pk}/")
    seen.append(again.json() | {"pid": None})
    rendered = await browser.get("/template/")
    seen.append(rendered.text.strip())
    seen.append(rendered.headers["X-Frame-Options"])
    assert (await browser.post("/logout/")).status_code == 200
    anonymous = await browser.get(f"/page/{book.pk}/")
    seen.append(anonymous.json()["user"])
    return seen


async def test_the_startproject_stack_makes_no_thread_hop(browser):
    book = await sample()
    # Logging in hashes the password: Django hands that CPU work to a
    # thread on purpose (Django 6 does), and it is allowed.
    await log_in(browser)
    with HopCounter() as hops:
        for _ in range(3):
            assert (await browser.get(f"/page/{book.pk}/")).status_code == 200
            response = await browser.post("/write/", {"author": "A", "title": "B"})
            assert response.status_code == 200
        assert (await browser.get("/template/")).status_code == 200
        assert (await browser.post("/logout/")).status_code == 200
    assert hops.sync_to_async == []
    assert hops.threads == []


async def test_a_whole_visit_behaves_as_on_djangos_thread_path(browser):
    book = await sample()
    with HopCounter() as hops:
        native = await a_session_of_requests(browser, book)
    assert hops.sync_to_async == []
    assert hops.unexplained_threads() == []
    await Book.objects.exclude(pk=book.pk).adelete()
    with override_settings(ASYNC_BACKEND_NATIVE_REQUEST=False):
        stock = await a_session_of_requests(Browser(ASGIHandler()), book)
    assert native == stock
    assert native[0]["user"] == "ada" and native[0]["messages"] == ["welcome ada"]
    assert native[1] == 403  # CSRF rejection
    assert native[2]["messages"] == []  # a message is shown once
    assert native[-1] is None  # logged out


@pytest.mark.parametrize(
    "path, hop",
    [
        ("django.contrib.sessions.middleware.SessionMiddleware", "process_request"),
        ("django.middleware.csrf.CsrfViewMiddleware.process_view", "process_view"),
        ("django.http.response.HttpResponseBase.close", "close"),
        ("django.db.close_old_connections", "sync_send"),
        ("django.template.response.SimpleTemplateResponse.render", "render"),
    ],
)
async def test_each_call_site_takes_the_thread_path_when_told(browser, path, hop):
    book = await sample()
    await log_in(browser)
    with override_settings(ASYNC_BACKEND_THREAD_CALLS=[path]):
        with HopCounter() as hops:
            await browser.get(f"/page/{book.pk}/")
            await browser.get("/template/")
    assert hop in hops.sync_to_async


async def test_the_setting_turns_the_native_request_path_off(browser):
    with override_settings(ASYNC_BACKEND_NATIVE_REQUEST=False):
        with HopCounter() as hops:
            assert (await browser.get("/plain/")).status_code == 200
    assert "process_request" in hops.sync_to_async
    assert "close" in hops.sync_to_async


class ThirdPartyMiddleware(MiddlewareMixin):
    """Not Django's: may block on anything, so it keeps the thread path."""

    def process_request(self, request):
        request.third_party_saw = True


async def test_third_party_middleware_keeps_the_thread_path_unless_listed(
    request_settings,
):
    name = f"{__name__}.ThirdPartyMiddleware"
    with override_settings(MIDDLEWARE=[*request_settings["MIDDLEWARE"], name]):
        browser = Browser(ASGIHandler())
        with HopCounter() as hops:
            await browser.get("/plain/")
        assert hops.sync_to_async == ["process_request"]
        with override_settings(ASYNC_BACKEND_NATIVE_CALLS=[name]):
            with HopCounter() as hops:
                await browser.get("/plain/")
        assert hops.sync_to_async == []
        with override_settings(ASYNC_BACKEND_NATIVE_CALLS="__all__"):
            with HopCounter() as hops:
                await browser.get("/plain/")
        assert hops.sync_to_async == []


@pytest.mark.parametrize(
    "engine, cache, hops_expected",
    [
        ("django.contrib.sessions.backends.db", None, False),
        ("django.contrib.sessions.backends.signed_cookies", None, False),
        (
            "django.contrib.sessions.backends.cache",
            "django.core.cache.backends.locmem.LocMemCache",
            False,
        ),
        (
            "django.contrib.sessions.backends.cached_db",
            "django.core.cache.backends.filebased.FileBasedCache",
            True,
        ),
        ("django.contrib.sessions.backends.file", None, True),
    ],
)
async def test_session_middleware_runs_in_the_bridge_only_on_non_blocking_storage(
    request_settings, tmp_path, engine, cache, hops_expected
):
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if cache:
        caches["default"] = {"BACKEND": cache, "LOCATION": str(tmp_path / "cache")}
    with override_settings(
        SESSION_ENGINE=engine, CACHES=caches, SESSION_FILE_PATH=str(tmp_path)
    ):
        book = await sample()
        browser = Browser(ASGIHandler())
        await log_in(browser)
        with HopCounter() as hops:
            page = await browser.get(f"/page/{book.pk}/")
        assert page.json()["user"] == "ada"
        assert bool(hops.sync_to_async) is hops_expected, hops.sync_to_async


# -- sync views ----------------------------------------------------------------


async def test_sync_views_keep_the_thread_path_by_default(browser):
    with HopCounter() as hops:
        response = await browser.get("/sync-count/")
    assert response.json() == {"count": 0, "in_bridge": False}
    assert hops.sync_to_async == ["_sync_count"]


async def test_sync_views_run_in_the_bridge_when_opted_in(browser):
    await sample()
    with HopCounter() as hops:
        decorated = await browser.get("/native-sync-count/")
    assert decorated.json() == {"count": 1, "in_bridge": True}
    for setting in (True, ["tests.handlers.views._sync_count"]):
        with override_settings(ASYNC_BACKEND_NATIVE_SYNC_VIEWS=setting):
            with HopCounter() as more:
                listed = await browser.get("/sync-count/")
        assert listed.json() == {"count": 1, "in_bridge": True}
        assert more.sync_to_async == []
    assert hops.sync_to_async == []


# -- ATOMIC_REQUESTS with async views ------------------------------------------


@pytest.fixture
def atomic_requests():
    saved = {
        alias: connections.settings[alias]["ATOMIC_REQUESTS"]
        for alias in connections.settings
    }
    connections.settings["default"]["ATOMIC_REQUESTS"] = True
    views.COMMITTED.clear()
    try:
        yield
    finally:
        for alias, value in saved.items():
            connections.settings[alias]["ATOMIC_REQUESTS"] = value


async def test_atomic_requests_commit_an_async_view(browser, atomic_requests):
    response = await browser.post("/atomic-write/", {"author": "A", "title": "kept"})
    assert response.status_code == 200, response.text
    assert response.json()["in_atomic_block"] is True
    assert views.COMMITTED == ["kept"]  # on_commit ran after the commit
    assert await Book.objects.filter(title="kept").aexists()


async def test_atomic_requests_roll_back_an_async_view_that_raises(
    browser, atomic_requests
):
    response = await browser.post(
        "/atomic-write/", {"author": "gone", "title": "gone", "fail": True}
    )
    assert response.status_code == 500
    assert views.COMMITTED == []
    assert not await Author.objects.filter(name="gone").aexists()


async def test_non_atomic_requests_is_honoured(browser, atomic_requests):
    response = await browser.post("/non-atomic-write/", {"author": "A", "title": "t"})
    assert response.json()["in_atomic_block"] is False
    assert views.COMMITTED == ["t"]  # autocommit: ran at once


# -- receivers of Signal.asend ---------------------------------------------------


async def test_sync_receivers_of_asend_run_inside_the_callers_transaction():
    async def handler():
        async with async_atomic():
            user = await User.objects.acreate_user("grace")  # not committed
            # update_last_login saves the user: on another connection it
            # would not see the row at all.
            await user_logged_in.asend(sender=User, request=None, user=user)
            fresh = await User.objects.aget(pk=user.pk)
            assert fresh.last_login is not None
            raise DatabaseError("roll it all back")

    with HopCounter() as hops:
        with pytest.raises(DatabaseError, match="roll it all back"):
            await asyncio.create_task(handler())
    assert hops.sync_to_async == []
    assert not await User.objects.filter(username="grace").aexists()


EVERY_DJANGO_MIDDLEWARE = [
    "django.middleware.cache.UpdateCacheMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.sites.middleware.CurrentSiteMiddleware",
    "django.contrib.admindocs.middleware.XViewMiddleware",
    "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware",
    "django.contrib.redirects.middleware.RedirectFallbackMiddleware",
    "django.middleware.cache.FetchFromCacheMiddleware",
]


async def test_every_django_middleware_runs_without_a_thread_hop(request_settings):
    from django.contrib.flatpages.models import FlatPage
    from django.contrib.redirects.models import Redirect
    from django.contrib.sites.models import Site

    site = await Site.objects.aget(pk=1)
    flatpage = await FlatPage.objects.acreate(
        url="/about/", title="About", content="hi"
    )
    await flatpage.sites.aadd(site)
    await Redirect.objects.acreate(site=site, old_path="/old/", new_path="/plain/")
    await User.objects.acreate_user("ada", password="secret")
    with override_settings(
        MIDDLEWARE=EVERY_DJANGO_MIDDLEWARE,
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        },
    ):
        browser = Browser(ASGIHandler())
        await log_in(browser)
        with HopCounter() as hops:
            assert (await browser.get("/plain/")).text == "ok"
            assert (await browser.get("/plain/")).text == "ok"  # from the cache
            about = await browser.get("/about/")  # a flat page, on a 404
            assert about.status_code == 200 and "hi" in about.text
            moved = await browser.get("/old/", follow_redirects=False)
            assert moved.status_code == 301 and moved.headers["Location"] == "/plain/"
            written = await browser.post("/write/", {"author": "A", "title": "B"})
            assert written.status_code == 200
    assert hops.sync_to_async == []
    assert hops.threads == []
