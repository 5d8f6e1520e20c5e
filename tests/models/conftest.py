"""Every test of the native ORM also proves it never left the event loop's
thread: ``asgiref.sync.SyncToAsync`` constructions and thread starts are
counted around each test and must be zero.

The only hops allowed are Django's deliberate off-loading of password hashing
to a thread (none happen in the Django versions supported, but a future
release may add them). On SQLite each connection has a thread of its own
(the C library blocks): those threads, one per connection and not per call,
are the ENGINE's design, not a hop.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hops import HopCounter


@pytest.fixture(autouse=True)
def no_thread_hops(request) -> Iterator[HopCounter]:
    with HopCounter() as counter:
        yield counter
    if request.node.get_closest_marker("allows_thread_hops"):
        return
    assert counter.sync_to_async == [], f"sync_to_async hops: {counter.sync_to_async}"
    assert counter.unexplained_threads() == [], f"threads started: {counter.threads}"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "allows_thread_hops: the test deliberately takes the thread path"
    )
