"""Dynamic micro-batching: concurrent requests' texts share one forward pass.

Each request submits its texts and awaits a future. One worker task per model gathers pending
requests until ``max_batch_size`` texts are waiting or ``max_wait_ms`` has passed, runs
ONE ``predict`` call (the classifier sorts the texts by length) in a worker thread, and answers
every request with its own rows, in its own order. While a forward pass runs, new requests queue
up; after a pass, the clients it answered get ``max_wait_ms`` to send their next request before the
next pass starts, so under steady load passes stay full (instead of alternating half batches).

Example:
    >>> batcher = MicroBatcher(clf.predict_proba, max_batch_size=32, max_wait_ms=5)
    >>> await batcher.start()
    >>> probs = await batcher.predict(["free prize!", "see you at 5"])  # (2, C)
    >>> await batcher.close()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from classifine.errors import ServingError

logger = logging.getLogger(__name__)

PredictFn = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class BatchStats:
    """What one forward pass did: texts, requests, seconds each request waited, seconds computing."""

    texts: int
    requests: int
    queue_waits: list[float]
    seconds: float


@dataclass
class _Item:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    enqueued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Gather concurrent ``predict`` calls into shared forward passes (one worker task, FIFO).

    Args:
        predict: texts -> probabilities (N, C); called in ``executor`` (a worker thread).
        max_batch_size: texts per forward pass; a request with more texts runs alone.
        max_wait_ms: how long the oldest waiting request may wait for others to join.
        executor: where ``predict`` runs (default: the event loop's default thread pool).
        on_batch: called on the event loop after each forward pass (metrics).
        concurrency: batches that may run at once (give ``executor`` as many threads).

    Example:
        >>> batcher = MicroBatcher(clf.predict_proba, max_batch_size=16, max_wait_ms=2)
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        executor: Executor | None = None,
        on_batch: Callable[[BatchStats], None] | None = None,
        concurrency: int = 1,
    ) -> None:
        if max_batch_size < 1:
            raise ServingError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if concurrency < 1:
            raise ServingError(f"concurrency must be at least 1, got {concurrency}")
        if max_wait_ms < 0:
            raise ServingError(f"max_wait_ms must be 0 or more, got {max_wait_ms}")
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self._executor = executor
        self._on_batch = on_batch
        self._pending: deque[_Item] = deque()
        self._pending_texts = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._last_end = 0.0  # perf_counter() when the last forward pass answered its requests
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start the worker task on the running event loop."""
        if self._task is None:
            self._slots = asyncio.Semaphore(self._concurrency)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="classifine-batcher")

    @property
    def pending(self) -> int:
        """Texts waiting for a forward pass."""
        return self._pending_texts

    def submit(self, texts: Sequence[str]) -> asyncio.Future[np.ndarray]:
        """Queue ``texts`` (synchronously: no await between choosing a model and queueing on it).

        Returns a future resolving to their probabilities (N, C), rows in the given order.
        """
        if self._closing or self._task is None:
            raise ServingError("the model is shutting down", hint="retry the request")
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(list(texts), future))
        self._pending_texts += len(texts)
        self._wakeup.set()
        return future

    async def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities (N, C) for ``texts``, computed in a shared forward pass."""
        return await self.submit(texts)

    async def close(self) -> None:
        """Stop accepting work, answer everything already queued, then stop the worker."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _wait_for_work(self) -> bool:
        while not self._pending:
            if self._closing:
                return False
            self._wakeup.clear()
            await self._wakeup.wait()
        return True

    async def _gather_more(self) -> None:
        """Wait until the batch is full, the wait is over, or we are closing.

        The wait runs from the oldest request's arrival, or from the end of the previous forward
        pass when that is later: the clients it just answered get ``max_wait`` to send their next
        request, so under steady load passes stay full instead of splitting into alternating halves.
        A lone request never waits longer than ``max_wait``.
        """
        loop = asyncio.get_running_loop()
        start = max(self._pending[0].enqueued, self._last_end)
        deadline = loop.time() + self.max_wait - (time.perf_counter() - start)
        while self._pending_texts < self.max_batch_size and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self) -> list[_Item]:
        # Idle workers share what is waiting evenly: 32 waiting texts and 2 idle workers make two
        # passes of 16 running side by side, not one pass of 32 beside an idle worker.
        idle = max(1, self._concurrency - len(self._running))
        limit = min(self.max_batch_size, -(-self._pending_texts // idle))
        batch = [self._pending.popleft()]
        size = len(batch[0].texts)
        while self._pending and size + len(self._pending[0].texts) <= limit:
            item = self._pending.popleft()
            batch.append(item)
            size += len(item.texts)
        self._pending_texts -= size
        return batch

    async def _run(self) -> None:
        assert self._slots is not None
        while await self._wait_for_work():
            await self._slots.acquire()  # a batch is gathered only when a worker can run it
            await self._gather_more()
            task = asyncio.get_running_loop().create_task(self._execute(self._take_batch()))
            self._running.add(task)
            task.add_done_callback(self._finished)
        await asyncio.gather(*self._running)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        assert self._slots is not None
        self._slots.release()

    async def _execute(self, batch: list[_Item]) -> None:
        live = [item for item in batch if not item.future.done()]  # a client that left is skipped
        if not live:
            return
        texts = [text for item in live for text in item.texts]
        started = time.perf_counter()
        waits = [started - item.enqueued for item in live]
        try:
            loop = asyncio.get_running_loop()
            probs = await loop.run_in_executor(self._executor, self._predict, texts)
        except Exception as exc:  # answer every waiting request instead of leaving it hanging
            logger.error("forward pass over %d texts failed: %s", len(texts), type(exc).__name__)
            for item in live:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        seconds = time.perf_counter() - started
        self._last_end = time.perf_counter()
        start = 0
        for item in live:
            rows = probs[start : start + len(item.texts)]
            start += len(item.texts)
            if not item.future.done():
                item.future.set_result(rows)
        if self._on_batch is not None:
            try:
                self._on_batch(BatchStats(len(texts), len(live), waits, seconds))
            except Exception:  # metrics must never stop the worker
                logger.exception("batch callback failed")
