"""The upstream project's model API, on every model: ``async_objects`` & co.

Code written for the upstream django-async-backend reads
``Model.async_objects`` and calls ``async_save()``, ``async_delete()`` and
``async_refresh_from_db()`` on instances, and upstream adds them to every
model (``ContentType``, ``User``, auto-created many-to-many through models,
third-party models). :func:`install` (run by the app's ``ready()``) puts
them on Django's ``Model`` base class, so every model has them and a model
that defines one of these names itself keeps its own.

Here Django's own a-methods are native already, so ``async_objects`` is the
model's default manager (its custom methods included) and ``async_save`` is
``asave``. What ``async_objects`` querysets add are upstream's conveniences
for async code, where Django's querysets would raise
``SynchronousOnlyOperation``:

* ``await qs[1]``: an item is awaitable;
* ``async for obj in qs[1:3]`` (also with a step, or on a fetched queryset);
* ``repr(qs)`` shows the SQL instead of querying;
* ``for obj in qs``, ``obj in qs``, ``len(qs)`` and ``bool(qs)`` raise
  ``TypeError`` saying what to use instead (``async for``,
  ``await qs.acontains(obj)``, ``await qs.acount()``, ``await qs.aexists()``).

They are still the model's own QuerySet class (a subclass of it), so they
combine with ``Model.objects`` querysets (``|``, ``&``, ``union()``,
subqueries); ``Model.objects`` is untouched. Outside async code (sync code,
or Django's ORM running in the bridge) they behave exactly as Django's.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import models

from ..db.bridge import in_bridge

__all__ = [
    "AsyncManager",
    "AsyncModelMixin",
    "AsyncObjects",
    "AsyncObjectsManagerMixin",
    "AsyncObjectsQuerySetMixin",
    "async_queryset_class",
    "install",
]


def in_async_code() -> bool:
    """Whether a running event loop owns this thread, outside the bridge.

    That is where Django's sync ORM raises ``SynchronousOnlyOperation``.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return not in_bridge()


class _AsyncIterableList(list[Any]):
    """A slice of fetched results: a list, also usable with ``async for``."""

    async def _items(self) -> AsyncIterator[Any]:
        for item in self:
            yield item

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items()


async def _ready(value: Any) -> Any:
    return value


async def _single(queryset: Any) -> Any:
    async for item in queryset:
        return item
    raise IndexError("list index out of range")


async def _every(step: int, queryset: Any) -> AsyncIterator[Any]:
    items = [item async for item in queryset]
    for item in items[::step]:
        yield item


class AsyncObjectsQuerySetMixin:
    """Upstream's async-code conveniences for a QuerySet class (see module)."""

    _result_cache: list[Any] | None
    query: Any

    def _needs_query_in_async_code(self) -> bool:
        return self._result_cache is None and in_async_code()

    def _unsupported(self, operation: str, instead: str) -> TypeError:
        return TypeError(
            f"{operation} would run a query synchronously in async code. "
            f"Use {instead}."
        )

    def __iter__(self) -> Any:
        if self._needs_query_in_async_code():
            raise self._unsupported(
                "Iterating an async_objects queryset",
                "`async for obj in qs` (or `[obj async for obj in qs]`)",
            )
        return super().__iter__()  # type: ignore[misc]

    def __contains__(self, value: Any) -> bool:
        if self._needs_query_in_async_code():
            raise self._unsupported(
                "`in` on an async_objects queryset", "`await qs.acontains(obj)`"
            )
        # What `in` does for a class without __contains__.
        return any(item is value or item == value for item in self)

    def __len__(self) -> int:
        if self._needs_query_in_async_code():
            raise self._unsupported(
                "len() of an async_objects queryset", "`await qs.acount()`"
            )
        return super().__len__()  # type: ignore[misc]

    def __bool__(self) -> bool:
        if self._needs_query_in_async_code():
            raise self._unsupported(
                "Truth-testing an async_objects queryset", "`await qs.aexists()`"
            )
        return super().__bool__()  # type: ignore[misc]

    def __repr__(self) -> str:
        if not self._needs_query_in_async_code():
            return super().__repr__()
        try:
            sql = str(self.query)
        except EmptyResultSet:
            sql = ""
        return f"<{type(self).__name__} [{sql}]>"

    def __getitem__(self, k: Any) -> Any:
        parent: Any = super()
        if not isinstance(k, (int, slice)) or not in_async_code():
            return parent.__getitem__(k)
        if self._result_cache is not None:
            found = parent.__getitem__(k)
            return _AsyncIterableList(found) if isinstance(k, slice) else _ready(found)
        if isinstance(k, int):
            # A one-row slice (Django checks the index), fetched when awaited.
            return _single(parent.__getitem__(slice(k, k + 1)))
        if k.step:
            # Django would fetch the slice now; fetch it when iterated instead.
            return _every(k.step, parent.__getitem__(slice(k.start, k.stop)))
        return parent.__getitem__(k)

    def __reduce__(self) -> Any:
        # A class made at run time is pickled as the QuerySet class it extends.
        base = getattr(type(self), "_extends", type(self))
        return (_unpickle, (base, self.__getstate__()))

    def __copy__(self) -> Any:
        # copy.copy() would otherwise go through __reduce__ (and fetch rows).
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone


