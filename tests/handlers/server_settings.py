"""Settings of the ASGI servers the request-path tests start: the test
suite's settings, on the test databases the suite created (the server is a
separate process), with the middleware ``startproject`` generates."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

from .conftest import REQUEST_SETTINGS

for _alias in DATABASES.values():
    _alias["NAME"] = _alias["TEST"]["NAME"]
    if _alias["ENGINE"].endswith("postgresql"):
        _alias["OPTIONS"] = {
            **_alias["OPTIONS"],
            "pool": {"min_size": 1, "max_size": 4},
        }
        _alias["OPTIONS"]["application_name"] = os.environ.get(
            "DAB_SERVER_APPLICATION_NAME", "dab-server-test"
        )

MIDDLEWARE = REQUEST_SETTINGS["MIDDLEWARE"]
TEMPLATES = REQUEST_SETTINGS["TEMPLATES"]
SESSION_ENGINE = REQUEST_SETTINGS["SESSION_ENGINE"]
ROOT_URLCONF = "tests.handlers.server_urls"
