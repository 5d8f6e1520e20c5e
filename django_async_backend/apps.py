"""The Django app: add ``"django_async_backend"`` to ``INSTALLED_APPS``."""

from django.apps import AppConfig
from django.core import signals
from django.test.signals import setting_changed

from . import conf


class DjangoAsyncBackendConfig(AppConfig):
    name = "django_async_backend"
    verbose_name = "Django async backend"

    def ready(self) -> None:
        from .db import signals as db_signals
        from .db.task_local import install
        from .handlers.native import install as install_native_request
        from .models.native import install as install_native_orm

        conf.validate()
        install()
        signals.request_started.connect(
            db_signals.on_request_started, dispatch_uid="django_async_backend"
        )
        signals.request_finished.connect(
            db_signals.on_request_finished, dispatch_uid="django_async_backend"
        )
        setting_changed.connect(
            db_signals.on_setting_changed, dispatch_uid="django_async_backend"
        )
        install_native_orm()
        install_native_request()
