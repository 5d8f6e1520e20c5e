"""Pass "native": our ENGINE with the native async ORM path installed.

The test runner installs the path (``tests_django/native_hook.py``) because
``runtests.py`` does not read ``INSTALLED_APPS`` from settings.
"""

from .common import *  # noqa: F403
from .common import databases

DATABASES = databases("django_async_backend.db.backends.postgresql", "native")
