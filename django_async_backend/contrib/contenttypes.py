"""``aget_for_model``: look up a model's ContentType from async code.

Accessing a ``GenericRelation`` manager (``book.notes``) builds it
synchronously, and Django looks the ContentType up on the spot unless its
cache already holds it, so from async code that raises
``SynchronousOnlyOperation``. Warm the cache first::

    await aget_for_model(Book)
    await book.notes.acreate(text="...")

(Django's own async tests rely on a warm cache in the same way.)
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

from ..models.native import native_sync_to_async

__all__ = ["aget_for_model", "aget_for_models"]


async def aget_for_model(
    model: Any, for_concrete_model: bool = True, using: str = DEFAULT_DB_ALIAS
) -> Any:
    """``ContentType.objects.get_for_model()``, natively; fills Django's cache."""
    from django.contrib.contenttypes.models import ContentType

    manager = ContentType.objects.db_manager(using)
    return await native_sync_to_async(manager.get_for_model)(
        model, for_concrete_model=for_concrete_model
    )


async def aget_for_models(
    *models: Any, for_concrete_models: bool = True, using: str = DEFAULT_DB_ALIAS
) -> dict[Any, Any]:
    """``ContentType.objects.get_for_models()``, natively."""
    from django.contrib.contenttypes.models import ContentType

    manager = ContentType.objects.db_manager(using)
    return await native_sync_to_async(manager.get_for_models)(
        *models, for_concrete_models=for_concrete_models
    )
