"""Testing async database code: test cases, a pytest plugin, utilities.

``AsyncioTestCase`` rolls each test back; ``AsyncioTransactionTestCase``
commits for real and empties the test tables afterwards. See
``testcases.py`` for when to use which, and ``pytest_plugin.py`` for the
pytest fixtures and markers.
"""

from .testcases import (
    AsyncioTestCase,
    AsyncioTransactionTestCase,
    modify_settings,
    override_settings,
)
from .utils import AsyncCaptureQueriesContext

__all__ = [
    "AsyncCaptureQueriesContext",
    "AsyncioTestCase",
    "AsyncioTransactionTestCase",
    "modify_settings",
    "override_settings",
]
