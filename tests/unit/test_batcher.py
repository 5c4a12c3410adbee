"""The micro-batcher's contract, with a deterministic scoring function standing in for a model
(the real MiniLM batching proof is in tests/integration/test_server_live.py)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from classifine.errors import ServingError
from classifine.inference.batcher import BatchStats, MicroBatcher


def score(texts: list[str]) -> np.ndarray:
    """(N, 2): each text's length and a checksum, so every row identifies its text."""
    time.sleep(0.01)  # a forward pass takes time: requests arriving meanwhile queue up
    return np.array([[len(t), sum(map(ord, t)) % 97] for t in texts], dtype=np.float64)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_concurrent_requests_share_passes_and_get_their_own_rows_in_order() -> None:
    stats: list[BatchStats] = []

    async def main() -> list[np.ndarray]:
        batcher = MicroBatcher(score, max_batch_size=8, max_wait_ms=20, on_batch=stats.append)
        await batcher.start()
        requests = [[f"r{i}-a", f"r{i}-bb"] for i in range(12)]
        results = await asyncio.gather(*(batcher.predict(texts) for texts in requests))
        await batcher.close()
        for texts, rows in zip(requests, results, strict=True):
            np.testing.assert_array_equal(rows, score(texts))
        return list(results)

    run(main())
    assert sum(s.texts for s in stats) == 24 and sum(s.requests for s in stats) == 12
    assert len(stats) <= 4  # 24 texts at most 8 per pass: 3 passes (4 if timing splits one)
    assert all(s.texts <= 8 for s in stats)
    assert all(w >= 0 for s in stats for w in s.queue_waits)


def test_an_oversized_request_runs_alone() -> None:
    stats: list[BatchStats] = []

    async def main() -> None:
        batcher = MicroBatcher(score, max_batch_size=4, max_wait_ms=5, on_batch=stats.append)
        await batcher.start()
        big = [f"t{i}" for i in range(10)]
        rows = await batcher.predict(big)
        np.testing.assert_array_equal(rows, score(big))
        await batcher.close()

    run(main())
    assert [(s.texts, s.requests) for s in stats] == [(10, 1)]


def test_zero_wait_does_not_hold_a_lone_request() -> None:
    async def main() -> float:
        batcher = MicroBatcher(score, max_batch_size=64, max_wait_ms=0)
        await batcher.start()
        started = time.perf_counter()
        await batcher.predict(["alone"])
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    assert run(main()) < 1.0  # a 64-text batch never formed; the pass ran at once


def test_a_failing_pass_fails_its_requests_and_the_worker_goes_on() -> None:
    calls = {"n": 0}

    def flaky(texts: list[str]) -> np.ndarray:
        calls["n"] += 1
        if any("boom" in t for t in texts):
            raise ValueError("bad batch")
        return score(texts)

    async def main() -> None:
        batcher = MicroBatcher(flaky, max_batch_size=8, max_wait_ms=50)
        await batcher.start()
        results = await asyncio.gather(
            batcher.predict(["boom"]), batcher.predict(["fine"]), return_exceptions=True
        )
        assert all(isinstance(r, ValueError) for r in results)  # same pass, same failure
        np.testing.assert_array_equal(await batcher.predict(["later"]), score(["later"]))
        await batcher.close()

    run(main())
    assert calls["n"] == 2


def test_close_answers_everything_queued_then_refuses_new_work() -> None:
    async def main() -> None:
        batcher = MicroBatcher(score, max_batch_size=2, max_wait_ms=1000)
        await batcher.start()
        futures = [batcher.submit([f"q{i}"]) for i in range(5)]
        await batcher.close()  # does not wait out max_wait: it drains at once
        for i, fut in enumerate(futures):
            np.testing.assert_array_equal(fut.result(), score([f"q{i}"]))
        with pytest.raises(ServingError, match="shutting down"):
            batcher.submit(["late"])

    started = time.perf_counter()
    run(main())
    assert time.perf_counter() - started < 5.0


def test_a_request_whose_client_left_is_skipped() -> None:
    seen: list[list[str]] = []

    def record(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return score(texts)

    async def main() -> None:
        batcher = MicroBatcher(record, max_batch_size=8, max_wait_ms=30)
        await batcher.start()
        gone = batcher.submit(["cancelled"])
        kept = batcher.submit(["kept"])
        gone.cancel()
        np.testing.assert_array_equal(await kept, score(["kept"]))
        await batcher.close()

    run(main())
    assert seen == [["kept"]]


def test_predict_runs_in_the_given_executor_thread() -> None:
    from concurrent.futures import ThreadPoolExecutor

    names: list[str] = []

    def where(texts: list[str]) -> np.ndarray:
        names.append(threading.current_thread().name)
        return score(texts)

    async def main() -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="forward") as pool:
            batcher = MicroBatcher(where, executor=pool)
            await batcher.start()
            await batcher.predict(["x"])
            await batcher.close()

    run(main())
    assert names and names[0].startswith("forward")


@pytest.mark.parametrize(("size", "wait"), [(0, 5.0), (8, -1.0)])
def test_bad_settings_are_refused(size: int, wait: float) -> None:
    with pytest.raises(ServingError):
        MicroBatcher(score, max_batch_size=size, max_wait_ms=wait)
