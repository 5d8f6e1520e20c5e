"""Remote mode: a libSQL server (sqld, Turso) over Hrana-over-HTTP.

``protocol.py`` is the shared core (values, pipelines, errors, stream state);
``http.py`` the HTTP/1.1 keep-alive transport (async and sync twins);
``client.py`` the Hrana client (async and sync twins: streams, transactions,
pings, retries); ``dbapi.py`` the ``sqlite3``-shaped connection and cursor
Django's SQLite backend expects; ``base.py`` the ENGINE's wrapper. Usable as
an ENGINE by itself: ``django_async_backend.db.backends.libsql.remote``.
"""
