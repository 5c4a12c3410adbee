"""The served models: load a run, give it a version, swap it atomically on reload.

A request picks the model it will use once (``registry.get(name)``) and queues its texts on that
model's batcher without awaiting in between; a reload loads the new version beside the old one,
swaps the reference, then drains the old batcher. So requests in flight finish on the old model
and every later request sees the new one.

Example:
    >>> registry = ModelRegistry(settings, executor, metrics)
    >>> await registry.load_all()
    >>> model = registry.get("sms-spam-minilm")
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from classifine.artifact import ArtifactMeta, model_dir, read_meta
from classifine.errors import ServingError, suggestion
from classifine.inference.batcher import MicroBatcher

if TYPE_CHECKING:
    from classifine.inference.predictor import Classifier
    from classifine.server.metrics import ServerMetrics
    from classifine.server.settings import ModelSource, ServerSettings

logger = logging.getLogger(__name__)


def load_classifier(path: Path, engine: str, batch_size: int, workers: int = 1) -> Classifier:
    """The one place the server loads a run: ``Classifier.load`` with the requested engine.

    ``workers`` forward passes run side by side; an ONNX engine gives each its share of the
    cores (as the torch threads are shared), so they do not oversubscribe them.

    Example:
        >>> clf = load_classifier(Path("runs/demo"), "auto", 64, workers=2)
    """
    from classifine.inference.predictor import Classifier
    from classifine.server.settings import cpu_count

    threads = max(1, cpu_count() // max(workers, 1))
    return Classifier.load(path, engine=engine, batch_size=batch_size, threads=threads)


def model_version(path: Path) -> str:
    """A content version of the run's model: sha256 over every file of its model folder.

    It changes exactly when the served model changes (retrained, re-exported), whatever the
    file times say. Example: ``'a3f9c2e1b7d0'``.
    """
    folder = model_dir(path)
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for file in files:
        digest.update(file.relative_to(folder).as_posix().encode())
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:12]


# Padded tokens per model call: short texts go many to a call, long ones few (less padding).
TOKEN_BUDGET = 512
MAX_CHUNK = 64


def chunked_predict(
    classifier: Any, on_pass: Callable[[], None] | None = None
) -> Callable[[list[str]], np.ndarray]:
    """A batch -> probabilities function that runs length-sorted chunks of about ``TOKEN_BUDGET`` padded
    tokens (a text's tokens estimated from its characters, capped at the model's max length).

    Example:
        >>> predict = chunked_predict(clf)
        >>> predict(["free prize!", "see you"]).shape
        (2, 2)
    """
    max_length = int(classifier.meta.max_length)

    def tokens(text: str) -> int:
        return min(max_length, len(text) // 4 + 3)

    def predict(texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), len(classifier.labels)), dtype=np.float64)
        chunk: list[int] = []
        for i in [*order, -1]:
            full = chunk and (
                i < 0 or (len(chunk) + 1) * tokens(texts[i]) > TOKEN_BUDGET or len(chunk) >= MAX_CHUNK
            )
            if full:
                out[chunk] = classifier.predict_proba([texts[j] for j in chunk])
                if on_pass is not None:
                    on_pass()
                chunk = []
            if i >= 0:
                chunk.append(i)
        return out

    return predict


def engine_name(classifier: Any) -> str:
    """The engine a loaded classifier runs on (torch unless it says otherwise)."""
    return str(getattr(classifier, "engine", "torch"))


@dataclass
class LoadedModel:
    """One loaded version of a served run, with its own batcher."""

    name: str
    path: Path
    version: str
    classifier: Any
    meta: ArtifactMeta
    batcher: MicroBatcher
    engine: str
    token_counter: Any = None  # a private tokenizer copy: the forward threads' one keeps state
    loaded_at: float = field(default_factory=time.time)

    @property
    def labels(self) -> list[str]:
        return list(self.meta.labels)

    @property
    def multi_label(self) -> bool:
        return self.meta.multi_label


class ModelRegistry:
    """The served models by name; each name holds one current :class:`LoadedModel`."""

    def __init__(self, settings: ServerSettings, executor: Executor, metrics: ServerMetrics) -> None:
        self._settings = settings
        self._executor = executor
        self._metrics = metrics
        self._sources = {m.name: m for m in settings.models}
        self._current: dict[str, LoadedModel] = {}
        self._locks = {name: asyncio.Lock() for name in self._sources}

    @property
    def names(self) -> list[str]:
        return list(self._sources)

    @property
    def ready(self) -> bool:
        return len(self._current) == len(self._sources)

    def all(self) -> list[LoadedModel]:
        return [self._current[n] for n in self._sources if n in self._current]

    def get(self, name: str | None) -> LoadedModel:
        """The current version of ``name`` (the first served model when ``None``)."""
        key = name if name is not None else self._settings.default_model
        if key not in self._sources:
            raise ServingError(
                f"unknown model '{key}'", hint=suggestion(key, self._sources, "model") + " (served models)"
            )
        if key not in self._current:
            raise ServingError(f"model '{key}' is not loaded yet", hint="retry when GET /ready says ready")
        return self._current[key]

    async def _load(self, source: ModelSource) -> LoadedModel:
        """Load a run in a worker thread (the event loop keeps answering meanwhile)."""

        def work() -> tuple[Any, str, Any]:
            version = model_version(source.path)
            classifier = load_classifier(
                source.path, self._settings.engine, MAX_CHUNK, self._settings.forward_workers
            )
            classifier.predict_proba(
                ["warm up"]
            )  # the first call sets the tokenizer's state, single-threaded
            counter = copy.deepcopy(getattr(classifier, "tokenizer", None))
            return classifier, version, counter

        classifier, version, counter = await asyncio.to_thread(work)
        batcher = MicroBatcher(
            chunked_predict(classifier, self._metrics.pass_counter(source.name)),
            max_batch_size=self._settings.max_batch_size,
            max_wait_ms=self._settings.max_wait_ms,
            executor=self._executor,
            on_batch=self._metrics.batch_observer(source.name),
            concurrency=self._settings.forward_workers,
        )
        await batcher.start()
        engine = engine_name(classifier)
        model = LoadedModel(
            source.name, source.path, version, classifier, classifier.meta, batcher, engine, counter
        )
        self._metrics.model_loaded(model.name, model.version, model.engine)
        logger.info("model %s version %s loaded (%s engine)", model.name, model.version, model.engine)
        return model

    async def load_all(self) -> None:
        """Load every served run (at startup)."""
        for source in self._sources.values():
            self._current[source.name] = await self._load(source)

    async def reload(self, name: str) -> tuple[LoadedModel, str | None]:
        """Load the run folder again and swap it in; ``(new model, previous version)``.

        Unchanged content (same version) keeps the loaded model. A run that no longer loads
        raises ModelError and the old version keeps serving.
        """
        old = self.get(name)
        async with self._locks[name]:
            old = self._current[name]
            version = await asyncio.to_thread(model_version, self._sources[name].path)
            if version == old.version:
                return old, old.version
            new = await self._load(self._sources[name])
            self._current[name] = new  # atomic for every request that picks a model after this line
            self._metrics.model_unloaded(old.name, old.version, old.engine)
        await old.batcher.close()  # requests that picked the old model finish on it
        return new, old.version

    async def close(self) -> None:
        """Answer queued requests, then stop every batcher."""
        for model in self.all():
            await model.batcher.close()


def check_runs(settings: ServerSettings) -> list[ArtifactMeta]:
    """Read every served run's ``classifine.json`` (fast, before any weights load): clear errors early."""
    return [read_meta(source.path) for source in settings.models]
