"""Middleware for the request-path tests."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest
from django.utils.deprecation import MiddlewareMixin


class SlowQueryMiddleware(MiddlewareMixin):
    """Runs a long query in ``process_request`` on paths under ``/slow-mw``."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith("/slow-mw"):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(30)")
