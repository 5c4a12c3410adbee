"""The app factory: ``create_app(settings)`` builds a FastAPI app whose lifespan loads the models.

Nothing lives at module level: each app owns its settings, metrics registry, models, batchers,
stores and forward-pass thread, created in the lifespan and closed when it ends (queued
requests are answered and queued store rows written before the stores close).

Example:
    >>> app = create_app(ServerSettings.for_runs(["runs/sms-spam-minilm"]))
    >>> uvicorn.run(app, port=8000)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from classifine import __version__
from classifine.server import routes_admin, routes_classify, routes_feedback, routes_review
from classifine.server.errors import install_error_handlers
from classifine.server.metrics import ServerMetrics
from classifine.server.middleware import ServingMiddleware
from classifine.server.models import ModelRegistry
from classifine.server.service import ServingContext
from classifine.server.settings import ServerSettings
from classifine.server.store import PredictionStore, store_url

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "Serve classifine runs: `/v1/classify`, a Text Embeddings Inference compatible `/predict`, "
    "feedback, model reload, probes and Prometheus metrics. See docs/serving.md."
)


def open_stores(settings: ServerSettings, metrics: ServerMetrics) -> dict[str, PredictionStore]:
    """One store per served model: ``--store URL`` shared by all, else each run's ``serving.sqlite``."""
    if not settings.store_enabled:
        return {}
    hooks = {
        "queue_size": settings.store_queue_size,
        "on_written": lambda table, n: metrics.store_written.labels(table).inc(n),
        "on_dropped": lambda n: metrics.store_dropped.inc(n),
        "on_error": lambda: metrics.store_errors.inc(),
    }
    by_url: dict[str, PredictionStore] = {}
    stores = {}
    for source in settings.models:
        url = settings.store or store_url(_run_folder(source.path))
        if url not in by_url:
            by_url[url] = PredictionStore(url, **hooks)  # type: ignore[arg-type]
            by_url[url].start()
        stores[source.name] = by_url[url]
    return stores


def _run_folder(path: Path) -> Path:
    return path.parent if path.name == "model" and (path / "classifine.json").is_file() else path


def _share_cores(workers: int) -> int:
    """Give each forward thread cores / workers torch threads; the previous count."""
    import torch

    from classifine.server.settings import cpu_count

    previous = int(torch.get_num_threads())
    torch.set_num_threads(max(1, cpu_count() // workers))
    return previous


def _restore_threads(previous: int) -> None:
    import torch

    torch.set_num_threads(previous)


def _calm_collector() -> None:
    """Keep the cyclic garbage collector off the long-lived objects loaded at start-up.

    The models, tokenizers and imported modules hold millions of objects that never become garbage;
    full collections walking them under load show up as latency spikes. They are frozen (moved to a
    generation the collector skips) and young collections run less often.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _lifespan(settings: ServerSettings, metrics: ServerMetrics):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Forward passes run side by side in their own threads, each with an equal share of the
        # cores: on small CPUs that beats one pass spreading every op over all cores.
        executor = ThreadPoolExecutor(settings.forward_workers, thread_name_prefix="classifine-forward")
        threads = _share_cores(settings.forward_workers)
        registry = ModelRegistry(settings, executor, metrics)
        ctx = ServingContext(settings=settings, metrics=metrics, registry=registry, executor=executor)
        app.state.ctx = ctx
        try:
            ctx.stores = open_stores(settings, metrics)
            await registry.load_all()
            _calm_collector()
            logger.info("serving %s", ", ".join(registry.names))
            yield
        finally:
            ctx.draining = True
            await registry.close()
            for store in ctx.unique_stores():
                store.close()
            executor.shutdown(wait=True)
            _restore_threads(threads)
            logger.info("stopped")

    return lifespan


def create_app(settings: ServerSettings) -> FastAPI:
    """Build the app for ``settings`` (models load when the app starts, in its lifespan).

    Example:
        >>> app = create_app(ServerSettings.for_runs(["runs/demo"], max_batch_size=16))
    """
    metrics = ServerMetrics()
    app = FastAPI(
        title="classifine",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(settings, metrics),
    )
    install_error_handlers(app)
    app.include_router(routes_classify.router)
    app.include_router(routes_feedback.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_review.router)
    app.add_middleware(ServingMiddleware, metrics=metrics, max_body_bytes=settings.limits.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


def app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker process (``--workers N``): settings from the environment."""
    if not logging.getLogger().handlers:  # a fresh worker process: log like the parent's CLI does
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    return create_app(ServerSettings.from_env())


def check_store(url: str) -> None:
    """Open the store once (creating its tables) so a wrong URL fails before any model loads."""
    import sqlalchemy as sa

    from classifine.errors import ConfigError
    from classifine.server.store import create_tables, make_engine

    engine = make_engine(url)
    try:
        create_tables(engine)
    except sa.exc.SQLAlchemyError as exc:
        reason = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc).splitlines()[0]
        raise ConfigError(
            f"cannot open the store: {reason}", where=_redact(url), hint="check --store"
        ) from None
    finally:
        engine.dispose()


def _redact(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<store URL>"


def run_server(
    settings: ServerSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM, then drain requests in flight (up to ``shutdown_drain_s``).

    With ``workers > 1`` uvicorn starts that many processes, each loading the models; the settings
    reach them through ``CLASSIFINE_SERVE_SETTINGS`` (the API key through its own variable).

    Example:
        >>> run_server(ServerSettings.for_runs(["runs/demo"]), port=8000)
    """
    import os

    import uvicorn

    from classifine.server.settings import SETTINGS_ENV

    options = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "timeout_graceful_shutdown": int(settings.shutdown_drain_s) or None,
        "server_header": False,
    }
    if workers > 1:
        os.environ[SETTINGS_ENV] = settings.to_env()
        uvicorn.run("classifine.server.app:app_from_env", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    else:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
