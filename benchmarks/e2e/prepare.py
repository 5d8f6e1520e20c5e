"""Prepare the end-to-end database: tables, rows, and a logged-in session.

Run by the runner in a subprocess (``python -m benchmarks.e2e.prepare``) with
the e2e settings; prints the cookies and limits ``wrk`` needs, as JSON.
"""

from __future__ import annotations

import json

import django


def main() -> None:
    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from .. import data

    call_command("migrate", run_syncdb=True, verbosity=0)
    data.load(create_tables=False)
    user = User.objects.create_user("bench", password="bench")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    csrftoken = "b" * 32
    print(
        json.dumps(
            {
                "cookie": f"sessionid={session.session_key}; csrftoken={csrftoken}",
                "csrftoken": csrftoken,
                "books": data.BOOKS,
                "authors": data.AUTHORS,
            }
        )
    )


if __name__ == "__main__":
    main()
