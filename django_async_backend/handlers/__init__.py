"""Django's request path on the request's task: no thread hop.

``native.py`` runs the sync parts of Django's unchanged ASGI handler
(middleware hooks, request signal receivers, ``response.close()``) in the
bridge; ``policy.py`` says which; ``asgi.py`` adds the lifespan protocol.
"""

from .policy import native_view

__all__ = ["native_view"]
