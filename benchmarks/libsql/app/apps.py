from django.apps import AppConfig


class LibsqlConformanceConfig(AppConfig):
    name = "benchmarks.libsql.app"
    label = "libsql_conformance"
    default_auto_field = "django.db.models.BigAutoField"
