"""The WSGI application of the sync contender (gunicorn, granian)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.e2e.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
