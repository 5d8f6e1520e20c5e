"""``AsyncModelMixin`` at the upstream project's import path.

See ``django_async_backend.models.async_objects``: with the app installed
every model has ``async_objects``, ``async_save()``, ``async_delete()`` and
``async_refresh_from_db()``; the mixin is for code that names it.
"""

from ...models.async_objects import AsyncModelMixin

__all__ = ["AsyncModelMixin"]
