"""The connection gate: who may use a shared connection, and when."""

from __future__ import annotations

import asyncio

import pytest
from django.db.transaction import TransactionManagementError

from django_async_backend.db.gate import ConnectionGate, Frame, Releaser

OWNER, CHILD, OTHER = object(), object(), object()


def test_one_holder_at_a_time_and_reentrant():
    gate = ConnectionGate()
    assert gate.try_enter(OWNER, None)
    assert gate.try_enter(OWNER, None)  # nested call in the same scope
    assert not gate.try_enter(OTHER, None)
    gate.leave(OWNER)
    assert not gate.try_enter(OTHER, None)
    gate.leave(OWNER)
    assert gate.try_enter(OTHER, None)


def test_innermost_frame_decides():
    gate = ConnectionGate()
    outer = Frame(OWNER, "default", None)
    gate.push(outer)
    assert gate.try_enter(CHILD, outer)  # joined the innermost frame
    gate.leave(CHILD)
    inner = Frame(OWNER, "default", None)
    gate.push(inner)
    assert not gate.try_enter(CHILD, outer)  # owner's savepoint is on top
    assert gate.try_enter(OWNER, None)
    gate.leave(OWNER)
    gate.pop(inner)
    assert gate.try_enter(CHILD, outer)
    gate.leave(CHILD)
    child_block = Frame(CHILD, "default", None)
    gate.push(child_block)
    assert not gate.try_enter(OWNER, None)  # waits for the child's block
    releaser = Releaser()
    assert gate.try_enter(releaser, None)  # clean-up ignores frames
    gate.leave(releaser)


def test_ended_frame_fails_joiners_with_a_clear_error():
    gate = ConnectionGate()
    frame = Frame(OWNER, "default", None)
    gate.push(frame)
    gate.pop(frame)
    with pytest.raises(TransactionManagementError, match="would escape it"):
        gate.check_joined(frame, "default")


def test_popping_a_frame_ends_frames_left_open_above_it():
    gate = ConnectionGate()
    outer, orphan = Frame(OWNER, "default", None), Frame(CHILD, "default", None)
    gate.push(outer)
    gate.push(orphan)
    gate.pop(outer)
    assert not orphan.active and gate.frames == []


def test_waiters_are_woken_when_their_turn_comes():
    async def main():
        gate = ConnectionGate()
        frame = Frame(OWNER, "default", None)
        gate.push(frame)
        assert gate.try_enter(OWNER, None)
        order = []

        async def child():
            await gate.enter(CHILD, frame, "default")
            order.append("child")
            gate.leave(CHILD)

        task = asyncio.create_task(child())
        await asyncio.sleep(0.01)
        assert order == []
        order.append("owner done")
        gate.leave(OWNER)
        await task
        assert order == ["owner done", "child"]

    asyncio.run(main())


def test_waiting_joiner_fails_when_its_frame_ends():
    async def main():
        gate = ConnectionGate()
        frame = Frame(OWNER, "default", None)
        gate.push(frame)
        assert gate.try_enter(OWNER, None)
        task = asyncio.create_task(gate.enter(CHILD, frame, "default"))
        await asyncio.sleep(0)
        gate.pop(frame)
        gate.leave(OWNER)
        with pytest.raises(TransactionManagementError):
            await task

    asyncio.run(main())


def test_cancelled_waiter_leaves_no_trace():
    async def main():
        gate = ConnectionGate()
        assert gate.try_enter(OWNER, None)
        task = asyncio.create_task(gate.enter(OTHER, None, "default"))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gate.waiting == 0
        gate.leave(OWNER)
        assert gate.holder is None

    asyncio.run(main())


def test_a_free_turn_goes_to_the_longest_waiting_user_not_a_newcomer():
    async def main():
        gate = ConnectionGate()
        first, second, newcomer = object(), object(), object()
        assert gate.try_enter(OWNER, None)
        order = []

        async def wait(holder):
            await gate.enter(holder, None, "default")
            order.append(holder)
            await asyncio.sleep(0)
            gate.leave(holder)

        tasks = [asyncio.create_task(wait(first)), asyncio.create_task(wait(second))]
        await asyncio.sleep(0)
        assert gate.waiting == 2
        gate.leave(OWNER)
        # Handed over before the waiter even resumes: nobody can overtake it.
        assert gate.holder is first
        assert not gate.try_enter(newcomer, None)
        await asyncio.gather(*tasks)
        assert order == [first, second]
        assert gate.try_enter(newcomer, None)

    asyncio.run(main())


def test_two_releases_never_hold_the_turn_together():
    gate = ConnectionGate()
    one, two = Releaser(), Releaser()
    assert gate.try_enter(one, None)
    assert not gate.try_enter(two, None)
    gate.leave(one)
    assert gate.try_enter(two, None)


def test_a_waiter_handed_the_turn_then_cancelled_passes_it_on():
    async def main():
        gate = ConnectionGate()
        assert gate.try_enter(OWNER, None)
        cancelled = asyncio.create_task(gate.enter(CHILD, None, "default"))
        after = asyncio.create_task(gate.enter(OTHER, None, "default"))
        await asyncio.sleep(0)
        gate.leave(OWNER)  # CHILD is handed the turn...
        assert gate.holder is CHILD
        cancelled.cancel()  # ...and cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await after
        assert gate.holder is OTHER and gate.depth == 1

    asyncio.run(main())
