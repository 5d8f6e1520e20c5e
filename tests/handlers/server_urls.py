"""The request-path test URLs, plus ``/hops/``: the server process's count
of thread hops since the last ``/hops/?reset``."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from .urls import urlpatterns as test_urlpatterns


async def hops(request: HttpRequest) -> JsonResponse:
    from .server_app import hop_counter

    if "reset" in request.GET:
        hop_counter.__init__()  # type: ignore[misc]
    return JsonResponse(
        {
            "sync_to_async": hop_counter.sync_to_async,
            "threads": hop_counter.unexplained_threads(),
        }
    )


urlpatterns = [*test_urlpatterns, path("hops/", hops)]
