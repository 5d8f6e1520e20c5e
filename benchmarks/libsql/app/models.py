"""One model per kind of check: unique names (transactions, errors), and a row
of every value type the checks round-trip."""

from __future__ import annotations

from django.db import models


class Item(models.Model):
    """Rows the transaction checks write; ``name`` is unique (IntegrityError)."""

    name = models.CharField(max_length=50, unique=True)


class Sample(models.Model):
    """One column per value type the checks round-trip."""

    real = models.FloatField(null=True)
    blob = models.BinaryField(null=True)
    moment = models.DateTimeField(null=True)
    day = models.DateField(null=True)
    amount = models.DecimalField(max_digits=15, decimal_places=6, null=True)
    document = models.JSONField(null=True)
    uuid = models.UUIDField(null=True)
    flag = models.BooleanField(null=True)
    big = models.BigIntegerField(null=True)
