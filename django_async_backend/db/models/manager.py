"""``AsyncManager`` at the upstream project's import path.

See ``django_async_backend.models.async_objects.AsyncManager``.
"""

from ...models.async_objects import AsyncManager

__all__ = ["AsyncManager"]
