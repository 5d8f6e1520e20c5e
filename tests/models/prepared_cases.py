"""The data and the querysets prepared querysets are checked against.

Each case is one builder used twice: with ``v = Param`` it makes the queryset
to prepare, with ``v`` returning the values it makes the plain queryset. A
prepared call must give what the plain queryset gives on the same data.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone

from tests.app.models import (
    Author,
    Book,
    Chapter,
    Event,
    Place,
    Publisher,
    Restaurant,
    Tag,
)

Builder = Callable[[Callable[..., Any]], QuerySet]


def make_library() -> dict[str, Any]:
    """A small catalogue: publishers, authors, books, chapters, tags, events,
    places and restaurants (multi-table inheritance). Sync ORM."""
    casterman = Publisher.objects.create(name="Casterman")
    lombard = Publisher.objects.create(name="Le Lombard")
    herge = Author.objects.create(name="Hergé", publisher=casterman)
    jacobs = Author.objects.create(name="Jacobs", publisher=lombard)
    franquin = Author.objects.create(name="Franquin")  # no publisher, no book
    rows = [
        ("Tintin au Tibet", herge, 62, datetime.date(1960, 1, 1)),
        ("Objectif Lune", herge, 62, datetime.date(1953, 6, 1)),
        ("On a marché sur la Lune", herge, 64, datetime.date(1954, 1, 1)),
        ("Le Secret de l'Espadon", jacobs, 48, datetime.date(1950, 9, 1)),
        ("100% Blake_et_Mortimer", jacobs, 56, None),
    ]
    books = [
        Book.objects.create(title=t, author=a, pages=p, published=d)
        for t, a, p, d in rows
    ]
    for book in books[:3]:
        for n in range(2):
            Chapter.objects.create(book=book, title=f"{book.title} {n}")
    classic = Tag.objects.create(name="classic")
    space = Tag.objects.create(name="space")
    books[0].tags.add(classic)
    books[1].tags.add(classic, space)
    at = timezone.make_aware(datetime.datetime(2024, 5, 1, 12, 0))
    for hours in range(4):
        Event.objects.create(
            name=f"event {hours}", at=at + datetime.timedelta(hours=hours)
        )
    Place.objects.create(name="Moulinsart")
    Restaurant.objects.create(name="Pizzeria Napoli", serves_pizza=True)
    Restaurant.objects.create(name="Le Petit Vingtième", serves_pizza=False)
    return {
        "publishers": [casterman, lombard],
        "authors": [herge, jacobs, franquin],
        "books": books,
        "at": at,
    }


def is_postgresql() -> bool:
    return connections["default"].vendor == "postgresql"


@dataclass
class Case:
    """A queryset builder and the values to run it with."""

    name: str
    build: Builder
    values: list[Callable[[dict[str, Any]], dict[str, Any]]]
    unique: bool = False  # get() applies
    postgresql_only: bool = False
    operations: tuple[str, ...] = field(default=("iterate", "first", "count", "exists"))


def _pk(i: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda lib: {"pk": lib["books"][i].pk}


CASES = [
    Case(
        "model by pk",
        lambda v: Book.objects.filter(pk=v("pk")),
        [_pk(0), _pk(3), lambda lib: {"pk": 10**6}],
        unique=True,
    ),
    Case(
        "model by pk, out of the column's range",
        lambda v: Book.objects.filter(pk=v("pk")),
        [_pk(1), lambda lib: {"pk": 2**70}],
        unique=True,
    ),
    Case(
        "foreign key given a model instance",
        lambda v: Book.objects.filter(author=v("author")).order_by("-id"),
        [
            lambda lib: {"author": lib["authors"][0]},
            lambda lib: {"author": lib["authors"][1]},
            lambda lib: {"author": lib["authors"][2]},
        ],
    ),
    Case(
        "values()",
        lambda v: Book.objects.filter(author_id=v("a"))
        .values("title", "pages", "author__name")
        .order_by("title"),
        [
            lambda lib: {"a": lib["authors"][0].pk},
            lambda lib: {"a": lib["authors"][1].pk},
        ],
    ),
    Case(
        "values_list(flat=True)",
        lambda v: Book.objects.filter(pages__gte=v("p"))
        .values_list("title", flat=True)
        .order_by("-pages", "title"),
        [lambda lib: {"p": 60}, lambda lib: {"p": 0}, lambda lib: {"p": 1000}],
    ),
    Case(
        "values_list(named=True)",
        lambda v: Book.objects.filter(pages__lte=v("p"))
        .values_list("id", "title", named=True)
        .order_by("id"),
        [lambda lib: {"p": 56}, lambda lib: {"p": 62}],
    ),
    Case(
        "select_related, depth 2",
        lambda v: Book.objects.select_related("author__publisher")
        .filter(author__publisher__name=v("publisher"))
        .order_by("-id"),
        [
            lambda lib: {"publisher": "Casterman"},
            lambda lib: {"publisher": "Le Lombard"},
        ],
    ),
    Case(
        "select_related through a nullable relation",
        lambda v: Author.objects.select_related("publisher")
        .filter(name__gte=v("name"))
        .order_by("name"),
        [lambda lib: {"name": "A"}, lambda lib: {"name": "I"}],
    ),
    Case(
        "annotation and a filter on it",
        lambda v: Book.objects.annotate(double=F("pages") * 2)
        .filter(double__gt=v("x"))
        .order_by("id"),
        [lambda lib: {"x": 120}, lambda lib: {"x": 0}],
    ),
    Case(
        "aggregate annotation, HAVING with a Param",
        lambda v: Author.objects.annotate(n=Count("books"))
        .filter(n__gte=v("n"))
        .order_by("name"),
        [lambda lib: {"n": 1}, lambda lib: {"n": 3}, lambda lib: {"n": 0}],
    ),
    Case(
        "a Param inside an expression",
        lambda v: Book.objects.annotate(
            plus=F("pages") + v("n", output_field=IntegerField())
        ).order_by("id"),
        [lambda lib: {"n": 1}, lambda lib: {"n": -100}],
    ),
    Case(
        "ordering and slicing",
        lambda v: Book.objects.filter(pages__gte=v("p")).order_by("-pages", "id")[1:3],
        [lambda lib: {"p": 0}, lambda lib: {"p": 62}],
    ),
    Case(
        "multi-table inheritance",
        lambda v: Restaurant.objects.filter(name__startswith=v("prefix")).order_by(
            "name"
        ),
        [
            lambda lib: {"prefix": "Pizz"},
            lambda lib: {"prefix": "Le"},
            lambda lib: {"prefix": ""},
        ],
    ),
    Case(
        "a boolean through the child of an inheritance",
        lambda v: Place.objects.filter(restaurant__serves_pizza=v("pizza")).order_by(
            "id"
        ),
        [lambda lib: {"pizza": True}, lambda lib: {"pizza": False}],
    ),
    Case(
        "deferred fields: only()",
        lambda v: Book.objects.only("title").filter(pages__lt=v("p")).order_by("id"),
        [lambda lib: {"p": 60}, lambda lib: {"p": 63}],
    ),
    Case(
        "deferred fields: defer()",
        lambda v: Book.objects.defer("published", "pages").filter(
            title__contains=v("q")
        ),
        [lambda lib: {"q": "Lune"}, lambda lib: {"q": "%"}, lambda lib: {"q": "_"}],
    ),
    Case(
        "case-insensitive pattern with LIKE wildcards in the value",
        lambda v: Book.objects.filter(title__icontains=v("q")).order_by("id"),
        [
            lambda lib: {"q": "LUNE"},
            lambda lib: {"q": "100%"},
            lambda lib: {"q": "e_m"},
        ],
    ),
    Case(
        "iexact",
        lambda v: Author.objects.filter(name__iexact=v("name")),
        [lambda lib: {"name": "JACOBS"}, lambda lib: {"name": "hergé"}],
        unique=True,
    ),
    Case(
        "range of two Params",
        lambda v: Book.objects.filter(pages__range=(v("lo"), v("hi"))).order_by("id"),
        [lambda lib: {"lo": 50, "hi": 62}, lambda lib: {"lo": 63, "hi": 70}],
    ),
    Case(
        "__in with a fixed number of Params",
        lambda v: Book.objects.filter(id__in=[v("a"), v("b")]).order_by("id"),
        [
            lambda lib: {"a": lib["books"][0].pk, "b": lib["books"][4].pk},
            lambda lib: {"a": lib["books"][1].pk, "b": lib["books"][1].pk},
        ],
    ),
    Case(
        "__in with a list (an array parameter)",
        lambda v: Book.objects.filter(id__in=v("ids")).order_by("id"),
        [
            lambda lib: {"ids": [lib["books"][0].pk, lib["books"][2].pk]},
            lambda lib: {"ids": [b.pk for b in lib["books"]]},
            lambda lib: {"ids": []},
            lambda lib: {"ids": [lib["books"][3].pk, None]},
        ],
        postgresql_only=True,
    ),
    Case(
        "__in of model instances (an array parameter)",
        lambda v: Book.objects.filter(author__in=v("authors")).order_by("id"),
        [
            lambda lib: {"authors": lib["authors"][1:]},
            lambda lib: {"authors": lib["authors"]},
        ],
        postgresql_only=True,
    ),
    Case(
        "year lookup on a date",
        lambda v: Book.objects.filter(published__year=v("year")).order_by("id"),
        [
            lambda lib: {"year": 1954},
            lambda lib: {"year": 1960},
            lambda lib: {"year": 2000},
        ],
    ),
    Case(
        "aware datetimes",
        lambda v: Event.objects.filter(at__gte=v("since")),
        [
            lambda lib: {"since": lib["at"] + datetime.timedelta(minutes=90)},
            lambda lib: {"since": lib["at"] - datetime.timedelta(days=1)},
        ],
    ),
    Case(
        "OR of Params and an exclude() across a relation",
        lambda v: Book.objects.filter(Q(pages__lt=v("lo")) | Q(pages__gt=v("hi")))
        .exclude(author__name=v("name"))
        .order_by("id"),
        [
            lambda lib: {"lo": 50, "hi": 62, "name": "Jacobs"},
            lambda lib: {"lo": 60, "hi": 0, "name": "Hergé"},
        ],
    ),
    Case(
        "Exists() subquery with a Param",
        lambda v: Author.objects.filter(
            Exists(Book.objects.filter(author=OuterRef("pk"), pages__gt=v("p")))
        ).order_by("id"),
        [lambda lib: {"p": 60}, lambda lib: {"p": 50}, lambda lib: {"p": 100}],
    ),
    Case(
        "prefetch_related",
        lambda v: Author.objects.filter(name__lt=v("name")).prefetch_related(
            "books__tags", "books__chapters"
        ),
        [lambda lib: {"name": "I"}, lambda lib: {"name": "Z"}],
    ),
    Case(
        "union of two filtered querysets",
        lambda v: Book.objects.filter(pages=v("a"))
        .order_by()
        .values_list("title", flat=True)
        .union(
            Book.objects.filter(pages=v("b")).order_by().values_list("title", flat=True)
        )
        .order_by("title"),
        [lambda lib: {"a": 48, "b": 64}, lambda lib: {"a": 62, "b": 62}],
        operations=("iterate", "count", "exists"),
    ),
    Case(
        "no Param at all",
        lambda v: Tag.objects.order_by("name"),
        [lambda lib: {}],
    ),
]


def value_getter(values: dict[str, Any]) -> Callable[..., Any]:
    """The ``v`` of the plain queryset: the value itself, or a Value with the
    output field a Param was given."""

    def v(name: str, output_field: Any = None) -> Any:
        if output_field is not None:
            return Value(values[name], output_field=output_field)
        return values[name]

    return v


def snapshot(result: Any, depth: int = 3) -> Any:
    """A comparable picture of a result: model instances with their fields,
    deferred fields, select_related and prefetch caches, annotations (to
    ``depth`` levels of related objects: prefetching links both ways)."""
    if isinstance(result, Model):
        if depth == 0:
            return (type(result).__name__, result.pk)
        state = {k: v for k, v in result.__dict__.items() if not k.startswith("_")}
        related = {
            name: snapshot(value, depth - 1)
            for name, value in result._state.fields_cache.items()
        }
        prefetched = {
            name: [snapshot(item, depth - 1) for item in queryset]
            for name, queryset in getattr(
                result, "_prefetched_objects_cache", {}
            ).items()
        }
        return (
            type(result).__name__,
            state,
            sorted(result.get_deferred_fields()),
            related,
            prefetched,
        )
    if isinstance(result, (list, tuple)) and not hasattr(result, "_fields"):
        return [snapshot(item, depth) for item in result]
    if hasattr(result, "_fields"):  # a named tuple
        return (type(result).__name__, tuple(result._fields), tuple(result))
    return result
