"""``AsyncModelMixin``: the upstream django-async-backend model API.

Users of the upstream package write ``class Book(AsyncModelMixin,
models.Model)``, ``Book.async_objects.acreate(...)`` and
``await book.async_save()``. Here Django's own a-methods are already native,
so the mixin only maps those names onto them: ``async_objects`` is the model's
default manager, ``async_save``/``async_delete``/``async_refresh_from_db`` are
``asave``/``adelete``/``arefresh_from_db``. Code can switch to Django's names at
its own pace.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AsyncModelMixin"]


class _DefaultManager:
    """Class attribute giving the model's default manager, like ``objects``."""

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is not None:
            raise AttributeError(
                f"Manager isn't accessible via {owner.__name__} instances"
            )
        return owner._default_manager  # type: ignore[attr-defined]


class AsyncModelMixin:
    """Put before ``models.Model`` in a model's bases."""

    async_objects = _DefaultManager()

    async def async_save(self, *args: Any, **kwargs: Any) -> None:
        """``Model.asave()`` under the upstream name."""
        await self.asave(*args, **kwargs)  # type: ignore[attr-defined]

    async def async_delete(
        self, *args: Any, **kwargs: Any
    ) -> tuple[int, dict[str, int]]:
        """``Model.adelete()`` under the upstream name."""
        return await self.adelete(*args, **kwargs)  # type: ignore[attr-defined]

    async def async_refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        """``Model.arefresh_from_db()`` under the upstream name."""
        await self.arefresh_from_db(*args, **kwargs)  # type: ignore[attr-defined]
