"""The greenlet bridge: results, exceptions, context, cancellation."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from django_async_backend.db.bridge import (
    BridgeError,
    await_only,
    greenlet_spawn,
    in_bridge,
    run_ready,
    start_eagerly,
)

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


async def double(value):
    await asyncio.sleep(0)
    return value * 2


async def fail():
    await asyncio.sleep(0)
    raise KeyError("from the loop")


def test_result_and_sync_code_awaiting():
    def sync_code(a, *, b):
        assert in_bridge()
        return await_only(double(a)) + await_only(double(b))

    assert asyncio.run(greenlet_spawn(sync_code, 1, b=2)) == 6
    assert not in_bridge()


def test_exceptions_cross_in_both_directions():
    def raises_inside():
        raise ValueError("from sync code")

    def catches_loop_error():
        with pytest.raises(KeyError):
            await_only(fail())
        return "recovered"

    async def main():
        with pytest.raises(ValueError, match="from sync code"):
            await greenlet_spawn(raises_inside)
        assert await greenlet_spawn(catches_loop_error) == "recovered"

    asyncio.run(main())


def test_await_only_outside_the_bridge_raises_and_closes_the_coroutine():
    coro = double(1)
    with pytest.raises(BridgeError, match="outside greenlet_spawn"):
        await_only(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning


def test_context_variables_are_the_tasks_own():
    def sync_code():
        seen = marker.get()
        marker.set("set in the bridge")
        return seen

    async def main():
        marker.set("set by the task")
        assert await greenlet_spawn(sync_code) == "set by the task"
        assert marker.get() == "set in the bridge"

    asyncio.run(main())


def test_nested_bridges():
    def inner():
        return await_only(double(5))

    async def middle():
        return await greenlet_spawn(inner) + 1

    def outer():
        return await_only(middle())

    assert asyncio.run(greenlet_spawn(outer)) == 11


def test_cancellation_runs_the_sync_codes_finally_blocks_which_may_await():
    events = []

    def sync_code():
        try:
            await_only(asyncio.sleep(10))
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        finally:
            events.append(await_only(double(21)))

    async def main():
        task = asyncio.ensure_future(greenlet_spawn(sync_code))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert events == ["cancelled", 42]


def test_on_exit_callbacks_run_after_the_call_even_on_error():
    from django_async_backend.db.bridge import current_bridge

    calls = []

    def sync_code():
        current_bridge().on_exit.append(lambda: calls.append("exit"))
        raise RuntimeError

    async def main():
        with pytest.raises(RuntimeError):
            await greenlet_spawn(sync_code)

    asyncio.run(main())
    assert calls == ["exit"]


def test_calls_reuse_a_parked_greenlet_without_the_last_calls_state():
    """One greenlet serves one call after another (a new one costs two
    system calls); the next call sees its own task's context and an empty
    ``local``, whoever ran before, and a call that raised parks it too."""
    from django_async_backend.db.bridge import current_bridge

    def remember(value):
        bridge = current_bridge()
        seen = (marker.get(), dict(bridge.local))
        bridge.local["cached"] = value
        return id(bridge), seen

    def explode():
        raise KeyError("boom")

    async def task(value):
        marker.set(value)
        return await greenlet_spawn(remember, value)

    async def main():
        first_id, first_seen = await asyncio.create_task(task("first"))
        with pytest.raises(KeyError):
            await greenlet_spawn(explode)
        second_id, second_seen = await asyncio.create_task(task("second"))
        return first_id, first_seen, second_id, second_seen

    first_id, first_seen, second_id, second_seen = asyncio.run(main())
    assert second_id == first_id
    assert first_seen == ("first", {})
    assert second_seen == ("second", {})


def test_concurrent_calls_each_get_a_greenlet_of_their_own():
    def wait_then_report(delay):
        await_only(asyncio.sleep(delay))
        from django_async_backend.db.bridge import current_bridge

        return id(current_bridge())

    async def main():
        return await asyncio.gather(
            *(greenlet_spawn(wait_then_report, d / 1000) for d in (3, 1, 2))
        )

    assert len(set(asyncio.run(main()))) == 3


def test_run_ready_completes_coroutines_that_do_not_suspend():
    async def ready():
        return "done"

    assert run_ready(ready()) == "done"
    with pytest.raises(BridgeError, match="needed the event loop"):
        run_ready(asyncio.sleep(0))


def test_start_eagerly_runs_now_and_finishes_in_a_task():
    events = []

    async def ready():
        events.append("ready")

    async def suspends():
        events.append("started")
        await asyncio.sleep(0)
        events.append("finished")
        return "value"

    async def main():
        assert start_eagerly(ready()) is None
        assert events == ["ready"]
        task = start_eagerly(suspends())
        assert events == ["ready", "started"]  # ran synchronously up to the await
        assert await task == "value"
        assert events[-1] == "finished"

    asyncio.run(main())
