"""Prepared querysets: compile a queryset once per database, run it many times.

Most of the CPU of a primary-key ``get()`` goes to building and compiling the
query, which is the same from one request to the next. :func:`prepare` takes
a queryset whose varying values are named placeholders (:class:`Param`) and
returns a :class:`PreparedQuerySet`; each call binds new values and runs it::

    book_by_pk = prepare(Book.objects.select_related("author").filter(pk=Param("pk")))
    book = await book_by_pk.aget(pk=5)          # sync: book_by_pk.get(pk=5)

How a call stays cheap while its results stay Django's own:

* **Capture.** The first call of an operation (``get``, ``count``, ...) on a
  database alias runs Django's own operation on the template queryset up to
  the moment its compiler would execute: the template's query class hands out
  compilers whose ``execute_sql`` raises instead. That compiler, built by
  Django for exactly this operation (``get()``'s cleared ordering and
  ``LIMIT 21``, ``count()``'s aggregate, ...), is compiled once, and what
  Django needs to turn rows into results (the select list, ``klass_info`` for
  ``select_related``, annotation columns, converters) is kept from it.
* **Sites.** :func:`prepare` replaced each lookup whose right-hand side holds
  Params by a *site*, a subclass of the same lookup. Compiled, a site builds
  the plain lookup Django would have built for the value, compiles that and
  leaves markers where its parameters go. A call does the same with its own
  values (so each field prepares them with its own ``get_prep_value`` /
  ``get_db_prep_value``, patterns are escaped, model instances become keys,
  exactly as in the plain queryset) and checks that the SQL kept its shape.
* **Run.** A call makes a compiler of the captured class whose ``as_sql()``
  returns the kept SQL with the new parameters, and hands it to Django's
  ``execute_sql``, ``results_iter``, ``ModelIterable``, ``ValuesIterable``
  and ``prefetch_related_objects``. Execution goes through Django's cursor
  layer (debug logging, ``execute_wrapper``, ``assertNumQueries``, error
  mapping), as a server-side prepared statement where the ENGINE offers it
  (PostgreSQL: ``OPTIONS["prepared_statements"]``).

Async calls run in the greenlet bridge on the calling task's connection, so
they take part in its ``async_atomic`` block; sync calls use the thread's
Django connection. A prepared queryset holds no connection and no per-call
state: threads and tasks share one freely.

Operations Django runs as several dependent queries (``delete()`` with
cascades, signals or parents, an ``update()`` of inherited fields,
``count()`` of a sliced, distinct or aggregated queryset) run Django's own
code on the queryset with the values bound in: correct, not faster.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import NotSupportedError, connections, router, transaction
from django.db.models import Manager, Model, QuerySet
from django.db.models.deletion import Collector
from django.db.models.expressions import ColPairs, Expression, Value
from django.db.models.fields.related_lookups import RelatedLookupMixin
from django.db.models.lookups import (
    BuiltinLookup,
    Exact,
    In,
    IsNull,
    Lookup,
    Transform,
)
from django.db.models.query import MAX_GET_RESULTS, Prefetch
from django.db.models.sql import DeleteQuery, Query
from django.db.models.sql.constants import ROW_COUNT, SINGLE
from django.db.models.sql.where import AND, WhereNode
from django.db.transaction import TransactionManagementError
from django.db.utils import load_backend
from django.utils.deconstruct import deconstructible

from .. import conf
from ..db.bridge import greenlet_spawn
from ..db.task_local import is_async_alias

__all__ = ["Param", "PreparedQueryError", "PreparedQuerySet", "prepare"]

T = TypeVar("T")

# Vendors whose drivers bind a list as one array parameter (``= ANY(%s)``).
ARRAY_VENDORS = frozenset({"postgresql"})


class PreparedQueryError(ValueError):
    """A placeholder can't express this part of a query, or a value would
    change the query's SQL. The message names the lookup and what to do."""


