"""URLs of the request-path tests."""

from django.urls import path

from . import views

urlpatterns = [
    path("page/<int:pk>/", views.page),
    path("login/", views.login),
    path("logout/", views.logout),
    path("write/", views.write),
    path("atomic-write/", views.atomic_write),
    path("non-atomic-write/", views.non_atomic_write),
    path("sync-count/", views.sync_count),
    path("native-sync-count/", views.native_sync_count),
    path("template/", views.template_page),
    path("plain/", views.plain),
    path("slow/", views.slow),
    path("plain-db/", views.plain_db),
    path("slow-mw/", views.plain),
]
