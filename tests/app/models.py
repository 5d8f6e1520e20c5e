"""Models the tests run against."""

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(
        Author, null=True, on_delete=models.CASCADE, related_name="books"
    )
    pages = models.IntegerField(default=0)

    class Meta:
        ordering = ["id"]


class Unique(models.Model):
    code = models.CharField(max_length=20, unique=True)
