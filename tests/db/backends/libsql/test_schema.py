"""The schema editor on a server: Django's SQLite table remake needs foreign
key checks off, which the client replays on each new stream."""

from __future__ import annotations

from django.db import connections, models

from .helpers import libsql_suite, sync_wrapper

pytestmark = libsql_suite


def test_alter_field_remakes_the_table_remotely(server):
    conn = sync_wrapper(server.libsql_url)
    connections.settings["libsql"] = conn.settings_dict
    connections["libsql"] = conn
    try:

        class Parent(models.Model):
            class Meta:
                app_label = "libsql_schema"

        class Child(models.Model):
            parent = models.ForeignKey(Parent, models.CASCADE)
            size = models.IntegerField()

            class Meta:
                app_label = "libsql_schema"

        with conn.schema_editor() as editor:
            editor.create_model(Parent)
            editor.create_model(Child)
        with conn.cursor() as cursor:
            cursor.execute("INSERT INTO libsql_schema_parent (id) VALUES (1)")
            cursor.execute(
                "INSERT INTO libsql_schema_child (parent_id, size) VALUES (1, 5)"
            )
        old = Child._meta.get_field("size")
        new = models.CharField(max_length=10, default="")
        new.set_attributes_from_name("size")
        new.model = Child
        with conn.schema_editor() as editor:
            editor.alter_field(Child, old, new)  # a table remake
        columns = {
            c.name: c.type_code
            for c in conn.introspection.get_table_description(
                conn.cursor(), "libsql_schema_child"
            )
        }
        assert columns["size"].lower().startswith("varchar")
        with conn.cursor() as cursor:
            cursor.execute("SELECT parent_id, size FROM libsql_schema_child")
            assert cursor.fetchall() == [(1, "5")]
            cursor.execute("PRAGMA foreign_keys")
            assert cursor.fetchone() == (1,)  # back on after the editor
    finally:
        conn.close()
        del connections["libsql"]
        del connections.settings["libsql"]
