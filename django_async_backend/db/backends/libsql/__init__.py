"""ENGINE ``django_async_backend.db.backends.libsql``: libSQL and Turso.

One ENGINE, three modes chosen from the settings (see ``base.py``): a remote
sqld/Turso server over Hrana-over-HTTP (``remote/``), an embedded replica
synced from one (``replica/``), and a local file, which is the SQLite
ENGINE's behaviour unchanged.
"""
