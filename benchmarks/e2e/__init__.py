"""End-to-end: a logged-in page and a transactional write, over HTTP.

A project as ``startproject`` makes it (its seven middleware, sessions,
auth, messages) serves two views (:mod:`.views`): ``page`` (the session
user, a book with its author, the author's other books, a count) and
``write`` (a CSRF-protected POST writing twice in one transaction). Each
contender runs on each of its servers, one worker: ours, stock async and
upstream on uvicorn (uvloop + httptools) and granian (ASGI, uvloop); stock
sync on gunicorn's threaded worker and granian's WSGI interface (32
threads). ``wrk``, a separate process, loads each server in turn,
alternating; an untimed run counts thread hops per request.
"""

from .runner import run

__all__ = ["run"]
