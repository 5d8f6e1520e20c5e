"""End-to-end: the example project's book page, over HTTP, per contender.

The page (``/api/books/<pk>/``, ``catalog.views.book_detail``) runs three
queries: the book with its author (``select_related``), its tags and its open
loans (two prefetches). ``ours`` and ``stock_async`` serve it with uvicorn
(Django's ASGI handler, the example's async view); ``stock_sync`` serves a sync
twin of the view (:mod:`.views`) with gunicorn's threaded worker. ``wrk``, a
separate process, loads each server in turn, alternating.
"""

from .runner import run

__all__ = ["run"]
