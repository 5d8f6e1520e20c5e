"""The workload's two tables: accounts, and one row per committed transfer."""

from __future__ import annotations

from django.db import models


class Account(models.Model):
    balance = models.BigIntegerField()


class Transfer(models.Model):
    # The transfer's own key: present if and only if the transfer committed.
    key = models.CharField(max_length=32, unique=True)
    source = models.IntegerField()
    target = models.IntegerField()
    amount = models.BigIntegerField()
