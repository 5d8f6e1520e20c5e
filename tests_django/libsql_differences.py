"""Why a test of Django's suite that passes on SQLite fails on the libSQL ENGINE.

Maps a test id prefix (as ``runtests.py`` names tests: ``module.tests.Class.
test_method``; a prefix covers what starts with it) to the reason. The
libSQL pass (``python -m tests_django.libsql``) lists every difference with
its reason in RESULTS-libsql.md; one with no entry here is *unexplained* and
fails the run. Tests that need what a server cannot have (``ATTACH``,
temporary tables, ``VACUUM``, Python functions registered on the
connection) belong in the ENGINE's ``features.django_test_skips`` instead, so
they skip with the reason (``libsql-features-needed.md`` lists those the
runs found); entries here are for the rest, each saying what would fix it.
"""

from __future__ import annotations

EXPLAINED: dict[str, str] = {}