@deconstructible(path="django_async_backend.models.Param")
class Param(Expression):
    """A named placeholder in a queryset given to :func:`prepare`.

    It goes where a value goes: the right-hand side of a lookup
    (``filter(pk=Param("pk"))``, ``pages__range=(Param("lo"), Param("hi"))``,
    ``id__in=Param("ids")`` on PostgreSQL), a value of ``update()``, or inside
    an expression (``F("pages") + Param("n", output_field=IntegerField())``:
    ``output_field`` gives the type where Django needs one). Every call of the
    prepared queryset gives each Param's value by name.
    """

    # No value until a call binds one.
    allowed_default = False

    def __init__(self, name: str, output_field: Any = None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Param() takes a non-empty name, not {name!r}.")
        super().__init__(output_field=output_field)
        self.name = name

    def __repr__(self) -> str:
        return f"Param({self.name!r})"

    def get_group_by_cols(self) -> list[Any]:
        return []

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        compilation = _compilation.get()
        if compilation is None:
            raise PreparedQueryError(
                f"{self!r} has no value here: a queryset with Params runs "
                f"through prepare(queryset), whose calls give the values "
                f"(prepared.get({self.name}=...))."
            )
        return compilation.site(_ValueSite(self), compiler, connection)

    def bind_value(self, value: Any, connection: Any) -> Any:
        """The expression Django compiles for ``value`` in this place."""
        return Value(value, output_field=self._output_field_or_none)

    # Slicing by a Param: Django reads slice bounds as integers while it
    # builds the query, and LIMIT/OFFSET are part of the SQL compiled once.
    def _not_a_bound(self, *args: Any) -> Any:
        raise TypeError(
            f"{self!r} can't be a slice bound or an index: the LIMIT/OFFSET of "
            f"a prepared queryset is part of the SQL it compiles once. Slice "
            f"with integers (one prepared queryset per page size)."
        )

    __index__ = __int__ = _not_a_bound
    __lt__ = __le__ = __gt__ = __ge__ = _not_a_bound


class _UpdateParam(Param):
    """An ``update()`` value, bound as Django binds a plain value there."""

    def __init__(self, name: str, target: Any) -> None:
        super().__init__(name)
        self.target = target  # the field it sets

    def bind_value(self, value: Any, connection: Any) -> Any:
        field = self.target
        if hasattr(value, "resolve_expression"):
            raise TypeError(
                f"update(): the value of {self.name!r} is an expression; give "
                f"expressions in the fields mapping and plain values as "
                f"parameters."
            )
        if hasattr(value, "prepare_database_save"):
            if not field.remote_field:
                raise TypeError(
                    f"update(): {field} is not a relation, so it can't be set "
                    f"to the model instance {value!r}."
                )
            value = value.prepare_database_save(field)
        bound = Value(value, output_field=field)
        bound.for_save = True
        return bound


# -- compiling with the first call's values; where parameters go ---------------


class _Slot:
    """Stands for parameter ``index`` of site ``site`` in compiled SQL."""

    __slots__ = ("index", "site")

    def __init__(self, site: int, index: int) -> None:
        self.site = site
        self.index = index

    def __repr__(self) -> str:
        return f"<parameter {self.index} of site {self.site}>"


class _ValueSite:
    """A Param compiled on its own (not as the right-hand side of a lookup)."""

    __slots__ = ("param",)
    conjunct = False

    def __init__(self, param: Param) -> None:
        self.param = param

    @property
    def null_is_placeholder(self) -> bool:
        # "SET col = NULL" and "SET col = %s" with None mean the same.
        return isinstance(self.param, _UpdateParam)

    def value(self, values: Mapping[str, Any]) -> Any:
        return values[self.param.name]

    def bind(self, values: Mapping[str, Any], connection: Any) -> Any:
        return self.param.bind_value(values[self.param.name], connection)

    def describe(self) -> str:
        return repr(self.param)


class _ShapeChange(Exception):
    """The first call's values make the query compile differently (Django
    would drop or short-cut a condition): this call takes the bound path."""


class _Empty(Exception):
    """A call's value makes a top-level condition always false: no row can
    match, and Django would not run the query at all."""


def _compile_bound(
    node: Any, bound: Any, values: Mapping[str, Any], compiler: Any
) -> tuple[str, list[Any]]:
    try:
        sql, params = compiler.compile(bound)
    except EmptyResultSet:
        if node.conjunct:
            raise _Empty from None
        raise PreparedQueryError(_always_message(node, values, "false")) from None
    except FullResultSet:
        raise PreparedQueryError(_always_message(node, values, "true")) from None
    if sql == "NULL" and not params and node.null_is_placeholder:
        return "%s", [None]
    return sql, list(params)


def _always_message(node: Any, values: Mapping[str, Any], which: str) -> str:
    return (
        f"{node.describe()} is always {which} for {node.value(values)!r}, which "
        f"Django expresses by changing the query; a placeholder can't. Check "
        f"for that value before the call (or use a plain queryset for it)."
    )


def _rhs_only(bound: Any, connection: Any) -> bool:
    """Whether ``bound`` compiles as ``<lhs> <op(rhs)>`` with the left-hand
    side independent of the value: Django's built-in comparison lookups.
    A site of such a lookup compiles only its right-hand side per call."""
    if bound.bilateral_transforms:
        return False
    cls = type(bound)
    if getattr(cls, "as_" + connection.vendor, None) is not None:
        return False
    for klass in cls.__mro__:
        as_sql = klass.__dict__.get("as_sql")
        if as_sql is None:
            continue
        if klass is BuiltinLookup or klass is _ComparedExact:
            return True
        if klass is Exact:
            if getattr(bound.lhs, "conditional", False):
                return False
        elif klass is In:
            if connection.ops.max_in_list_size() is not None:
                return False
        elif klass is RelatedLookupMixin:
            if isinstance(bound.lhs, ColPairs):
                return False
        else:
            return False
    return False


class _Site:
    """Where a call's value goes in one compiled query.

    ``sql`` is what the plain lookup (or value) compiled to with the first
    call's value; for a right-hand-side-only site, its right-hand side and
    operator. Every call must compile to the same.
    """

    __slots__ = ("count", "node", "op", "query", "rhs_only", "sql")

    def __init__(
        self, node: Any, query: Any, sql: Any, count: int, op: str | None
    ) -> None:
        self.node = node
        self.query = query  # the (sub)query compiled around it
        self.sql = sql
        self.count = count
        self.op = op
        self.rhs_only = op is not None

    def params(self, values: Mapping[str, Any], connection: Any) -> list[Any]:
        """This site's parameters for ``values``, compiled as Django would."""
        node = self.node
        bound = node.bind(values, connection)
        compiler = connection.ops.compiler("SQLCompiler")(self.query, connection, None)
        if self.rhs_only:
            try:
                sql, params = bound.process_rhs(compiler, connection)
            except EmptyResultSet:
                if node.conjunct:
                    raise _Empty from None
                raise PreparedQueryError(
                    _always_message(node, values, "false")
                ) from None
            except FullResultSet:
                raise PreparedQueryError(
                    _always_message(node, values, "true")
                ) from None
            if sql == self.sql and bound.get_rhs_op(connection, sql) == self.op:
                return list(params)
        else:
            sql, params = _compile_bound(node, bound, values, compiler)
            if sql == self.sql:
                return params
        raise PreparedQueryError(
            f"{node.describe()} compiles to other SQL for {node.value(values)!r} "
            f"({sql!r}) than for the value it was first run with "
            f"({self.sql!r}): a placeholder can't change the shape of the "
            f"query. Prepare one queryset per shape."
        )


class _Compilation:
    """Compiling one operation's query with the first call's values."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.sites: list[_Site] = []
        self._token: contextvars.Token[_Compilation | None] | None = None

    def site(self, node: Any, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        bound = node.bind(self.values, connection)
        index = len(self.sites)
        try:
            sql, params = _compile_bound(node, bound, self.values, compiler)
        except _Empty:
            raise _ShapeChange from None
        if isinstance(node, _ParamLookup) and _rhs_only(bound, connection):
            lhs_sql, lhs_params = bound.process_lhs(compiler, connection)
            rhs_sql, rhs_params = bound.process_rhs(compiler, connection)
            op = bound.get_rhs_op(connection, rhs_sql)
            if sql == f"{lhs_sql} {op}" and params == [*lhs_params, *rhs_params]:
                self.sites.append(
                    _Site(node, compiler.query, rhs_sql, len(rhs_params), op)
                )
                slots = [_Slot(index, i) for i in range(len(rhs_params))]
                return sql, [*lhs_params, *slots]
        self.sites.append(_Site(node, compiler.query, sql, len(params), None))
        return sql, [_Slot(index, i) for i in range(len(params))]

    def __enter__(self) -> _Compilation:
        self._token = _compilation.set(self)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        assert self._token is not None
        _compilation.reset(self._token)


_compilation: contextvars.ContextVar[_Compilation | None] = contextvars.ContextVar(
    "django_async_backend_prepared_compilation", default=None
)


# -- lookups with Params on the right: sites ------------------------------------


def _describe_lookup(lookup: Any) -> str:
    names = [lookup.lookup_name]
    lhs = lookup.lhs
    while isinstance(lhs, Transform):
        names.append(lhs.lookup_name)
        lhs = lhs.lhs
    target = getattr(lhs, "target", None)
    where = f"{target.model.__name__}.{target.name}" if target is not None else lhs
    return f"{where}__{'__'.join(reversed(names))}={lookup.rhs!r}"


def _holds_params(rhs: Any) -> bool:
    if isinstance(rhs, Param):
        return True
    return isinstance(rhs, (list, tuple)) and any(isinstance(v, Param) for v in rhs)


class _ParamLookup:
    """Mixed into a copy of a lookup whose right-hand side holds Params.

    The class is also a subclass of the lookup's own class, so what Django
    does with lookups while it builds queries (relabelling, cloning, splitting
    HAVING from WHERE, ...) works unchanged; only compiling differs.
    """

    lhs: Any
    rhs: Any
    lookup_name: str
    _plain_class: type[Lookup]
    null_is_placeholder = False
    # Set on sites ANDed into the top of the WHERE clause: a value that makes
    # one always false makes the whole query match nothing.
    conjunct = False

    def describe(self) -> str:
        return _describe_lookup(self)

    def value(self, values: Mapping[str, Any]) -> Any:
        rhs = self.rhs
        if isinstance(rhs, Param):
            return values[rhs.name]
        return type(rhs)(values[v.name] if isinstance(v, Param) else v for v in rhs)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        compilation = _compilation.get()
        if compilation is None:
            first = self.rhs if isinstance(self.rhs, Param) else self.rhs[0]
            return first.as_sql(compiler, connection)  # raises, explaining
        return compilation.site(self, compiler, connection)

    def bind(self, values: Mapping[str, Any], connection: Any, lhs: Any = None) -> Any:
        """The lookup Django builds for ``filter(<lhs>=<the value>)``."""
        value = self.value(values)
        if hasattr(value, "resolve_expression"):
            raise TypeError(
                f"{self.describe()}: the value must be a plain value, not the "
                f"expression {value!r}."
            )
        lookup = self._plain_class(self.lhs if lhs is None else lhs, value)
        if lookup.rhs is None and not lookup.can_use_none_as_rhs:
            if self.lookup_name in ("exact", "iexact"):
                raise PreparedQueryError(
                    f"{self.describe()} is None: the plain queryset would test "
                    f"IS NULL, which is another query. Prepare a second "
                    f"queryset with __isnull=True for that case."
                )
            raise ValueError("Cannot use None as a query value")
        if (
            self.lookup_name == "exact"
            and lookup.rhs == ""
            and connection.features.interprets_empty_strings_as_nulls
        ):
            raise PreparedQueryError(
                f"{self.describe()} is '', which this database stores as NULL "
                f"(the plain queryset would test IS NULL). Prepare a second "
                f"queryset with __isnull=True for that case."
            )
        return lookup


class _ArrayIn:
    """``__in=Param(...)``: one array parameter (``= ANY(%s)``), so one shape
    for lists of any length, on databases that bind arrays (PostgreSQL)."""

    lhs: Any
    rhs: Any

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if connection.vendor not in ARRAY_VENDORS:
            raise PreparedQueryError(_no_array_message(self, connection.vendor))
        try:
            sql, params = super().process_rhs(compiler, connection)  # type: ignore[misc]
        except EmptyResultSet:
            return "%s", [[]]  # no row matches "= ANY('{}')" either
        if sql != "(" + ", ".join(["%s"] * len(params)) + ")":
            raise PreparedQueryError(
                f"{_describe_lookup(self)}: only plain values can go in the "
                f"list of a prepared __in."
            )
        return "%s", [list(params)]

    def get_rhs_op(self, connection: Any, rhs: str) -> str:
        return f"= ANY({rhs})"


def _no_array_message(lookup: Any, vendor: str) -> str:
    return (
        f"{_describe_lookup(lookup)}: {vendor} has no array parameters, so a "
        f"list of any length needs one placeholder per item, which changes "
        f"the SQL. Use a fixed number of Params (__in=[Param('a'), "
        f"Param('b')]) or a plain queryset for lists that vary."
    )


_classes: dict[tuple[type, type], type] = {}
_classes_lock = threading.Lock()


def _subclass(mixin: type, base: type, **namespace: Any) -> Any:
    """``class <mixin><base>(mixin, base)``, made once per pair; its ``_base``
    is ``base``."""
    key = (mixin, base)
    cls = _classes.get(key)
    if cls is None:
        with _classes_lock:
            cls = _classes.get(key)
            if cls is None:
                name = mixin.__name__.lstrip("_") + base.__name__
                cls = type(name, (mixin, base), {**namespace, "_base": base})
                _classes[key] = cls
    return cls


def _plain_class_of(obj: Any) -> type:
    return getattr(type(obj), "_base", type(obj))


def _site_for(lookup: Lookup) -> Lookup:
    """A copy of ``lookup`` (its right-hand side holds Params) that is a site."""
    base = type(lookup)
    if isinstance(lookup, IsNull):
        raise PreparedQueryError(
            f"{_describe_lookup(lookup)}: IS NULL and IS NOT NULL are "
            f"different SQL. Prepare one queryset with __isnull=True and one "
            f"with __isnull=False."
        )
    array = isinstance(lookup, In) and isinstance(lookup.rhs, Param)
    compared = isinstance(lookup, Exact) and getattr(lookup.lhs, "conditional", False)
    # Compiling a site must not reach vendor methods (as_oracle, as_mysql,
    # ...): they belong to the plain lookup it binds.
    namespace = {
        name: _ParamLookup.as_sql
        for name in dir(base)
        if name.startswith("as_") and callable(getattr(base, name))
    }
    kind: type[_ParamLookup]
    if array:
        kind, plain = _ArrayInSite, _subclass(_ArrayIn, base)
    elif compared:
        kind, plain = _ComparedSite, _subclass(_ComparedExact, base)
    else:
        kind, plain = _ParamLookup, base
    site = lookup.copy()
    site.__class__ = _subclass(kind, base, **namespace, _plain_class=plain)
    return site


class _ArrayInSite(_ParamLookup):
    """A site for ``__in=Param(...)`` (needs array parameters)."""


class _ComparedSite(_ParamLookup):
    """A site for ``<boolean>=Param(...)`` (see _ComparedExact)."""


class _ComparedExact:
    """``flag=Param(...)`` on a boolean: Django writes ``WHERE flag`` for True
    and ``WHERE NOT flag`` for False, two shapes. A prepared queryset compares
    (``flag = %s``), which selects the same rows for either value."""

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return BuiltinLookup.as_sql(self, compiler, connection)


def _mark_conjuncts(where: Any) -> None:
    if where.connector != AND or where.negated:
        return
    for child in where.children:
        if isinstance(child, _ParamLookup):
            child.conjunct = True
        elif isinstance(child, WhereNode):
            _mark_conjuncts(child)


# -- walking a query ------------------------------------------------------------


def _transform(node: Any, change: Callable[[Any], Any]) -> Any:
    """``node`` with ``change`` applied, top-down; copies only what changes.

    ``change(n)`` returns a replacement (not walked further) or None. Walks
    WHERE trees, expressions and the queries of subqueries.
    """
    replacement = change(node)
    if replacement is not None:
        return replacement
    if isinstance(node, Query):
        return _transform_query(node, change, copy=True)
    if hasattr(node, "get_source_expressions"):
        sources = node.get_source_expressions()
        new = [None if s is None else _transform(s, change) for s in sources]
        if any(a is not b for a, b in zip(new, sources, strict=True)):
            node = node.copy()
            node.set_source_expressions(new)
    return node


def _transform_query(query: Any, change: Callable[[Any], Any], *, copy: bool) -> Any:
    where = _transform(query.where, change)
    annotations = {n: _transform(e, change) for n, e in query.annotations.items()}
    combined = tuple(_transform(q, change) for q in query.combined_queries)
    order_by = tuple(
        item if isinstance(item, str) else _transform(item, change)
        for item in query.order_by
    )
    if (
        where is query.where
        and all(annotations[n] is e for n, e in query.annotations.items())
        and all(a is b for a, b in zip(combined, query.combined_queries, strict=True))
        and all(a is b for a, b in zip(order_by, query.order_by, strict=True))
    ):
        return query
    if copy:
        query = query.clone()
    query.where = where
    query.annotations = annotations
    query.combined_queries = combined
    query.order_by = order_by
    return query


def _param_names(node: Any) -> set[str]:
    names: set[str] = set()

    def collect(n: Any) -> None:
        if isinstance(n, Param):
            names.add(n.name)
        elif isinstance(n, Lookup) and isinstance(n.rhs, (list, tuple)):
            names.update(v.name for v in n.rhs if isinstance(v, Param))

    _transform(node, collect)
    return names


def _make_site(node: Any) -> Any:
    if (
        isinstance(node, Lookup)
        and not isinstance(node, _ParamLookup)
        and _holds_params(node.rhs)
    ):
        return _site_for(node)
    return None


def _array_site(query: Any) -> Any:
    """An ``__in=Param(...)`` site of ``query``, if any."""
    found: list[Any] = []

    def look(node: Any) -> None:
        if isinstance(node, _ArrayInSite):
            found.append(node)

    _transform(query, look)
    return found[0] if found else None


# -- capturing the query Django builds for an operation ---------------------------


class _Captured(BaseException):
    """Raised where Django would execute the captured compiler.

    A ``BaseException``: Django's ``except Exception`` handlers on the way out
    (``mark_for_rollback_on_error`` around ``update()``) must not take it for
    a failed query and mark the caller's transaction for rollback.
    """

    def __init__(self, compiler: Any) -> None:
        super().__init__()
        self.compiler = compiler


class _NotCapturable(BaseException):
    """Django compiles our query inside one of its own and would run that
    (``count()`` of a sliced queryset): the operation takes the bound path."""


_capturing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "django_async_backend_prepared_capturing", default=False
)


class _CapturingCompiler:
    def execute_sql(self, *args: Any, **kwargs: Any) -> Any:
        raise _Captured(self)

    def as_sql(self, *args: Any, **kwargs: Any) -> Any:
        if _capturing.get():
            raise _NotCapturable
        return super().as_sql(*args, **kwargs)  # type: ignore[misc]


class _TemplateQuery:
    """A template's query class: its compilers capture instead of executing.

    ``chain(klass)`` (how ``update()`` makes its ``UpdateQuery``) keeps this
    behaviour on the new class.
    """

    def get_compiler(
        self, using: Any = None, connection: Any = None, elide_empty: bool = True
    ) -> Any:
        compiler = super().get_compiler(using, connection, elide_empty)  # type: ignore[misc]
        compiler.__class__ = _subclass(_CapturingCompiler, type(compiler))
        return compiler

    def chain(self, klass: Any = None) -> Any:
        query = super().chain(klass)  # type: ignore[misc]
        if not isinstance(query, _TemplateQuery):
            query.__class__ = _subclass(_TemplateQuery, type(query))
        return query


def _capture(operation: Callable[[], Any]) -> Any:
    """The compiler ``operation`` would execute, or None (_NotCapturable)."""
    token = _capturing.set(True)
    try:
        operation()
    except _Captured as captured:
        return captured.compiler
    except _NotCapturable:
        return None
    finally:
        _capturing.reset(token)
    raise RuntimeError("the operation finished without running a query")


# -- compiled operations ----------------------------------------------------------


class _PreparedCompiler:
    """Mixed into the captured compiler's class: ``as_sql()`` is the kept SQL
    with this call's parameters; everything else is Django's."""

    connection: Any
    query: Any
    _sql: str | None
    _params: Sequence[Any]
    _statements: bool
    _converters: dict[tuple[int, ...], Any]

    def as_sql(self, *args: Any, **kwargs: Any) -> tuple[str, Sequence[Any]]:
        if self._sql is None:
            raise EmptyResultSet
        if self.query.select_for_update and self.connection.get_autocommit():
            # Django checks this while compiling, which a call skips.
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        return self._sql, self._params

    def get_converters(self, expressions: Any) -> Any:
        expressions = list(expressions)
        key = tuple(map(id, expressions))
        converters = self._converters.get(key)
        if converters is None:
            converters = super().get_converters(expressions)  # type: ignore[misc]
            self._converters[key] = converters
        return converters

    def execute_sql(self, *args: Any, **kwargs: Any) -> Any:
        if not self._statements:
            return super().execute_sql(*args, **kwargs)  # type: ignore[misc]
        # The ENGINE makes the cursor opened meanwhile run prepared statements.
        connection = self.connection
        connection.prepare_statements = True
        try:
            return super().execute_sql(*args, **kwargs)  # type: ignore[misc]
        finally:
            connection.prepare_statements = False


def _uses_prepared_statements(connection: Any, query: Any) -> bool:
    enabled = getattr(connection, "prepared_statements_enabled", None)
    if enabled is None or not enabled():
        return False
    # Bound on the server, a parameter in both SELECT and GROUP BY is two
    # parameters, which the server can't match (Django ticket #34255).
    return query.group_by is None


class _Operation:
    """One operation of a prepared queryset, compiled for one alias."""

    __slots__ = (
        "columns",
        "compiler_class",
        "constants",
        "query",
        "sites",
        "slots",
        "state",
    )

    def __init__(self, compiler: Any, values: Mapping[str, Any]) -> None:
        with _Compilation(values) as compilation:
            try:
                sql, params = compiler.as_sql()
            except EmptyResultSet:
                sql, params = None, ()
        slots = [
            (position, param.site, param.index)
            for position, param in enumerate(params)
            if type(param) is _Slot
        ]
        if len(slots) != sum(site.count for site in compilation.sites):
            raise PreparedQueryError(
                "This query can't be prepared: something rewrites the "
                "parameters of its lookups after compiling them. Use a plain "
                "queryset."
            )
        self.compiler_class = _subclass(_PreparedCompiler, _plain_class_of(compiler))
        self.query = compiler.query
        self.sites = compilation.sites
        self.slots = slots
        self.constants = tuple(params)
        self.columns: list[Any] | None = None
        self.state = {
            **compiler.__dict__,
            "_sql": sql,
            "_params": self.constants,
            "_statements": _uses_prepared_statements(
                compiler.connection, compiler.query
            ),
            "_converters": {},
        }

    def bind(self, values: Mapping[str, Any], connection: Any) -> Sequence[Any]:
        if not self.sites:
            return self.constants
        bound = [site.params(values, connection) for site in self.sites]
        params = list(self.constants)
        for position, site, index in self.slots:
            params[position] = bound[site][index]
        return params

    def compiler(self, connection: Any, alias: str, values: Mapping[str, Any]) -> Any:
        compiler = object.__new__(self.compiler_class)
        state = compiler.__dict__
        state.update(self.state)
        state["connection"] = connection
        state["using"] = alias
        try:
            state["_params"] = self.bind(values, connection)
        except _Empty:
            state["_sql"] = None  # as Django: nothing to run, no row
        return compiler


class _CallQuery:
    """What a call's queryset shows Django's iterables as its query: the
    captured query, whose compiler is the call's prepared compiler."""

    __slots__ = ("_compiler", "_query")

    def __init__(self, query: Any, compiler: Any) -> None:
        self._query = query
        self._compiler = compiler

    def get_compiler(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._query, name)


# The operations that return rows, as Django runs them on a queryset.
_ROW_OPERATIONS: dict[str, Callable[[QuerySet], Any]] = {
    "rows": lambda queryset: queryset._fetch_all(),
    "get": lambda queryset: queryset.get(),
    "first": lambda queryset: queryset.first(),
}
# An operation that takes the bound path (Django's own code, values bound in).
_BOUND = "bound"


# -- the public API ----------------------------------------------------------------


def prepare(queryset: QuerySet | Manager) -> PreparedQuerySet:
    """Compile ``queryset`` once per database alias; run it with new values.

    Placeholders are :class:`Param` objects; :class:`PreparedQuerySet` lists
    the operations. What a placeholder can't express raises
    :class:`PreparedQueryError` here: ``__isnull=Param(...)``,
    ``__in=Param(...)`` on a database without array parameters, a Param in a
    ``Prefetch`` queryset, a condition compared with a Param.
    """
    if isinstance(queryset, Manager):
        queryset = queryset.all()
    if not isinstance(queryset, QuerySet):
        raise TypeError(
            f"prepare() takes a QuerySet or a Manager, not {type(queryset).__name__}."
        )
    return PreparedQuerySet(queryset)


class PreparedQuerySet:
    """A queryset compiled once per alias; each call binds new values.

    Made by :func:`prepare`. The keyword arguments of a call are the values of
    the queryset's Params, all of them, by name. Sync methods run on the
    thread's Django connection; ``a``-methods run natively on the calling
    task's connection (inside its ``async_atomic`` block). Results are those
    of the plain queryset with the values in place of the Params.

    Memory: per alias, each operation used keeps its SQL and Django's
    compiled state (a few kilobytes; see the README).
    """

    def __init__(self, queryset: QuerySet) -> None:
        for lookup in queryset._prefetch_related_lookups:
            inner = getattr(lookup, "queryset", None)
            if (
                isinstance(lookup, Prefetch)
                and inner is not None
                and (_param_names(inner.query))
            ):
                raise PreparedQueryError(
                    f"Prefetch({lookup.prefetch_through!r}) has a queryset "
                    f"with a Param, but prefetch queries run as plain "
                    f"querysets. Prefetch without placeholders, or prepare "
                    f"the related query on its own."
                )
        template = queryset._chain()
        query = template.query
        self._names = frozenset(_param_names(query))
        query = _transform_query(query, _make_site, copy=False)
        _mark_conjuncts(query.where)
        query.__class__ = _subclass(_TemplateQuery, type(query))
        template._query = query
        self._template = template
        self._array_site = _array_site(query)
        self._operations: dict[Any, _Operation | str] = {}
        self._call_state = {
            **template.__dict__,
            "_result_cache": None,
            "_prefetch_done": False,
        }
        self._check_alias(template.db)

    def __repr__(self) -> str:
        return f"<PreparedQuerySet {self.model.__name__} params={sorted(self._names)}>"

    @property
    def model(self) -> type[Model]:
        """The queryset's model."""
        return self._template.model

    @property
    def params(self) -> frozenset[str]:
        """The names of the queryset's Params (each call gives them all)."""
        return self._names

    # -- sync ---------------------------------------------------------------------

    def get(self, **values: Any) -> Any:
        """The one matching object (or ``values()`` row), as ``QuerySet.get``:
        ``DoesNotExist`` / ``MultipleObjectsReturned`` otherwise."""
        return self._get(self._read_alias(), values)

    def first(self, **values: Any) -> Any:
        """The first result (by primary key if unordered), or None."""
        return self._first(self._read_alias(), values)

    def iterate(self, **values: Any) -> Iterator[Any]:
        """The results: fetched at once, then ``prefetch_related`` runs."""
        return iter(self._rows("rows", self._read_alias(), values)[1])

    def count(self, **values: Any) -> int:
        """``QuerySet.count()``."""
        return self._count(self._read_alias(), values)

    def exists(self, **values: Any) -> bool:
        """``QuerySet.exists()``."""
        return self._exists(self._read_alias(), values)

    def update(self, fields: Mapping[str, Any], /, **values: Any) -> int:
        """``QuerySet.update(**fields)``; returns the number of rows matched.

        ``fields`` maps field names to new values: a Param (its value comes
        with the others), a plain value (bound at each call too) or an
        expression such as ``F("n") + 1`` (part of the compiled SQL; one
        compiled update per distinct set of fields and expressions).
        """
        return self._update(self._write_alias(), fields, values)

    def delete(self, **values: Any) -> tuple[int, dict[str, int]]:
        """``QuerySet.delete()``: one prepared ``DELETE`` where Django would
        fast-delete (no cascades, signals or parents), else Django's own
        collection and deletion."""
        return self._delete(self._write_alias(), values)

    # -- async --------------------------------------------------------------------

    async def aget(self, **values: Any) -> Any:
        """Async :meth:`get`."""
        alias = self._read_alias()
        return await self._await(alias, self._get, alias, values)

    async def afirst(self, **values: Any) -> Any:
        """Async :meth:`first`."""
        alias = self._read_alias()
        return await self._await(alias, self._first, alias, values)

    async def aiterate(self, **values: Any) -> AsyncIterator[Any]:
        """Async :meth:`iterate`: ``[b async for b in prepared.aiterate(...)]``."""
        alias = self._read_alias()
        _, results = await self._await(alias, self._rows, "rows", alias, values)
        for item in results:
            yield item

    async def acount(self, **values: Any) -> int:
        """Async :meth:`count`."""
        alias = self._read_alias()
        return await self._await(alias, self._count, alias, values)

    async def aexists(self, **values: Any) -> bool:
        """Async :meth:`exists`."""
        alias = self._read_alias()
        return await self._await(alias, self._exists, alias, values)

    async def aupdate(self, fields: Mapping[str, Any], /, **values: Any) -> int:
        """Async :meth:`update`."""
        alias = self._write_alias()
        return await self._await(alias, self._update, alias, fields, values)

    async def adelete(self, **values: Any) -> tuple[int, dict[str, int]]:
        """Async :meth:`delete`."""
        alias = self._write_alias()
        return await self._await(alias, self._delete, alias, values)

    # -- how a call runs ----------------------------------------------------------

    @staticmethod
    async def _await(alias: str, fn: Callable[..., T], *args: Any) -> T:
        if conf.native_orm_enabled() and is_async_alias(alias):
            return await greenlet_spawn(fn, *args)
        return await sync_to_async(fn)(*args)

    def _read_alias(self) -> str:
        template = self._template
        return template._db or router.db_for_read(self.model, **template._hints)

    def _write_alias(self) -> str:
        template = self._template
        return template._db or router.db_for_write(self.model, **template._hints)

    def _check_values(self, values: Mapping[str, Any], names: frozenset[str]) -> None:
        if values.keys() == names:
            return
        problems = []
        if missing := sorted(names - values.keys()):
            problems.append(f"no value for {', '.join(missing)}")
        if unknown := sorted(values.keys() - names):
            problems.append(f"no Param named {', '.join(unknown)}")
        raise TypeError(f"{self!r}: {'; '.join(problems)}.")

    def _check_alias(self, alias: str) -> None:
        if self._array_site is None:
            return
        engine = connections.settings[alias]["ENGINE"]
        vendor = load_backend(engine).DatabaseWrapper.vendor
        if vendor not in ARRAY_VENDORS:
            raise PreparedQueryError(_no_array_message(self._array_site, vendor))

    def _operation(
        self,
        key: Any,
        alias: str,
        values: Mapping[str, Any],
        build: Callable[[QuerySet], Any],
    ) -> _Operation | str:
        operation = self._operations.get((key, alias))
        if operation is None:
            # No lock: a build may wait for the database (in the bridge, a
            # lock held meanwhile would block the loop's other tasks), and
            # racing builds make equal operations; the first one stays.
            self._check_alias(alias)
            compiler = build(self._template.using(alias))
            if compiler is None:
                built: _Operation | str = _BOUND
            else:
                try:
                    built = _Operation(compiler, values)
                except _ShapeChange:
                    return _BOUND  # this call only; the next one compiles
            operation = self._operations.setdefault((key, alias), built)
        return operation

    def _call_queryset(self, alias: str, operation: _Operation, compiler: Any) -> Any:
        queryset = object.__new__(type(self._template))
        state = queryset.__dict__
        state.update(self._call_state)
        state["_query"] = _CallQuery(operation.query, compiler)
        state["_db"] = alias
        return queryset

    def _binder(self, alias: str, values: Mapping[str, Any]) -> Callable[[Any], Any]:
        connection = connections[alias]

        def bind(node: Any) -> Any:
            if isinstance(node, _ParamLookup):
                return node.bind(values, connection, lhs=_transform(node.lhs, bind))
            if isinstance(node, Param):
                return node.bind_value(values[node.name], connection)
            return None

        return bind

    def _bound_queryset(self, alias: str, values: Mapping[str, Any]) -> QuerySet:
        """The plain queryset with ``values`` in place of the Params."""
        queryset = self._template.using(alias)
        query = _transform_query(queryset.query, self._binder(alias, values), copy=True)
        if query is queryset.query:
            query = query.clone()
        query.__class__ = _plain_class_of(query)  # runs for real
        queryset._query = query
        return queryset

    def _prepared(
        self, key: str, alias: str, values: Mapping[str, Any], run: Callable[[Any], Any]
    ) -> tuple[_Operation | None, Any]:
        """(operation, the call's compiler), or (None, result) if bound."""
        self._check_values(values, self._names)
        operation = self._operations.get((key, alias))
        if operation is None:
            operation = self._operation(
                key, alias, values, lambda queryset: _capture(lambda: run(queryset))
            )
        if isinstance(operation, str):
            return None, run(self._bound_queryset(alias, values))
        return operation, operation.compiler(connections[alias], alias, values)

    def _rows(
        self, key: str, alias: str, values: Mapping[str, Any]
    ) -> tuple[_Operation, list[Any]]:
        operation, compiler = self._prepared(key, alias, values, _ROW_OPERATIONS[key])
        assert operation is not None  # row operations are always captured
        queryset = self._call_queryset(alias, operation, compiler)
        queryset._fetch_all()
        return operation, queryset._result_cache

    def _get(self, alias: str, values: Mapping[str, Any]) -> Any:
        operation, results = self._rows("get", alias, values)
        if len(results) == 1:
            return results[0]
        model = self.model
        name = model._meta.object_name
        if not results:
            raise model.DoesNotExist(f"{name} matching query does not exist.")
        limited = operation.query.high_mark is not None
        shown = (
            len(results)
            if not limited or len(results) < MAX_GET_RESULTS
            else f"more than {MAX_GET_RESULTS - 1}"
        )
        raise model.MultipleObjectsReturned(
            f"get() returned more than one {name} -- it returned {shown}!"
        )

    def _first(self, alias: str, values: Mapping[str, Any]) -> Any:
        _, results = self._rows("first", alias, values)
        return results[0] if results else None

    def _count(self, alias: str, values: Mapping[str, Any]) -> int:
        operation, compiler = self._prepared(
            "count", alias, values, lambda queryset: queryset.count()
        )
        if operation is None:
            return compiler  # the bound path's result
        row = compiler.execute_sql(SINGLE)
        annotations = operation.query.annotation_select
        if row is None:
            return annotations["__count"].empty_result_set_value
        if operation.columns is None:
            operation.columns = list(annotations.values())
        converters = compiler.get_converters(operation.columns)
        if converters:
            row = next(compiler.apply_converters((row,), converters))
        return dict(zip(annotations, row, strict=False))["__count"]

    def _exists(self, alias: str, values: Mapping[str, Any]) -> bool:
        operation, compiler = self._prepared(
            "exists", alias, values, lambda queryset: queryset.exists()
        )
        if operation is None:
            return compiler  # the bound path's result
        return compiler.has_results()

    def _update(
        self, alias: str, fields: Mapping[str, Any], params: Mapping[str, Any]
    ) -> int:
        key, updates, values, names = _update_form(fields, params)
        self._check_values(params, self._names | names)

        def build(queryset: QuerySet) -> Any:
            compiler = _capture(lambda: queryset.update(**updates))
            query = compiler.query
            features = compiler.connection.features
            if query.related_updates or not features.update_can_self_select:
                return None  # several dependent statements: Django's own path
            query.values = [
                (field, model, _UpdateParam(v.name, field) if type(v) is Param else v)
                for field, model, v in query.values
            ]
            return compiler

        operation = self._operation(key, alias, values, build)
        if isinstance(operation, str):
            bind = self._binder(alias, values)
            plain = {
                name: (
                    values[value.name]
                    if type(value) is Param
                    else _transform(value, bind)
                )
                for name, value in updates.items()
            }
            return self._bound_queryset(alias, params).update(**plain)
        compiler = operation.compiler(connections[alias], alias, values)
        with transaction.mark_for_rollback_on_error(using=alias):
            return compiler.execute_sql(ROW_COUNT)

    def _delete(
        self, alias: str, values: Mapping[str, Any]
    ) -> tuple[int, dict[str, int]]:
        self._check_values(values, self._names)
        template = self._template
        query = template.query
        # QuerySet.delete()'s own refusals, before anything runs.
        if query.combinator:
            raise NotSupportedError(
                f"Calling QuerySet.delete() after {query.combinator}() is not "
                f"supported."
            )
        if query.is_sliced:
            raise TypeError("Cannot use 'limit' or 'offset' with delete().")
        if query.distinct_fields:
            raise TypeError("Cannot call delete() after .distinct(*fields).")
        if template._fields is not None:
            raise TypeError("Cannot call delete() after .values() or .values_list()")
        if not Collector(using=alias, origin=template).can_fast_delete(template):
            return self._bound_queryset(alias, values).delete()

        def build(queryset: QuerySet) -> Any:
            # What a fast delete runs: the filter as one DELETE.
            delete = queryset.query.clone()
            delete.__class__ = DeleteQuery
            delete.select_for_update = False
            delete.select_related = False
            delete.clear_ordering(force=True)
            return delete.get_compiler(alias)

        operation = self._operation("delete", alias, values, build)
        assert isinstance(operation, _Operation)
        compiler = operation.compiler(connections[alias], alias, values)
        count = compiler.execute_sql(ROW_COUNT)
        return (count, {self.model._meta.label: count}) if count else (0, {})


def _update_form(
    fields: Mapping[str, Any], params: Mapping[str, Any]
) -> tuple[Any, dict[str, Any], dict[str, Any], frozenset[str]]:
    """An update's operation key, its ``update()`` keyword arguments, the
    call's values (with the plain ones), and the Params its fields use."""
    if not isinstance(fields, Mapping) or not fields:
        raise TypeError(
            "update() takes a mapping of field names to new values first, "
            "e.g. prepared.update({'title': Param('title')}, pk=1, title='x')."
        )
    key: list[Any] = []
    updates: dict[str, Any] = {}
    values = dict(params)
    names: set[str] = set()
    for name in sorted(fields):
        value = fields[name]
        if type(value) is Param:
            key.append((name, "param", value.name))
            updates[name] = value
            names.add(value.name)
        elif hasattr(value, "resolve_expression"):
            key.append((name, "expression", value))
            updates[name] = value
            names |= _param_names(value)
        else:
            # A plain value is bound at each call, like a Param: changing it
            # must not compile a new update.
            slot = f"set:{name}"  # not an identifier: no clash with Params
            key.append((name, "value"))
            updates[name] = Param(slot)
            values[slot] = value
    operation_key = ("update", tuple(key))
    try:
        hash(operation_key)
    except TypeError:
        raise TypeError(
            "update(): an expression among the fields is not hashable; use a "
            "Param for values that change."
        ) from None
    return operation_key, updates, values, frozenset(names)
