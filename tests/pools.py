"""Giving the default alias a connection pool for the length of a test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections


@contextmanager
def pooled(**options: Any) -> Iterator[None]:
    """``OPTIONS["pool"]`` for the default alias (``min_size`` 1 unless given)."""
    settings_options = connections.settings["default"]["OPTIONS"]
    saved = dict(settings_options)
    settings_options["pool"] = {"min_size": 1, **options}
    try:
        yield
    finally:
        settings_options.clear()
        settings_options.update(saved)
