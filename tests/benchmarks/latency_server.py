"""A loopback OpenAI-compatible chat server with a fixed latency per call, counting calls.

Run as its own process (`python -m tests.benchmarks.latency_server --port-file F`), so the engines being
timed never share a GIL with it. Each call sleeps L ± jitter, then answers by the workload's rule from the
last user message. `GET /stats` returns the call count; `POST /control` resets it and may change the latency.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.benchmarks.workload import answer


class LatencyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # every engine opens C connections at once; the default (5) drops some

    def __init__(self, latency_s: float, jitter_s: float, seed: int = 0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency_s, self.jitter_s = latency_s, jitter_s
        self.calls = 0
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def delay(self) -> float:
        with self._lock:
            self.calls += 1
            jitter = self._random.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0
        return max(0.0, self.latency_s + jitter)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client closing its keep-alive connection is not news


class _Handler(BaseHTTPRequestHandler):
    server: LatencyServer
    protocol_version = "HTTP/1.1"  # keep-alive, as every OpenAI client expects
    # Headers and body go out as two writes: with Nagle's algorithm on, the body then waits for the client's
    # delayed ACK (up to 40 ms per call), which would be timed as model latency.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/stats":
            self._json({"calls": self.server.calls})
        else:
            self._json({"error": "not found"}, status=404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path.rstrip("/") == "/control":
            self.server.calls = 0
            if "latency_ms" in body:
                self.server.latency_s = body["latency_ms"] / 1000
            self._json({"calls": 0, "latency_ms": self.server.latency_s * 1000})
        elif self.path.endswith("/chat/completions"):
            time.sleep(self.server.delay())
            self._json(_completion(body))
        else:
            self._json({"error": {"message": f"no such endpoint: {self.path}"}}, status=404)

    def _json(self, payload: dict, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _completion(body: dict) -> dict:
    model = body.get("model", "bench")
    question = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
    text = answer(question if isinstance(question, str) else json.dumps(question), model)
    prompt_tokens = sum(len(str(m.get("content", ""))) // 4 for m in body.get("messages", []))
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 12, "total_tokens": prompt_tokens + 12},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--port-file", type=Path, required=True, help="the server's base URL is written here")
    args = parser.parse_args()
    server = LatencyServer(args.latency_ms / 1000, args.jitter_ms / 1000)
    args.port_file.write_text(server.url)
    server.serve_forever()


if __name__ == "__main__":
    main()
