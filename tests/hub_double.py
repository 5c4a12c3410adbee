"""A local stand-in for the Hugging Face Hub's upload API, for tests (the Hub is unreachable here).

A real HTTP server (``http.server`` in a thread) speaking the endpoints ``huggingface_hub`` calls
to create a repository and commit files to it: ``POST /api/repos/create``, ``POST /api/validate-yaml``
(the model card's metadata), ``POST /api/models/{repo}/preupload/{revision}`` and
``POST /api/models/{repo}/commit/{revision}`` (NDJSON). It checks the bearer token and stores what
arrives. It answers every preupload with ``uploadMode: regular``, so files travel inside the commit
(base64): the Hub would send large files through its LFS/Xet storage service instead, which this
double does not imitate. Any other request
is answered 404 and recorded in ``unknown``, so a test can assert the client needed nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class HubState:
    token: str
    url: str = ""
    repos: dict[str, Repo] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def _handler(state: HubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state.unknown.append(f"GET {self.path}")
            self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?")[0]
            state.requests.append(f"POST {path}")
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                self._send(401, {"error": "Invalid credentials in Authorization header"})
                return
            parts = path.strip("/").split("/")
            if path == "/api/repos/create":
                self._create(json.loads(body))
            elif path == "/api/validate-yaml":
                self._validate(json.loads(body)["content"])
            elif len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
                files = json.loads(body)["files"]
                modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                self._send(200, {"files": modes, "commitOid": None})
            elif len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "commit":
                self._commit(f"{parts[2]}/{parts[3]}", body)
            else:
                state.unknown.append(f"POST {path}")
                self._send(404, {"error": "not found"})

        def _create(self, request: dict[str, Any]) -> None:
            repo_id = f"{request.get('organization')}/{request['name']}"
            if repo_id in state.repos:
                self._send(
                    409, {"error": "You already created this model repo", "url": f"{state.url}/{repo_id}"}
                )
                return
            private = request.get("visibility") == "private" or bool(request.get("private"))
            state.repos[repo_id] = Repo(private=private)
            self._send(200, {"url": f"{state.url}/{repo_id}", "name": repo_id, "id": repo_id})

        def _validate(self, content: str) -> None:
            """The model card's YAML front matter must be a mapping with string library and task tags."""
            import yaml

            head = content.split("---\n")[1] if content.startswith("---\n") else ""
            meta = yaml.safe_load(head) if head else None
            if not isinstance(meta, dict):
                self._send(200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata"}]})
                return
            bad = [k for k in ("library_name", "pipeline_tag") if not isinstance(meta.get(k, ""), str)]
            if bad or not isinstance(meta.get("tags", []), list):
                self._send(400, {"errors": [{"message": f"invalid metadata: {bad or ['tags']}"}]})
                return
            self._send(200, {"errors": [], "warnings": []})

        def _commit(self, repo_id: str, body: bytes) -> None:
            repo = state.repos.get(repo_id)
            if repo is None:
                self._send(404, {"error": "Repository not found"})
                return
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header = next(x["value"] for x in lines if x["key"] == "header")
            for item in lines:
                if item["key"] == "file":
                    value = item["value"]
                    repo.files[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] != "header":
                    self._send(400, {"error": f"this double stores regular files only, got {item['key']}"})
                    return
            oid = hashlib.sha1(body).hexdigest()
            repo.commits.append({"oid": oid, "summary": header["summary"]})
            self._send(200, {"commitUrl": f"{state.url}/{repo_id}/commit/{oid}", "commitOid": oid})

    return Handler


@contextmanager
def hub_double(token: str) -> Iterator[HubState]:
    """Run the double on a free loopback port; yields its state (``state.url`` is the endpoint)."""
    state = HubState(token=token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
