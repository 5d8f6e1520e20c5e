"""The example project on Django's own PostgreSQL backend (no native path)."""

from library.settings import *  # noqa: F403
from library.settings import DATABASES, INSTALLED_APPS

DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django_async_backend"]
