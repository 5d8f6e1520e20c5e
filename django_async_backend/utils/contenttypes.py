"""``aget_for_model`` at the upstream project's import path.

Upstream's signature, ``aget_for_model(model, using, for_concrete_model)``
(positional order included), over
``django_async_backend.contrib.contenttypes.aget_for_model``.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

from ..contrib import contenttypes

__all__ = ["aget_for_model"]


async def aget_for_model(
    model: Any, using: str = DEFAULT_DB_ALIAS, for_concrete_model: bool = True
) -> Any:
    """The ContentType of ``model``, created if missing; fills Django's cache."""
    return await contenttypes.aget_for_model(
        model, for_concrete_model=for_concrete_model, using=using
    )
