"""Label Studio: its label config, its REST API, predictions in its format, annotations as new labels.

The label config's ``<Choices name=.. toName=..>`` tag names ``from_name``/``to_name`` and the
choices; ``choice="multiple"`` is multi-label; the ``<Text name=.. value="$field">`` tag it points
to names the task's data field. Predictions carry ``score`` and ``model_version`` at their root.
The REST client speaks ``Authorization: Token <key>`` (a personal access token, a JWT, is first
exchanged for an access token at ``/api/token/refresh/`` and sent as ``Bearer``).

Example:
    >>> config = parse_label_config('<View><Text name="t" value="$text"/>'
    ...     '<Choices name="c" toName="t"><Choice value="ham"/><Choice value="spam"/></Choices></View>')
    >>> config.from_name, config.to_name, config.field, config.choices
    ('c', 't', 'text', ('ham', 'spam'))
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from classifine.errors import ClassifineError, ConfigError, DataError
from classifine.loop.data import NewLabels, labels_from_rows

logger = logging.getLogger(__name__)


class LabelStudioError(ClassifineError):
    """Label Studio's API answered an error, or could not be reached."""


@dataclass(frozen=True)
class LabelConfig:
    """What classifine needs from a project's label config."""

    from_name: str
    to_name: str
    field: str  # the task data key holding the text
    choices: tuple[str, ...]
    multiple: bool


