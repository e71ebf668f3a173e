"""The dynamic batcher alone: a lone request goes at once (it never waits max_wait_ms for company), requests queued
together share one call, and each gets its own slice back."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from boltir.serve.batching import DynamicBatcher


def test_a_lone_request_does_not_wait_and_queued_ones_share_a_call():
    calls: list[list[int]] = []

    def double(items: list[int]) -> list[int]:
        calls.append(list(items))
        return [2 * i for i in items]

    async def scenario() -> tuple[list[int], list[list[int]]]:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(double, pool, max_batch=3, max_wait_ms=60_000)  # a minute, if it ever waited
            await batcher.start()
            alone = await asyncio.wait_for(batcher([1]), timeout=10)
            assert batcher.queue is not None
            futures = [asyncio.ensure_future(batcher([i])) for i in (2, 3, 4)]
            await asyncio.sleep(0)  # all three are queued before the worker looks
            together = await asyncio.wait_for(asyncio.gather(*futures), timeout=10)  # a full batch goes
            await batcher.close()
            return alone, together

    alone, together = asyncio.run(scenario())
    assert alone == [2] and together == [[4], [6], [8]]
    assert calls[0] == [1] and [2, 3, 4] in calls  # the three queued requests were one call
