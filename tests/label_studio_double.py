"""A recorded-contract double of Label Studio's REST API: a small real HTTP server for the default suite.

Why a double: the real Label Studio 1.23.2 takes about 4 minutes to install and 3.5 minutes to
start, far too slow for the default suite; ``make test-label-studio`` runs the same flow against
the real server. The double speaks only the endpoints classifine uses, with the shapes Label
Studio 1.23.2 documents and answers (checked against its source and the real server):

- ``Authorization: Token <key>`` on every call (401 otherwise);
- ``GET /api/projects/{id}/`` -> ``{"id", "title", "label_config"}``;
- ``GET /api/tasks/?project=&page=&page_size=&fields=all`` -> ``{"tasks": [...], "total", ...}``,
  each task with its full ``predictions``; a page past the end is a 404;
- ``POST /api/predictions/`` ``{"task", "result", "score", "model_version"}`` -> 201 the prediction;
- ``GET /api/projects/{id}/export?exportType=JSON`` -> the annotated tasks with ``annotations``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

CONFIG = (
    '<View><Text name="text" value="$text"/>'
    '<Choices name="sentiment" toName="text" choice="single">'
    '<Choice value="neg"/><Choice value="pos"/></Choices></View>'
)


@dataclass
class LabelStudioDouble:
    """The double's data: one project, its tasks, predictions and annotations."""

    token: str = "test-token-123"
    label_config: str = CONFIG
    tasks: list[dict[str, Any]] = field(default_factory=list)
    prediction_delay: float = 0.0  # seconds per POST /api/predictions (lets a test kill a client midway)
    calls: list[str] = field(default_factory=list)

    def add_tasks(self, texts: list[str]) -> None:
        for text in texts:
            self.tasks.append({"id": len(self.tasks) + 1, "project": 1, "data": {"text": text},
                               "annotations": [], "predictions": []})  # fmt: skip

    def annotate(self, task_id: int, label: str) -> dict[str, Any]:
        task = self.tasks[task_id - 1]
        annotation = {
            "id": 1000 + task_id * 10 + len(task["annotations"]),
            "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                        "value": {"choices": [label]}}],
            "was_cancelled": False, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "task": task_id,
        }  # fmt: skip
        task["annotations"].append(annotation)
        return annotation

    def predictions(self) -> list[dict[str, Any]]:
        return [p for t in self.tasks for p in t["predictions"]]

    def app(self) -> FastAPI:
        app = FastAPI(redirect_slashes=False)  # Label Studio's paths are exact
        double = self

        @app.middleware("http")
        async def auth(request: Request, call_next: Any) -> Any:
            double.calls.append(f"{request.method} {request.url.path}")
            if request.headers.get("authorization") != f"Token {double.token}":
                return JSONResponse({"detail": "Authentication credentials were not provided."}, 401)
            return await call_next(request)

        @app.get("/api/projects/{project}/")
        async def project(project: int) -> Any:
            if project != 1:
                return JSONResponse({"detail": "Not found."}, 404)
            return {"id": 1, "title": "sentiment", "label_config": double.label_config}

        @app.get("/api/tasks/")
        async def tasks(project: int, page: int = 1, page_size: int = 100, fields: str = "") -> Any:
            start = (page - 1) * page_size
            if page > 1 and start >= len(double.tasks):
                return JSONResponse({"detail": "Invalid page."}, 404)
            rows = double.tasks[start : start + page_size]
            if fields != "all":
                rows = [{k: v for k, v in t.items() if k not in ("predictions", "annotations")} for t in rows]
            return {"tasks": rows, "total": len(double.tasks), "total_annotations": 0, "total_predictions": 0}

        @app.post("/api/predictions/")
        async def create_prediction(request: Request) -> Any:
            body = await request.json()
            task = double.tasks[int(body["task"]) - 1]
            if double.prediction_delay:
                time.sleep(double.prediction_delay)
            prediction = {"id": len(double.predictions()) + 1, **body}
            task["predictions"].append(prediction)
            return JSONResponse(prediction, 201)

        @app.get("/api/projects/{project}/export")
        async def export(project: int, exportType: str = "JSON") -> Any:  # noqa: N803 (the API's name)
            return [t for t in double.tasks if t["annotations"]]

        return app
