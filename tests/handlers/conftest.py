"""Fixtures for the request-path tests: Django's own ASGI handler, unchanged,
with the middleware ``startproject`` generates, driven over ASGI in-process
(each request in a task of its own, as a server runs it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test.utils import override_settings

STARTPROJECT_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

REQUEST_SETTINGS: dict[str, Any] = {
    "MIDDLEWARE": STARTPROJECT_MIDDLEWARE,
    "ROOT_URLCONF": "tests.handlers.urls",
    "SESSION_ENGINE": "django.contrib.sessions.backends.db",
    "TEMPLATES": [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(Path(__file__).parent / "templates")],
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
}

CSRF_TOKEN = "k" * 32


class TaskPerRequest(httpx.ASGITransport):
    """httpx's in-process ASGI transport, each request in its own task."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await asyncio.create_task(super().handle_async_request(request))


class Browser:
    """A logged-in-capable client: cookies kept, CSRF token sent on POST."""

    def __init__(self, app: Any) -> None:
        self.http = httpx.AsyncClient(
            transport=TaskPerRequest(app=app), base_url="http://testserver"
        )
        self.http.cookies.set("csrftoken", CSRF_TOKEN, domain="testserver.local")

    @property
    def csrf_token(self) -> str:
        """The CSRF cookie's value (Django rotates it at login)."""
        return self.http.cookies.get("csrftoken", domain="testserver.local")

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(url, **kwargs)

    async def post(
        self, url: str, data: Any = None, *, csrf: bool = True
    ) -> httpx.Response:
        headers = {"X-CSRFToken": self.csrf_token} if csrf else {}
        return await self.http.post(
            url, content=json.dumps(data or {}), headers=headers
        )

    async def aclose(self) -> None:
        await self.http.aclose()


@pytest.fixture
def request_settings() -> Iterator[dict[str, Any]]:
    with override_settings(**REQUEST_SETTINGS):
        yield REQUEST_SETTINGS


@pytest.fixture
def browser(request_settings: dict[str, Any]) -> Browser:
    """A client of Django's ASGIHandler (it has no sockets to close)."""
    return Browser(ASGIHandler())
