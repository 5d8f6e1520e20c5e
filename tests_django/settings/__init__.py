"""Settings modules for the passes of ``tests_django/run.py``.

One module per pass (``ours``, ``stock``, ``native``): the same options, apps
and server, only the ENGINE (and the test database names) differ.
"""
