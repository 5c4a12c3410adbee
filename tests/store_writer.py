"""One writer process of the store kill test (tests/integration/test_store_writers.py).

Usage: python tests/store_writer.py URL WORKER ROWS
Writes ROWS prediction rows through PredictionStore's background writer and prints each row id
on stdout only after its transaction committed (an acknowledgement), then DONE.
"""

from __future__ import annotations

import sys
import time

from classifine.server.store import PredictionRow, PredictionStore


def main() -> None:
    url, worker, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    def acknowledged(ids: list[str]) -> None:
        sys.stdout.write("".join(f"{i}\n" for i in ids))
        sys.stdout.flush()

    store = PredictionStore(url, queue_size=rows + 1, on_commit=acknowledged)
    store.start()
    print("READY", flush=True)
    for i in range(rows):
        row = PredictionRow.make(
            f"writer-{worker}", "v1", "spam", False, 0.9, f"text {worker} {i}", id=f"{worker:02d}-{i:08d}"
        )
        assert store.record(row)
        time.sleep(0.002)  # spread the writes out so a kill lands in the middle of them
    store.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
