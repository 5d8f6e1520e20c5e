import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.e2e.settings_sync")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
