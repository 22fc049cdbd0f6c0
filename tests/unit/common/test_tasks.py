"""stop_tasks(): helpers stopped, their failures retrieved, the caller's cancellation kept."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from edgeway.common.tasks import stop_tasks


async def _slow_to_stop() -> None:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        await asyncio.sleep(0.05)  # a helper that takes a moment to clean up
        raise


async def _caller(started: asyncio.Event, suppressing: bool) -> str:
    helper = asyncio.create_task(_slow_to_stop())
    await asyncio.sleep(0)
    started.set()
    if suppressing:  # the pattern stop_tasks() replaces
        helper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await helper
    else:
        await stop_tasks(helper)
    return "went on"


@pytest.mark.parametrize("suppressing", [False, True])
async def test_a_caller_cancelled_while_its_helpers_stop_stays_cancelled(suppressing: bool) -> None:
    started = asyncio.Event()
    caller = asyncio.create_task(_caller(started, suppressing))
    await started.wait()
    caller.cancel()  # while it waits for its helper to stop
    if suppressing:  # the trap: the cancellation is swallowed and the caller goes on
        assert await caller == "went on"
        return
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_helpers_are_stopped_and_their_failures_retrieved() -> None:
    async def failing() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(failing())
    await asyncio.sleep(0)
    sleeping = asyncio.create_task(asyncio.sleep(10))
    await stop_tasks(failed, sleeping)
    assert sleeping.cancelled()
    assert isinstance(failed.exception(), RuntimeError)
    await stop_tasks()  # nothing to stop
