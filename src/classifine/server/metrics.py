"""Prometheus metrics of one app, in a registry of its own (never the process-global one).

Example:
    >>> metrics = ServerMetrics()
    >>> metrics.observe_request("/v1/classify", "POST", 200, 0.012)
    >>> b"classifine_requests_total" in metrics.render()
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from classifine.inference.batcher import BatchStats

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 128, 256, 512)
CONFIDENCE_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerMetrics:
    """Every metric the server exports; see docs/serving.md for the list."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        http = ["route", "method", "status"]
        self.requests = Counter(
            "classifine_requests", "HTTP requests by route, method and status", http, registry=r
        )
        self.latency = Histogram(
            "classifine_request_duration_seconds",
            "HTTP request latency",
            http,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("classifine_requests_in_flight", "HTTP requests being answered", registry=r)
        self._batching(r)
        self._model(r)
        self._store(r)

    def _batching(self, r: CollectorRegistry) -> None:
        m = ["model"]
        self.batches = Counter("classifine_batches", "Batches of gathered requests", m, registry=r)
        self.forward_passes = Counter(
            "classifine_forward_passes", "Model calls (length-sorted chunks of a batch)", m, registry=r
        )
        self.batch_texts = Histogram(
            "classifine_batch_size", "Texts per batch", m, buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_requests = Histogram(
            "classifine_batch_requests",
            "Requests sharing one batch",
            m,
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "classifine_queue_wait_seconds",
            "Wait for a batch to start",
            m,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.forward_seconds = Histogram(
            "classifine_forward_seconds",
            "Duration of one batch (its forward passes)",
            m,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def _model(self, r: CollectorRegistry) -> None:
        self.predictions = Counter(
            "classifine_predictions",
            "Predictions by model and predicted label",
            ["model", "label"],
            registry=r,
        )
        self.confidence = Histogram(
            "classifine_prediction_confidence",
            "Top probability of each prediction",
            ["model"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "classifine_model_info",
            "Served versions (1 = serving)",
            ["model", "version", "engine"],
            registry=r,
        )
        self.reloads = Counter(
            "classifine_model_reloads", "Reloads by outcome", ["model", "outcome"], registry=r
        )

    def _store(self, r: CollectorRegistry) -> None:
        self.store_written = Counter(
            "classifine_store_rows_written", "Rows committed to the store", ["table"], registry=r
        )
        self.store_dropped = Counter(
            "classifine_store_rows_dropped", "Prediction rows dropped: the store queue was full", registry=r
        )
        self.store_errors = Counter("classifine_store_write_errors", "Failed store transactions", registry=r)
        self.store_queue = Gauge(
            "classifine_store_queue_depth", "Rows waiting for the store writer", registry=r
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method, str(status)).observe(seconds)

    def batch_observer(self, model: str) -> Callable[[BatchStats], None]:
        """A batcher callback recording one model's forward passes."""
        batches = self.batches.labels(model)
        texts = self.batch_texts.labels(model)
        requests = self.batch_requests.labels(model)
        wait = self.queue_wait.labels(model)
        seconds = self.forward_seconds.labels(model)

        def observe(stats: BatchStats) -> None:
            batches.inc()
            texts.observe(stats.texts)
            requests.observe(stats.requests)
            seconds.observe(stats.seconds)
            for waited in stats.queue_waits:
                wait.observe(waited)

        return observe

    def pass_counter(self, model: str) -> Callable[[], None]:
        """Counts one model's forward passes (called from the forward threads; thread-safe)."""
        return self.forward_passes.labels(model).inc

    def observe_predictions(
        self, model: str, labels: Sequence[str | list[str]], confidences: Sequence[float]
    ) -> None:
        """Count predicted labels (each label of a multi-label prediction) and observe confidences."""
        counter = self.predictions
        hist = self.confidence.labels(model)
        for label, conf in zip(labels, confidences, strict=True):
            for name in [label] if isinstance(label, str) else label or ["(none)"]:
                counter.labels(model, name).inc()
            hist.observe(conf)

    def model_loaded(self, model: str, version: str, engine: str) -> None:
        self.model_info.labels(model, version, engine).set(1)

    def model_unloaded(self, model: str, version: str, engine: str) -> None:
        self.model_info.remove(model, version, engine)

    def render(self) -> bytes:
        """The Prometheus text exposition of this app's registry."""
        return generate_latest(self.registry)
