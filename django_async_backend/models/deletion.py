"""Custom ``async def`` ``on_delete`` handlers, awaited.

Django's ``Collector.collect()`` calls a relation's handler,
``on_delete(collector, field, sub_objs, using)``, and ignores what it
returns: an ``async def`` handler (upstream django-async-backend accepts
only those for custom handlers) would hand back a coroutine nobody awaits,
and its work would be lost.

So a relation whose handler is a coroutine function gets a subclass of its
class (``ManyToOneRel``, ...) whose ``on_delete``, when ``Collector.collect``
reads it, is a sync handler that awaits the async one: through the bridge
when the delete runs natively (the handler runs on the deleting task, in its
transaction), with ``async_to_sync`` in sync code. Everything else reads the
handler the model declares, so migrations, ``deconstruct()`` and checks are
unchanged. Django's own handlers and custom sync ones are left alone.

The async handler gets a collector whose ``collect()`` is awaitable (upstream's
handlers ``await collector.collect(...)``); its other methods are Django's,
and ``sub_objs`` is Django's queryset (``async for obj in sub_objs`` works).
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.db.models import Model
from django.db.models.deletion import Collector
from django.db.models.signals import class_prepared

from .native import native_async_to_sync, native_sync_to_async

__all__ = ["AwaitableCollector", "install", "is_async_handler"]

# The code objects that read a relation's on_delete to call it.
_CALLERS = {Collector.collect.__code__}


def is_async_handler(handler: Any) -> bool:
    """Whether ``handler`` is an ``async def`` (or has an async ``__call__``)."""
    return callable(handler) and (
        iscoroutinefunction(handler)
        or iscoroutinefunction(getattr(handler, "__call__", None))  # noqa: B004
    )


class AwaitableCollector:
    """Django's collector as an async ``on_delete`` handler sees it."""

    __slots__ = ("collector",)

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collector, name)

    async def collect(self, *args: Any, **kwargs: Any) -> None:
        """``Collector.collect()``, awaitable (natively, on the task)."""
        await native_sync_to_async(self.collector.collect)(*args, **kwargs)


_adapters: weakref.WeakKeyDictionary[Any, Callable[..., None]] = (
    weakref.WeakKeyDictionary()
)


def _awaiting(handler: Any) -> Callable[..., None]:
    """A sync handler that runs ``handler`` to completion (made once)."""
    adapter = _adapters.get(handler)
    if adapter is None:
        run = native_async_to_sync(handler)

        def adapter(collector: Any, field: Any, sub_objs: Any, using: str) -> None:
            run(AwaitableCollector(collector), field, sub_objs, using)

        try:
            functools.update_wrapper(adapter, handler)  # lazy_sub_objs too
        except AttributeError:  # pragma: no cover - callables without metadata
            pass
        vars(adapter).pop("__wrapped__", None)  # not a coroutine function itself
        _adapters[handler] = adapter
    return adapter


def _get_on_delete(rel: Any) -> Any:
    handler = rel.__dict__["on_delete"]
    if sys._getframe(1).f_code in _CALLERS and is_async_handler(handler):
        return _awaiting(handler)
    return handler


def _set_on_delete(rel: Any, handler: Any) -> None:
    rel.__dict__["on_delete"] = handler


_rel_classes: dict[type, type] = {}


def _awaiting_rel_class(cls: type) -> type:
    made = _rel_classes.get(cls)
    if made is None:
        made = type(
            cls.__name__,
            (cls,),
            {
                "__module__": __name__,
                "__doc__": cls.__doc__,
                "on_delete": property(_get_on_delete, _set_on_delete),
            },
        )
        _rel_classes[cls] = made
    return made


def prepare_model(model: type[Model]) -> None:
    """Make ``model``'s relations with async handlers await them."""
    opts = model._meta
    for field in (*opts.local_fields, *opts.private_fields):
        rel = getattr(field, "remote_field", None)
        if rel is None or type(rel) in _rel_classes.values():
            continue
        if is_async_handler(vars(rel).get("on_delete")):
            rel.__class__ = _awaiting_rel_class(type(rel))


def _on_class_prepared(sender: type[Model], **kwargs: Any) -> None:
    prepare_model(sender)


def install() -> None:
    """Prepare every model, now and as they are created (the app's ``ready()``)."""
    from django.apps import apps

    for model in apps.get_models(include_auto_created=True, include_swapped=True):
        prepare_model(model)
    class_prepared.connect(_on_class_prepared, dispatch_uid=__name__)
