"""A loopback OpenAI-compatible server for tests: the real `openai` SDK talks to it over HTTP.

Replies are scripted per request (text, HTTP faults with headers, hangs); the default reply is computed
from the request, so a test can also serve many calls. Every request body is recorded.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Text:
    content: str
    model: str | None = None  # defaults to the requested model
    delay_s: float = 0.0


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "injected fault"


@dataclass
class Hang:
    seconds: float = 30.0  # bounded, so a forgotten hang cannot outlive the test run


@dataclass
class Raw:
    """Bytes sent as a 200 answer's body: malformed JSON, or (with `promise` > len(body)) a body that stops
    short of its Content-Length and closes: the connection cut mid-answer."""

    body: bytes
    promise: int | None = None


Action = Text | Fault | Hang | Raw


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must not block shutdown

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gives up (timeout, retry) resets its connection: expected here, and printing it
        # would pollute the stderr that tests assert on.
        pass


def echo_last_user_message(body: dict) -> Action:
    return Text(f"echo: {body['messages'][-1]['content']}")


class FakeOpenAI:
    def __init__(self, default: Callable[[dict], Action] = echo_last_user_message):
        self.default = default
        self.script: deque[Action] = deque()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def push(self, *actions: Action) -> None:
        """Queue replies for the next requests, in order; after them the default reply is used."""
        self.script.extend(actions)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_action(self, body: dict) -> Action:
        with self._lock:
            self.requests.append(body)
            return self.script.popleft() if self.script else self.default(body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                action = fake._next_action(body)
                if isinstance(action, Hang):
                    time.sleep(action.seconds)
                    return
                if isinstance(action, Raw):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(action.promise or len(action.body)))
                    self.end_headers()
                    self.wfile.write(action.body)
                    if action.promise:
                        self.close_connection = True
                    return
                if isinstance(action, Fault):
                    error = {"error": {"message": action.message, "type": "server_error", "code": None}}
                    self._json(action.status, error, action.headers)
                    return
                time.sleep(action.delay_s)
                model = action.model or body.get("model", "fake-model")
                if body.get("stream"):
                    self._stream(action.content, model, body)
                else:
                    self._json(200, _completion(action.content, model, body))

            def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, content: str, model: str, body: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                words = content.split(" ")
                pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
                for piece in pieces:
                    self._event(_chunk(model, {"content": piece}, None))
                self._event(_chunk(model, {}, "stop"))
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage_chunk = _chunk(model, None, None)
                    usage_chunk["usage"] = _usage(body, content)
                    self._event(usage_chunk)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, payload: dict) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        return Handler


def _usage(body: dict, content: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(content.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(content: str, model: str, body: dict) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": _usage(body, content),
    }


def _chunk(model: str, delta: dict | None, finish: str | None) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }


def judge_reply(score: float = 8) -> Callable[[dict], Action]:
    """A stand-in judge: one JSON object that satisfies every deepeval judge step (GEval's score on a 0-10
    scale, relevancy statements and verdicts, faithfulness truths, claims and verdicts, reasons)."""
    payload = {
        "reason": "stand-in judge",
        "score": score,
        "steps": ["check the facts"],
        "statements": ["the answer states the fact"],
        "truths": ["the context states the fact"],
        "claims": ["the answer claims the fact"],
        "verdicts": [{"verdict": "yes", "reason": None}],
    }
    return lambda body: Text(json.dumps(payload))


def rule_following_model(guard: str) -> Callable[[dict], Action]:
    """A stand-in chat model whose safety comes only from its system prompt, as a weakly aligned model's does.

    When the system prompt contains `guard` (the rule that text in passages and questions is data, not
    instructions), it declines anything but help-center questions. Without that rule it does what the text in
    front of it says: it plays along with the user's message (repeating it), follows instructions in the
    passages (repeating them), and shows its whole prompt, canary included, to whoever asks for it.
    """

    def reply(body: dict) -> Action:
        system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
        if guard in system:
            return Text("I don't know based on the help center; I can only answer questions about the product.")
        question = body["messages"][-1]["content"]
        passages = system.partition("Passages:")[2].strip()
        asked_for_prompt = re.search(r"instructions|prompt|above|configuration|confidential", question + passages)
        shown = system if asked_for_prompt else passages
        return Text(f"Sure! You said: {question}\nHere is what I was given:\n{shown}")

    return reply


def citing_model(instruction: str) -> Callable[[dict], Action]:
    """A stand-in chat model that quotes the first retrieved passage, and cites it as [1] only while its
    system prompt asks for citations (contains `instruction`): what a model does when that rule is removed."""

    def reply(body: dict) -> Action:
        system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
        passages = re.split(r"^\[\d+\] [^\n]*\n", system.partition("Passages:")[2], flags=re.MULTILINE)[1:]
        if not passages:
            return Text("I don't know based on the help center; please contact support.")
        quoted = " ".join(passages[0].split())
        return Text(f"{quoted} [1]" if instruction in system else quoted)

    return reply
