"""Pass "ours": Django's suite on our ENGINE, as a drop-in replacement."""

from .common import *  # noqa: F403
from .common import databases

DATABASES = databases("django_async_backend.db.backends.postgresql", "ours")
