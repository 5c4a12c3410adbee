"""A recorded-contract double of Ollama's ``/api/chat`` and OpenAI's ``/v1/chat/completions``.

A threaded HTTP server on 127.0.0.1 that answers with the request/response shapes both APIs
document (see PROTOCOLS.md), because no real Ollama or OpenAI server can run in the default test
run (``make test-llamacpp`` covers a real llama.cpp server). Tests script failures (404, 429,
5xx, 400, 401, slow answers) through ``script`` and pick the answer rule through ``rule``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, Any, dict[str, str], float]  # status, body (dict/str), headers, delay seconds
Rule = Callable[[str], str]  # text -> the label the server answers


def prompt_text(body: dict[str, Any]) -> str:
    """The text being labelled: what follows the last 'Text:' of the user message."""
    return str(body["messages"][-1]["content"]).rsplit("Text:", 1)[-1]


def spam_rule(text: str) -> str:
    """The default answer rule: 'spam' when the text mentions a prize."""
    return "spam" if "prize" in text else "ham"


def _logprobs(label: str) -> list[dict[str, Any]]:
    """Tokens of '{"label":"spam"}' with the first label token at p=0.9 and the rest certain."""
    first, rest = ("sp", "am") if label == "spam" else ("ham", "")
    other = "ham" if label == "spam" else "sp"
    tokens = [('{"', 0.0), ("label", 0.0), ('":"', 0.0), (first, math.log(0.9))]
    tokens += [(rest, 0.0)] if rest else []
    tokens += [('"}', 0.0)]
    out = [{"token": t, "logprob": lp, "top_logprobs": [{"token": t, "logprob": lp}]} for t, lp in tokens]
    out[3]["top_logprobs"].append({"token": other, "logprob": math.log(0.1)})
    return out


def ollama_answer(body: dict[str, Any], with_logprobs: bool = True, rule: Rule = spam_rule) -> dict[str, Any]:
    label = rule(prompt_text(body))
    reply: dict[str, Any] = {
        "model": body["model"],
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": json.dumps({"label": label})},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 42,
        "eval_count": 6,
    }
    if with_logprobs and body.get("logprobs"):
        reply["logprobs"] = _logprobs(label)
    return reply


def openai_answer(body: dict[str, Any], with_logprobs: bool = True, rule: Rule = spam_rule) -> dict[str, Any]:
    label = rule(prompt_text(body))
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": json.dumps({"label": label})},
        "finish_reason": "stop",
    }
    if with_logprobs and body.get("logprobs"):
        choice["logprobs"] = {"content": _logprobs(label)}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [choice],
        "usage": {"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46},
    }


class ContractServer:
    """A threaded HTTP server on 127.0.0.1 that records requests and plays scripted replies first."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Reply] = []
        self.api_key: str | None = None
        self.logprobs = True
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self.rule: Rule = spam_rule
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.handle(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def _default(self, path: str, body: dict[str, Any], headers: Any) -> Reply:
        if path == "/api/chat":
            return 200, ollama_answer(body, self.logprobs, self.rule), {}, self.delay
        if path == "/v1/chat/completions":
            if self.api_key and headers.get("Authorization") != f"Bearer {self.api_key}":
                # Some servers echo the key they were sent: the client must never repeat this body.
                sent = headers.get("Authorization", "")
                err = {"error": {"message": f"Incorrect API key provided: {sent}", "type": "invalid_request"}}
                return 401, err, {}, 0.0
            return 200, openai_answer(body, self.logprobs, self.rule), {}, self.delay
        return 404, {"error": f"no route {path}"}, {}, 0.0

    def handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append({"path": h.path, "headers": dict(h.headers), "body": body})
            reply = self.script.pop(0) if self.script else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            status, payload, headers, delay = reply or self._default(h.path, body, h.headers)
            time.sleep(delay)
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            try:
                h.send_response(status)
                h.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                for key, value in headers.items():
                    h.send_header(key, value)
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)
        finally:
            with self._lock:
                self.in_flight -= 1

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