def parse_label_config(xml: str) -> LabelConfig:
    """Read the ``<Choices>`` tag and the ``<Text>`` tag it labels from a label config.

    Example:
        >>> parse_label_config(project["label_config"]).choices
        ('ham', 'spam')
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ConfigError(f"the label config is not valid XML: {exc}", where="label_config") from None
    choices = [el for el in root.iter() if el.tag == "Choices"]
    if not choices:
        raise ConfigError(
            "the label config has no <Choices> tag", where="label_config",
            hint="use a text classification config: <Choices name=.. toName=..> with <Choice value=..>",
        )  # fmt: skip
    tag = choices[0]
    from_name, to_name = tag.get("name", ""), tag.get("toName", "")
    texts = {el.get("name"): el for el in root.iter() if el.tag in ("Text", "HyperText", "Paragraphs")}
    if to_name not in texts:
        raise ConfigError(
            f"<Choices name='{from_name}'> labels '{to_name}', which is not a <Text> tag",
            where="label_config",
        )
    value = texts[to_name].get("value", "")
    values = tuple(el.get("value", el.text or "") for el in tag.iter("Choice"))
    multiple = tag.get("choice", "single") in ("multiple", "multiple-choice")
    return LabelConfig(from_name, to_name, value.lstrip("$"), values, multiple)


def check_labels(config: LabelConfig, labels: Sequence[str], multi_label: bool) -> None:
    """A ConfigError naming the differences when the config's choices do not match the model's labels.

    Example:
        >>> check_labels(config, ["ham", "spam"], multi_label=False)
    """
    missing = [name for name in labels if name not in config.choices]
    extra = [name for name in config.choices if name not in labels]
    if missing or extra:
        raise ConfigError(
            f"the label config's choices {list(config.choices)} do not match the model's labels "
            f"{list(labels)} (missing: {missing}, unknown to the model: {extra})",
            where="label_config",
            hint="use the model's labels as <Choice value=..> values, or serve a model trained on these",
        )
    if config.multiple != multi_label:
        want = 'multi-label: add choice="multiple"' if multi_label else 'single-label: drop choice="multiple"'
        raise ConfigError(f"the model is {want} to the <Choices> tag", where="label_config")


def task_texts(tasks: Sequence[dict[str, Any]], config: LabelConfig) -> list[str]:
    """The text of every task (``task["data"][field]``); a DataError names a task without one."""
    out = []
    for task in tasks:
        value = (task.get("data") or {}).get(config.field)
        if not isinstance(value, str):
            raise DataError(
                f"task {task.get('id')} has no text in data.{config.field}",
                where="tasks", hint=f"import tasks as {{\"data\": {{\"{config.field}\": \"...\"}}}}",
            )  # fmt: skip
        out.append(value)
    return out


def to_predictions(
    probs: np.ndarray, labels: Sequence[str], thresholds: Sequence[float] | None, config: LabelConfig,
    model_version: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """One Label Studio prediction per row: the chosen label(s), ``score`` and ``model_version`` at the root.

    Single-label: the argmax, scored by its probability. Multi-label: every label at or above its
    threshold (several choices), scored by the mean probability of the chosen labels (the top
    label's when none passes, which is then chosen alone: Label Studio needs a choice).
    """
    out = []
    for row in probs:
        if thresholds is None:
            best = int(row.argmax())
            chosen, score = [labels[best]], float(row[best])
        else:
            idx = [i for i, (p, t) in enumerate(zip(row, thresholds, strict=True)) if p >= t]
            idx = idx or [int(row.argmax())]
            chosen, score = [labels[i] for i in idx], float(np.mean([row[i] for i in idx]))
        result = {
            "from_name": config.from_name, "to_name": config.to_name, "type": "choices",
            "value": {"choices": chosen},
        }  # fmt: skip
        out.append({"model_version": model_version, "score": round(score, 6), "result": [result]})
    return out


def chosen_labels(annotation: dict[str, Any]) -> list[str] | None:
    """The choices of an annotation's ``choices`` result (None for a cancelled or empty one)."""
    if annotation.get("was_cancelled"):
        return None
    for item in annotation.get("result") or []:
        if item.get("type") == "choices":
            return [str(c) for c in item.get("value", {}).get("choices", [])] or None
    return None


def annotated_rows(tasks: Sequence[dict[str, Any]], field: str) -> list[tuple[str, list[str]]]:
    """``(text, labels)`` of each task's latest usable annotation (by update time, then id)."""
    rows = []
    for task in tasks:
        text = (task.get("data") or {}).get(field)
        usable = [a for a in task.get("annotations") or [] if chosen_labels(a)]
        if not isinstance(text, str) or not usable:
            continue
        latest = max(
            usable, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id", 0))
        )
        labels = chosen_labels(latest)
        assert labels is not None
        rows.append((text, labels))
    return rows


class LabelStudioClient:
    """A small client of Label Studio's REST API (tasks, predictions, export, projects).

    Example:
        >>> client = LabelStudioClient("http://127.0.0.1:8080", token)
        >>> client.project(3)["label_config"][:6]
        '<View>'
    """

    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)
        self._token = token
        self._auth: dict[str, str] | None = None

    def close(self) -> None:
        self._http.close()

    def _headers(self) -> dict[str, str]:
        if self._auth is None:
            if self._token.count(".") == 2:  # a personal access token (JWT refresh token)
                body = self._call("POST", "/api/token/refresh/", json={"refresh": self._token}, auth={})
                self._auth = {"Authorization": f"Bearer {body['access']}"}
            else:
                self._auth = {"Authorization": f"Token {self._token}"}
        return self._auth

    def _call(self, method: str, path: str, auth: dict[str, str] | None = None, **kwargs: Any) -> Any:
        import httpx

        headers = self._headers() if auth is None else auth
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise LabelStudioError(f"could not reach Label Studio: {exc}", where=self.url + path) from None
        if response.status_code >= 400:
            raise LabelStudioError(
                f"Label Studio answered {response.status_code}: {response.text[:300]}",
                where=f"{method} {self.url}{path}",
                hint="check the URL, the token (Account & Settings) and the project id",
            )
        return response.json() if response.content else None

    def project(self, project: int) -> dict[str, Any]:
        """The project (its ``label_config`` among others)."""
        result: dict[str, Any] = self._call("GET", f"/api/projects/{project}/")
        return result

    def tasks(self, project: int, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every task of ``project`` with its predictions, page by page."""
        page, seen = 1, 0
        while True:
            params = {"project": project, "page": page, "page_size": page_size, "fields": "all"}
            try:
                body = self._call("GET", "/api/tasks/", params=params)
            except LabelStudioError as exc:
                if "answered 404" in exc.message and page > 1:  # past the last page
                    return
                raise
            batch = body.get("tasks", []) if isinstance(body, dict) else body
            total = body.get("total") if isinstance(body, dict) else None
            yield from batch
            seen += len(batch)
            if not batch or (total is not None and seen >= total) or len(batch) < page_size:
                return
            page += 1

    def create_prediction(self, task: int, prediction: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/predictions`` for ``task`` (``result``, ``score``, ``model_version``)."""
        result: dict[str, Any] = self._call("POST", "/api/predictions/", json={"task": task, **prediction})
        return result

    def export(self, project: int) -> list[dict[str, Any]]:
        """Every annotated task of ``project`` with its annotations (JSON export)."""
        result: list[dict[str, Any]] = self._call(
            "GET", f"/api/projects/{project}/export", params={"exportType": "JSON"}
        )
        return result


def labels_from_label_studio(client: LabelStudioClient, project: int) -> NewLabels:
    """The project's annotations as new labels (each task's latest, non-cancelled annotation).

    Example:
        >>> len(labels_from_label_studio(LabelStudioClient(url, token), 3))
        20
    """
    config = parse_label_config(client.project(project)["label_config"])
    rows = annotated_rows(client.export(project), config.field)
    if not rows:
        raise DataError(
            "the project has no annotations yet", where=f"{client.url} project {project}",
            hint="annotate some tasks first",
        )  # fmt: skip
    return labels_from_rows(rows, f"Label Studio {client.url} project {project}")


def model_version_of(run: Any) -> str:
    """The version name Label Studio sees: ``<run name>-v<serving version>`` (changes on promotion).

    Example:
        >>> model_version_of("runs/trec-6")
        'trec-6-v2'
    """
    from classifine.loop.versions import run_root, serving_version

    root = run_root(run)
    return f"{root.name}-v{serving_version(root)}"


def _has_version(task: dict[str, Any], version: str) -> bool:
    for pred in task.get("predictions") or []:
        if isinstance(pred, dict) and pred.get("model_version") == version:
            return True
    versions = task.get("predictions_model_versions")
    return isinstance(versions, str) and version in [v.strip() for v in versions.split(",")]


@dataclass(frozen=True)
class PrelabelResult:
    """What a pre-labelling pass did."""

    model_version: str
    tasks: int
    predicted: int
    skipped: int  # tasks that already had a prediction of this model version


def prelabel(
    run: Any, client: LabelStudioClient, project: int, *, batch_size: int = 32, progress: bool = False
) -> PrelabelResult:
    """Pre-label every task of ``project`` that has no prediction from this model version.

    Predictions are posted one task at a time after each batch's forward pass, so a killed run
    loses at most one batch; running it again skips the tasks already done (resumable).

    Example:
        >>> prelabel("runs/trec-6", LabelStudioClient(url, token), 3).predicted
        50
    """
    from tqdm.auto import tqdm

    from classifine.inference.predictor import Classifier

    clf = Classifier.load(run)
    version = model_version_of(run)
    config = parse_label_config(client.project(project)["label_config"])
    check_labels(config, clf.labels, clf.multi_label)
    tasks = list(client.tasks(project))
    todo = [t for t in tasks if not _has_version(t, version)]
    thresholds = [float(t) for t in clf.thresholds] if clf.multi_label else None
    with tqdm(total=len(todo), desc="pre-labelling", unit="task", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            probs = clf.predict_proba(task_texts(chunk, config))
            for task, pred in zip(
                chunk, to_predictions(probs, clf.labels, thresholds, config, version), strict=True
            ):
                client.create_prediction(int(task["id"]), pred)
                bar.update(1)
    return PrelabelResult(version, len(tasks), len(todo), len(tasks) - len(todo))
