"""Django's async ORM API, running natively on async connections, and
prepared querysets (:func:`prepare`, :class:`Param`)."""

from .prepared import Param, PreparedQueryError, PreparedQuerySet, prepare

__all__ = ["Param", "PreparedQueryError", "PreparedQuerySet", "prepare"]