def _unpickle(queryset_class: type, state: dict[str, Any]) -> Any:
    cls = async_queryset_class(queryset_class)
    queryset: Any = object.__new__(cls)
    queryset.__setstate__(state)
    return queryset


_queryset_classes: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()


def async_queryset_class(queryset_class: type) -> type:
    """``queryset_class`` with the async-code conveniences (made once)."""
    if issubclass(queryset_class, AsyncObjectsQuerySetMixin):
        return queryset_class
    made = _queryset_classes.get(queryset_class)
    if made is None:
        made = type(
            queryset_class.__name__,
            (AsyncObjectsQuerySetMixin, queryset_class),
            {
                "__module__": __name__,
                "__doc__": queryset_class.__doc__,
                "_extends": queryset_class,
            },
        )
        _queryset_classes[queryset_class] = made
    return made


class AsyncObjectsManagerMixin:
    """A manager whose querysets have the async-code conveniences."""

    def get_queryset(self) -> Any:
        queryset = super().get_queryset()  # type: ignore[misc]
        queryset.__class__ = async_queryset_class(type(queryset))
        return queryset


class AsyncManager(AsyncObjectsManagerMixin, models.Manager):
    """A manager to declare (``async_objects = AsyncManager()``), as upstream.

    Django's ``Manager`` whose querysets have the async-code conveniences;
    every a-method is Django's, native.
    """


_manager_classes: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()
_async_views: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _async_view(manager: Any) -> Any:
    """A copy of ``manager`` whose querysets have the conveniences."""
    if isinstance(manager, AsyncObjectsManagerMixin):
        return manager
    view = _async_views.get(manager)
    if view is None:
        cls = type(manager)
        view_class = _manager_classes.get(cls)
        if view_class is None:
            view_class = type(
                cls.__name__,
                (AsyncObjectsManagerMixin, cls),
                {"__module__": __name__, "__doc__": cls.__doc__},
            )
            _manager_classes[cls] = view_class
        view = object.__new__(view_class)
        view.__dict__.update(manager.__dict__)
        _async_views[manager] = view
    return view


class AsyncObjects:
    """``Model.async_objects``: the default manager, for async code.

    Like ``Model.objects``, it is reached on the class, not on instances.
    """

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is not None:
            raise AttributeError(
                f"Manager isn't accessible via {owner.__name__} instances"
            )
        manager = owner._default_manager  # type: ignore[attr-defined]
        if manager is None:
            raise AttributeError(f"{owner.__name__} has no default manager")
        return _async_view(manager)


class AsyncModelMixin:
    """The upstream model API as a mixin: ``class Book(AsyncModelMixin, models.Model)``.

    With the app installed every model has it already (see :func:`install`);
    the mixin also serves projects that don't install the app.
    """

    async_objects = AsyncObjects()

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


#: The names of the upstream model API.
MODEL_API = ("async_objects", "async_save", "async_delete", "async_refresh_from_db")


def install() -> None:
    """Give every model the upstream API (idempotent; the app's ``ready()``).

    Set on Django's ``Model``: a model that defines one of the names (or
    inherits ``AsyncModelMixin``) keeps its own, by ordinary inheritance.
    """
    for name in MODEL_API:
        if name not in vars(models.Model):
            setattr(models.Model, name, vars(AsyncModelMixin)[name])
