"""A library: authors, books with tags and copies, loans, and an activity log."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100, unique=True)
    born = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    published = models.IntegerField()
    tags = models.ManyToManyField(Tag, related_name="books", blank=True)
    copies = models.PositiveIntegerField(default=1)
    available = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(available__lte=models.F("copies")),
                name="available_at_most_copies",
            )
        ]

    def __str__(self) -> str:
        return self.title


class Loan(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="loans")
    borrower = models.CharField(max_length=100)
    borrowed_at = models.DateTimeField(auto_now_add=True)
    returned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-borrowed_at", "-id"]


class Activity(models.Model):
    """What happened, written only after the transaction that did it commits."""

    at = models.DateTimeField(auto_now_add=True)
    message = models.CharField(max_length=300)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "activities"
