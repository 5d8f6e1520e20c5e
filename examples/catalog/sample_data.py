"""A small catalogue to start from: classics, tagged, with a few copies each."""

from __future__ import annotations

from django.db import transaction

from .models import Author, Book, Tag

# (author, born, [(title, published, copies, tags)])
CATALOGUE: list[tuple[str, int, list[tuple[str, int, int, list[str]]]]] = [
    (
        "Jane Austen",
        1775,
        [
            ("Pride and Prejudice", 1813, 3, ["novel", "romance"]),
            ("Emma", 1815, 2, ["novel", "romance"]),
            ("Persuasion", 1817, 1, ["novel"]),
        ],
    ),
    (
        "Mary Shelley",
        1797,
        [
            ("Frankenstein", 1818, 2, ["novel", "science fiction", "gothic"]),
        ],
    ),
    (
        "Herman Melville",
        1819,
        [
            ("Moby-Dick", 1851, 1, ["novel", "adventure", "sea"]),
        ],
    ),
    (
        "Jules Verne",
        1828,
        [
            (
                "Journey to the Centre of the Earth",
                1864,
                2,
                ["adventure", "science fiction"],
            ),
            ("Twenty Thousand Leagues Under the Seas", 1870, 2, ["adventure", "sea"]),
            ("Around the World in Eighty Days", 1872, 3, ["adventure"]),
        ],
    ),
    (
        "Leo Tolstoy",
        1828,
        [
            ("War and Peace", 1869, 1, ["novel", "history"]),
            ("Anna Karenina", 1878, 2, ["novel", "romance"]),
        ],
    ),
    (
        "Fyodor Dostoevsky",
        1821,
        [
            ("Crime and Punishment", 1866, 2, ["novel", "philosophy"]),
            ("The Brothers Karamazov", 1880, 1, ["novel", "philosophy"]),
        ],
    ),
    (
        "Arthur Conan Doyle",
        1859,
        [
            ("A Study in Scarlet", 1887, 2, ["mystery"]),
            ("The Hound of the Baskervilles", 1902, 2, ["mystery", "gothic"]),
        ],
    ),
    (
        "H. G. Wells",
        1866,
        [
            ("The Time Machine", 1895, 2, ["science fiction"]),
            ("The War of the Worlds", 1898, 2, ["science fiction"]),
        ],
    ),
    (
        "Mary Wollstonecraft",
        1759,
        [
            ("A Vindication of the Rights of Woman", 1792, 1, ["essay", "philosophy"]),
        ],
    ),
    (
        "Charles Darwin",
        1809,
        [
            ("On the Origin of Species", 1859, 1, ["science"]),
        ],
    ),
]


@transaction.atomic
def load() -> int:
    """Create the catalogue unless books exist already; return books created."""
    if Book.objects.exists():
        return 0
    tags: dict[str, Tag] = {}
    created = 0
    for name, born, books in CATALOGUE:
        author = Author.objects.create(name=name, born=born)
        for title, published, copies, tag_names in books:
            book = Book.objects.create(
                title=title, author=author, published=published,
                copies=copies, available=copies,
            )  # fmt: skip
            for tag_name in tag_names:
                if tag_name not in tags:
                    tags[tag_name] = Tag.objects.create(name=tag_name)
            book.tags.set([tags[t] for t in tag_names])
            created += 1
    return created
