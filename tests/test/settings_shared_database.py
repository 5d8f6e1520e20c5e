"""Settings for tests/test/test_testcases.py's subprocess runs: the test
suite's settings with ``other`` on the same database as ``default``.

``ASYNC_TEST_LAYOUT=shared``: both aliases name one database (the upstream
project's own layout). ``ASYNC_TEST_LAYOUT=mirror``: ``other`` is a test
mirror of ``default`` (Django's replica layout, ``TEST["MIRROR"]``).
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

_layout = os.environ["ASYNC_TEST_LAYOUT"]
if _layout == "shared":
    DATABASES["other"] = {
        **DATABASES["default"],
        "TEST": dict(DATABASES["default"]["TEST"]),
    }
elif _layout == "mirror":
    DATABASES["other"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
else:
    raise ValueError(f"ASYNC_TEST_LAYOUT must be 'shared' or 'mirror': {_layout!r}")
