"""``settings_stock`` served by a WSGI server: the sync twin of the page."""

from .settings_stock import *  # noqa: F403

ROOT_URLCONF = "benchmarks.e2e.urls"
