"""The ASGI application: Django's, plus the lifespan protocol.

``django_async_backend.handlers.asgi.get_asgi_application()`` is Django's
``get_asgi_application()`` answering the lifespan events servers such as
uvicorn and granian send: on shut-down it closes the event loop's kept
connections and pools, so pooled PostgreSQL connections end cleanly instead
of being dropped with the process. Requests go to Django's own ASGI handler,
whose middleware and request signals run on the request's task (no thread
hop) because ``django_async_backend`` is installed.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library.settings")

from django_async_backend.handlers.asgi import get_asgi_application

application = get_asgi_application()
