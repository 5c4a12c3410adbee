"""The Label Studio ML backend: ``/health``, ``/setup``, ``/predict``, ``/webhook`` and the legacy ``/train``.

``create_backend_app(settings)`` builds the FastAPI app (``classifine label-studio RUN`` serves it).
The run's serving version stays loaded; concurrent ``/predict`` calls (Label Studio often sends
one task per call) share forward passes through the server's micro-batcher. After a promotion
the next call loads the new serving version. Training never runs in a request: ``START_TRAINING``,
the legacy ``/train``, or ``retrain_every`` new annotations (``ANNOTATION_CREATED``/``UPDATED``)
start a ``classifine retrain`` subprocess, which compares old and new versions and logs the
decision. Failures answer non-2xx with ``{"error": "..."}``.

Example:
    >>> app = create_backend_app(BackendSettings(run="runs/trec-6", retrain_every=20))
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from classifine.errors import ClassifineError, ConfigError, DataError
from classifine.integrations.label_studio import (
    LabelConfig,
    annotated_rows,
    check_labels,
    model_version_of,
    parse_label_config,
    task_texts,
    to_predictions,
)
from classifine.loop.jobs import RetrainJob, start_retrain_job
from classifine.loop.versions import run_root, serving_version, versions_dir

logger = logging.getLogger(__name__)

TOKEN_ENV = "CLASSIFINE_LABEL_STUDIO_TOKEN"
COUNTED = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


class BackendSettings(BaseModel):
    """How the backend serves a run and when it retrains."""

    model_config = ConfigDict(extra="forbid")

    run: Path
    retrain_every: int = Field(20, ge=0)  # new annotations that start a retrain (0: never by count)
    metric: str = "macro_f1"
    min_delta: float = 0.0
    label_studio_url: str | None = None  # else the hostname Label Studio sends to /setup
    token_env: str | None = None  # variable holding a Label Studio token (else /setup's)
    server: str | None = None  # a classifine serve URL to reload after a promotion
    served_name: str | None = None
    api_key_env: str | None = None
    max_batch_size: int = Field(32, ge=1)
    max_wait_ms: float = Field(5.0, ge=0)


@dataclass
class BackendState:
    """Everything the app holds between requests (one per app, never module-level)."""

    settings: BackendSettings
    classifier: Any = None
    version: int = 0
    batcher: Any = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    counts: dict[str, int] = field(default_factory=dict)
    connections: dict[str, tuple[str, str]] = field(default_factory=dict)  # project -> (url, token)
    configs: dict[str, str] = field(default_factory=dict)  # project -> label config
    job: RetrainJob | None = None
    last_job: dict[str, Any] = field(default_factory=dict)

    @property
    def model_version(self) -> str:
        return model_version_of(self.settings.run)

    async def current(self) -> Any:
        """The loaded classifier, reloaded first when another version was promoted since."""
        async with self.lock:
            serving = serving_version(self.settings.run)
            if self.classifier is None or serving != self.version:
                from classifine.inference.batcher import MicroBatcher
                from classifine.inference.predictor import Classifier

                clf = await asyncio.to_thread(Classifier.load, self.settings.run)
                if self.batcher is not None:
                    await self.batcher.close()
                self.batcher = MicroBatcher(
                    clf.predict_proba, max_batch_size=self.settings.max_batch_size,
                    max_wait_ms=self.settings.max_wait_ms,
                )  # fmt: skip
                await self.batcher.start()
                self.classifier, self.version = clf, serving
                logger.info("serving %s", self.model_version)
            return self.classifier

    def job_status(self) -> dict[str, Any]:
        if self.job is not None and not self.job.running():
            self.last_job = {"pid": self.job.pid, "log": str(self.job.log), "exit_code": self.job.wait()}
            self.job = None
        if self.job is not None:
            return {"running": True, "pid": self.job.pid, "log": str(self.job.log)}
        return {"running": False, **({"last": self.last_job} if self.last_job else {})}


def _state(request: Request) -> BackendState:
    state: BackendState = request.app.state.backend
    return state


def _project_key(project: Any) -> str:
    if isinstance(project, dict):
        project = project.get("id", "")
    return str(project).split(".", 1)[0]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _config(state: BackendState, xml: str | None, project: str) -> tuple[Any, LabelConfig]:
    xml = xml or state.configs.get(project)
    if not xml:
        raise ConfigError("no label config: send label_config, or call /setup first", where="request")
    clf = await state.current()
    config = parse_label_config(xml)
    check_labels(config, clf.labels, clf.multi_label)
    return clf, config


def _job_args(state: BackendState, source: list[str]) -> list[str]:
    s = state.settings
    options = {
        "--metric": s.metric, "--min-delta": s.min_delta, "--server": s.server,
        "--served-name": s.served_name, "--api-key-env": s.api_key_env,
    }  # fmt: skip
    return [*source, *(x for k, v in options.items() if v is not None for x in (k, str(v)))]


def _start(state: BackendState, source: list[str], env: dict[str, str] | None, why: str) -> dict[str, Any]:
    if state.job_status()["running"]:
        raise _Busy(f"a retrain is already running (pid {state.job.pid if state.job else '?'})")
    state.job = start_retrain_job(state.settings.run, _job_args(state, source), env=env)
    logger.info("retrain started (%s): pid %d, log %s", why, state.job.pid, state.job.log)
    return {"started": True, "reason": why, "pid": state.job.pid, "log": str(state.job.log)}


class _Busy(ClassifineError):
    """A retrain is already running."""


def _connection(state: BackendState, project: str) -> tuple[str, str]:
    s = state.settings
    url, token = state.connections.get(project, ("", ""))
    url = s.label_studio_url or url
    if s.token_env and os.environ.get(s.token_env):
        token = os.environ[s.token_env]
    if not url or not token:
        raise ConfigError(
            "no Label Studio connection to read annotations from",
            where=f"project {project}",
            hint="connect the backend in Label Studio (it calls /setup), or pass --label-studio-url "
            "and --token-env",
        )
    return url, token


def _train_from_api(state: BackendState, project: str, why: str) -> dict[str, Any]:
    url, token = _connection(state, project)
    source = ["--from-label-studio", url, "--project", project]
    started = _start(state, source, {TOKEN_ENV: token}, why)
    state.counts[project] = 0
    return started


def _lifespan(state: BackendState):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        await state.current()
        yield
        if state.batcher is not None:
            await state.batcher.close()
        if state.job is not None and state.job.running():
            logger.info("waiting for the running retrain (pid %d) to finish", state.job.pid)
            await asyncio.to_thread(state.job.wait)

    return lifespan


def create_backend_app(settings: BackendSettings) -> FastAPI:
    """The Label Studio ML backend app for ``settings.run`` (see the module docstring).

    Example:
        >>> uvicorn.run(create_backend_app(BackendSettings(run="runs/trec-6")), port=9090)
    """
    settings = settings.model_copy(update={"run": run_root(settings.run)})
    state = BackendState(settings)
    app = FastAPI(title="classifine Label Studio ML backend", lifespan=_lifespan(state))
    app.state.backend = state

    @app.exception_handler(ClassifineError)
    async def _classifine(_request: Request, exc: Exception) -> JSONResponse:
        status = 409 if isinstance(exc, _Busy) else 422 if isinstance(exc, ConfigError | DataError) else 500
        return _error(status, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("backend error")
        return _error(500, f"{type(exc).__name__}: {exc}")

    _routes(app)
    return app


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError("the request body is not JSON", where=str(request.url.path)) from None
    if not isinstance(body, dict):
        raise DataError("the request body must be a JSON object", where=str(request.url.path))
    return body


def _routes(app: FastAPI) -> None:
    @app.get("/health")
    @app.get("/")
    async def health(request: Request) -> dict[str, Any]:
        state = _state(request)
        return {
            "status": "UP", "model_class": "classifine", "model_version": state.model_version,
            "training": state.job_status(),
        }  # fmt: skip

    @app.post("/setup")
    async def setup(request: Request) -> dict[str, Any]:
        state, body = _state(request), await _body(request)
        project = _project_key(body.get("project", ""))
        await _config(state, body.get("schema") or "", project)
        state.configs[project] = body["schema"]
        if body.get("hostname") and body.get("access_token"):
            state.connections[project] = (str(body["hostname"]), str(body["access_token"]))
        return {"model_version": state.model_version}

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        state, body = _state(request), await _body(request)
        tasks = body.get("tasks")
        if not isinstance(tasks, list):
            raise DataError("'tasks' must be a list of tasks", where="/predict")
        clf, config = await _config(state, body.get("label_config"), _project_key(body.get("project", "")))
        texts = task_texts(tasks, config)
        if not texts:
            return {"results": [], "model_version": state.model_version}
        probs = await state.batcher.predict(texts)
        thresholds = [float(t) for t in clf.thresholds] if clf.multi_label else None
        results = to_predictions(probs, clf.labels, thresholds, config, state.model_version)
        return {"results": results, "model_version": state.model_version}

    @app.post("/webhook")
    async def webhook(request: Request) -> JSONResponse:
        state, body = _state(request), await _body(request)
        action, project = body.get("action"), _project_key(body.get("project") or "")
        if action == "START_TRAINING":
            return JSONResponse({"status": "ok", "training": _train_from_api(state, project, action)}, 201)
        if action not in COUNTED:
            return JSONResponse({"status": "Unknown event"}, 200)
        state.counts[project] = state.counts.get(project, 0) + 1
        count, every = state.counts[project], state.settings.retrain_every
        training: dict[str, Any] = {"started": False}
        if every and count >= every:
            if state.job_status()["running"]:
                training = {"started": False, "reason": "a retrain is running; starts after it"}
            else:
                training = _train_from_api(state, project, f"{count} new annotations")
        return JSONResponse({"status": "ok", "annotations": count, "training": training}, 201)

    @app.post("/train")
    async def train(request: Request) -> JSONResponse:
        state, body = _state(request), await _body(request)
        project = _project_key(body.get("project", ""))
        tasks = body.get("annotations")
        if not isinstance(tasks, list):  # no annotations sent: read them through the API
            return JSONResponse({"status": "ok", "training": _train_from_api(state, project, "/train")}, 201)
        _clf, config = await _config(state, body.get("label_config"), project)
        rows = annotated_rows(tasks, config.field)
        if not rows:
            raise DataError("none of the tasks sent to /train has a usable annotation", where="/train")
        folder = versions_dir(state.settings.run) / "jobs"
        folder.mkdir(parents=True, exist_ok=True)
        labels = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}-labels.jsonl"
        multi = config.multiple
        with open(labels, "w", encoding="utf-8") as fh:
            for text, chosen in rows:
                fh.write(json.dumps({"text": text, "label": chosen if multi else chosen[0]}) + "\n")
        started = _start(state, ["--labels", str(labels)], None, f"/train with {len(rows)} annotations")
        return JSONResponse({"status": "ok", "training": started}, 201)

    @app.get("/versions")
    async def versions(request: Request) -> dict[str, Any]:
        from classifine.loop.versions import list_versions

        run = _state(request).settings.run
        return {"versions": [f"{run.name}-v{v.version}" for v in list_versions(run)]}
