"""Dynamic batching: concurrent requests are gathered (up to ``max_batch`` items or ``max_wait_ms`` after the
first) into one call of a batch function, which runs in one worker thread (the model is never used by two threads
at once); each request gets its own slice of the results back. A request that finds nothing else queued goes at
once: a lone client never waits for company, and requests arriving while a batch runs form the next one. A batch
that fails is run again request by request, so one bad request gets its own error and the others of its batch
their answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class DynamicBatcher:
    """``await batcher(items)`` -> ``fn(items)`` computed together with other requests' items. ``fn`` maps a list
    of items to a list of results, one per item. With ``enabled=False`` every request is its own call (the
    baseline the benchmark compares against)."""

    def __init__(
        self,
        fn: Callable[[list[Any]], Sequence[Any]],
        executor: ThreadPoolExecutor,
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        enabled: bool = True,
    ):
        self.fn, self.executor = fn, executor
        self.max_batch, self.max_wait, self.enabled = max_batch, max_wait_ms / 1000, enabled
        self.queue: asyncio.Queue[tuple[list[Any], asyncio.Future]] | None = None
        self.worker: asyncio.Task | None = None
        self.calls = 0  # how many times fn ran (batches), for /info and the tests

    async def start(self) -> None:
        """Start the batching worker (when batching is on)."""
        if self.enabled and self.worker is None:
            self.queue = asyncio.Queue()
            self.worker = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Finish every request already queued, then stop."""
        if self.worker is not None and self.queue is not None:
            await self.queue.join()
            self.worker.cancel()
            self.worker = None

    async def __call__(self, items: list[Any]) -> list[Any]:
        loop = asyncio.get_running_loop()
        if not self.enabled:
            self.calls += 1
            return list(await loop.run_in_executor(self.executor, self.fn, items))
        if self.queue is None:
            await self.start()
        assert self.queue is not None
        future: asyncio.Future = loop.create_future()
        await self.queue.put((items, future))
        return await future

    async def _run(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            pending = [await self.queue.get()]
            size = len(pending[0][0])
            deadline = loop.time() + self.max_wait
            while size < self.max_batch and not (len(pending) == 1 and self.queue.empty()):
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                pending.append(nxt)
                size += len(nxt[0])
            items = [item for request, _ in pending for item in request]
            try:
                self.calls += 1
                results = list(await loop.run_in_executor(self.executor, self.fn, items))
            except Exception as e:
                if len(pending) == 1:
                    self._settle(pending[0][1], error=e)
                else:  # isolate the failure: each request alone, so only the bad one gets an error
                    for request, future in pending:
                        try:
                            self.calls += 1
                            alone = list(await loop.run_in_executor(self.executor, self.fn, request))
                        except Exception as own:
                            self._settle(future, error=own)
                        else:
                            self._settle(future, result=alone)
            else:
                start = 0
                for request, future in pending:
                    self._settle(future, result=results[start : start + len(request)])
                    start += len(request)
            finally:
                for _ in pending:
                    self.queue.task_done()

    @staticmethod
    def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
        """Answer a request's future (unless its client went away)."""
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
