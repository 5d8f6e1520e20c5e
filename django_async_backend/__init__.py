"""django_async_backend: Django's data layer, natively async.

See the README for the public API: ``django_async_backend.db.async_connections``,
``django_async_backend.db.transaction.async_atomic``, the ENGINEs under
``django_async_backend.db.backends`` and the test cases in
``django_async_backend.test``.
"""

__version__ = "0.1.0"
