"""Tests of Django's suite whose different outcome on our ENGINE is deliberate.

Maps a test id (as ``runtests.py`` names it) to the reason. These are listed
in RESULTS.md and are not counted as regressions. Keep it empty unless the
difference is a design decision (see DESIGN.md), never to hide a bug.
"""

from __future__ import annotations

DELIBERATE: dict[str, str] = {
    "handlers.tests.TransactionsPerRequestTests.test_auto_transaction_async_view": (
        "Django refuses ATOMIC_REQUESTS with an async view (RuntimeError: it "
        "has no async transaction). On our ENGINE the view runs inside "
        "async_atomic instead (README: the request path; tested in "
        "tests/handlers/test_native.py)."
    ),
}

# Why the thread hops the native pass counts are there: keyed by a prefix of
# the function that hopped, or "<function prefix> in <test id prefix>". None
# of them is an ORM a-method: those run natively. A hop not explained here is
# "unexplained": listed in RESULTS.md and the run fails.
HOP_NOTES: dict[str, str] = {
    "django.contrib.sessions.middleware.convert_exception_to_response"
    " in auth_tests.test_remote_user.ASGISyncPathRemoteUserTest.": (
        "a sync-only middleware (the test's sync_middleware, not a "
        "MiddlewareMixin) under Django's async handler: Django runs the rest "
        "of the chain in a thread for it; such middleware keep the thread "
        "path (README: the request path)"
    ),
    "django.contrib.auth.login in auth_tests.test_middleware.": (
        "the test itself calls sync_to_async(login)"
    ),
    "django.contrib.auth.logout in auth_tests.test_middleware.": (
        "the test itself calls sync_to_async(logout)"
    ),
    "django.contrib.contenttypes.models.ContentTypeManager.get_for_model"
    " in auth_tests.test_auth_backends.": (
        "the test itself calls sync_to_async(ContentType.objects.get_for_model)"
    ),
    "django.db.models.query.QuerySet.create"
    " in async.test_async_queryset.AsyncQuerySetTest.test_acount_cached_result": (
        "the test itself calls sync_to_async(SimpleModel.objects.create)"
    ),
    "django.core.cache.backends.db.DatabaseCache.": (
        "the database cache's methods, handed over by BaseCache's a-methods "
        "(Django 6.1's cache tests call aset): only local-memory and dummy "
        "caches run in the bridge by default (handlers/policy.py); "
        "ASYNC_BACKEND_NATIVE_CALLS can add this one"
    ),
    "auth_tests.": (
        "test code: a sync view, a custom backend's sync configure_user (run by "
        "Django's aconfigure_user) or a sync user_passes_test function"
    ),
}
