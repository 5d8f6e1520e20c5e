"""Pass "stock": the same suite on Django's own PostgreSQL backend."""

from .common import *  # noqa: F403
from .common import databases

DATABASES = databases("django.db.backends.postgresql", "stock")
