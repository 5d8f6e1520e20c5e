"""``manage.py prepare``: everything the example needs before it serves.

Creates the database if it is missing (the SQLite file and its directory, or
the PostgreSQL database named in ``DATABASE_URL``; a libSQL server's database
exists already), applies the migrations and
loads the sample catalogue into an empty database. Safe to run every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

from catalog import sample_data


class Command(BaseCommand):
    help = "Create the database if needed, migrate, and load the sample data."

    def handle(self, *args: Any, **options: Any) -> None:
        settings_dict = connections["default"].settings_dict
        if settings_dict["ENGINE"].endswith("postgresql"):
            self.create_postgresql_database(settings_dict)
        elif settings_dict["NAME"] != ":memory:" and "://" not in settings_dict["NAME"]:
            Path(settings_dict["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        call_command("migrate", verbosity=0, interactive=False)
        created = sample_data.load()
        if created:
            self.stdout.write(f"Loaded the sample catalogue ({created} books).")
        connections.close_all()

    def create_postgresql_database(self, settings_dict: dict[str, Any]) -> None:
        import psycopg
        from psycopg import sql

        name = settings_dict["NAME"]
        params = {
            "dbname": "postgres",
            "user": settings_dict["USER"] or None,
            "password": settings_dict["PASSWORD"] or None,
            "host": settings_dict["HOST"] or None,
            "port": settings_dict["PORT"] or None,
            "autocommit": True,
        }
        with psycopg.connect(
            **{k: v for k, v in params.items() if v is not None}
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                self.stdout.write(f"Created the PostgreSQL database {name!r}.")
