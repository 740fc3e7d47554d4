"""A loopback stand-in for the LangSmith API: the real `langsmith` SDK talks to it over HTTP.

It serves the endpoints the SDK uses for tracing (`/info`, `/runs/multipart`, `/runs/batch`), datasets,
examples, experiments (sessions), feedback and run queries, and records every request. `mode` injects
outages: "503" answers everything but /info with 503, "hang" never answers. `query_backend` is which run
store the instance says it has: "clickhouse" (an older instance: runs are queried with list_runs) or
"smithdb" (the new store: only the v2 runs query API answers, as on instances where list_runs is gone).
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TENANT = "00000000-0000-4000-8000-000000000001"
# /info must carry the whole batch_ingest_config: the SDK's tracing thread reads every key, and a partial one
# crashes it (nothing is sent, and flush() waits forever).
INFO = {
    "version": "0.10.0",
    "batch_ingest_config": {
        "use_multipart_endpoint": True,
        "size_limit": 100,
        "size_limit_bytes": 20_971_520,
        "scale_up_qsize_trigger": 200,
        "scale_up_nthreads_limit": 4,
        "scale_down_nempty_trigger": 4,
    },
    "instance_flags": {"zstd_compression_enabled": False, "dataset_examples_multipart_enabled": False},
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # the SDK sends UTC, sometimes naive


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out reset their connections: expected here


class FakeLangSmith:
    def __init__(self, mode: str = "ok", query_backend: str = "clickhouse"):
        self.mode = mode
        self.query_backend = query_backend
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.runs: dict[str, dict[str, Any]] = {}  # run id -> the run, posts and patches merged
        self.feedback: list[dict[str, Any]] = []
        self.datasets: dict[str, dict[str, Any]] = {}
        self.examples: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeLangSmith:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def env(self, api_key: str = "lsv2_pt_fake0000000000000000000000000000_0000000000") -> dict[str, str]:
        return {"LANGSMITH_ENDPOINT": self.url, "LANGSMITH_API_KEY": api_key}

    def wait_for_runs(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The runs, once at least `count` have arrived with their end time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = [r for r in self.runs.values() if r.get("end_time")]
            if len(ended) >= count:
                return list(self.runs.values())
            time.sleep(0.05)
        raise AssertionError(f"expected {count} finished runs, got {len(self.runs)}: {self.requests}")

    def calls(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p == path)

    # --- the API -----------------------------------------------------------------------------------------
    def _merge_run(self, run_id: str, fields: dict[str, Any]) -> None:
        with self.lock:
            run = self.runs.setdefault(run_id, {"id": run_id})
            run.update({k: v for k, v in fields.items() if v is not None})
            name = run.get("session_name")
            if name and not any(s["name"] == name for s in self.sessions.values()):
                self._new_session({"name": name})

    def _new_session(self, body: dict[str, Any]) -> dict[str, Any]:
        session = {
            "id": str(uuid.uuid4()),
            "reference_dataset_id": None,
            **body,
            "tenant_id": TENANT,
            "start_time": _now(),
        }
        self.sessions[session["id"]] = session
        return session

    def _ingest_multipart(self, content_type: str, body: bytes) -> None:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            kind, run_id, *field = name.split(".")  # post.<id>, patch.<id>, post.<id>.inputs|outputs|extra
            payload = json.loads(part.get_payload(decode=True))
            if kind in ("post", "patch"):
                self._merge_run(run_id, {field[0]: payload} if field else payload)
            elif kind == "feedback":
                self.feedback.append(payload)

    def _query_runs(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The part of the run filter language that `curate` uses: feedback key equals, score below."""
        runs = list(self.runs.values())
        if body.get("session"):
            names = {self.sessions[s]["name"] for s in body["session"] if s in self.sessions}
            runs = [r for r in runs if r.get("session_name") in names or r.get("session_id") in body["session"]]
        if body.get("is_root"):
            runs = [r for r in runs if not r.get("parent_run_id")]
        text = body.get("filter") or ""
        key = re.search(r'eq\(feedback_key, "([^"]+)"\)', text)
        below = re.search(r"lt\(feedback_score, ([\d.]+)\)", text)
        if key or below:

            def matches(run: dict[str, Any]) -> bool:
                return any(
                    f["run_id"] == run["id"]
                    and (not key or f["key"] == key.group(1))
                    and (not below or (f.get("score") is not None and f["score"] < float(below.group(1))))
                    for f in self.feedback
                )

            runs = [r for r in runs if matches(r)]
        return [{"trace_id": r["id"], "start_time": _now(), "run_type": "chain", "name": "?", **r} for r in runs]

    def _info(self) -> dict[str, Any]:
        if self.query_backend != "smithdb":
            return INFO
        flags = {**INFO["instance_flags"], "ch_query_enabled": False, "sdb_query_enabled": True}
        return {**INFO, "version": "0.16.0", "instance_flags": flags}

    def _query_runs_v2(self, body: dict[str, Any]) -> dict[str, Any]:
        """The v2 query: project ids, a start-time floor, the fields asked for, pages joined by a cursor."""
        since = _time(body["min_start_time"])
        runs = self._query_runs({**body, "session": body["project_ids"]})
        found = [run for run in runs if _time(run["start_time"]) >= since]
        start, size = int(body.get("cursor") or 0), int(body.get("page_size") or 100)
        fields = [name.lower() for name in body.get("selects") or ["ID"]]
        page = [{name: run.get(name) for name in fields} for run in found[start : start + size]]
        more = start + size < len(found)
        return {"items": page, "next_cursor": str(start + size) if more else None}

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes):
        def one(name: str) -> str | None:
            return (query.get(name) or [None])[0]

        if path == "/info" and self.mode != "503":
            return 200, self._info()
        if self.mode == "503":  # /info too: the SDK then falls back to its defaults (synchronous feedback)
            return 503, {"detail": "service unavailable"}
        if self.mode == "hang":
            time.sleep(60)
            return 503, {}
        if path == "/runs/multipart" and method == "POST":
            self._ingest_multipart(headers["Content-Type"], body)
            return 202, {}
        if path == "/runs/batch" and method == "POST":
            batch = json.loads(body)
            for run in batch.get("post", []) + batch.get("patch", []):
                self._merge_run(run["id"], run)
            return 202, {}
        if path == "/runs/query" and method == "POST":
            if self.query_backend == "smithdb":
                return 400, {"detail": "run queries on this instance go through /api/v2/runs/query"}
            return 200, {"runs": self._query_runs(json.loads(body)), "cursors": {"next": None}}
        if path == "/api/v2/runs/query" and method == "POST" and self.query_backend == "smithdb":
            return 200, self._query_runs_v2(json.loads(body))
        if path == "/feedback" and method == "POST":
            feedback = json.loads(body)
            self.feedback.append({"trace_id": feedback.get("run_id"), **feedback})
            return 200, {**self.feedback[-1], "created_at": _now(), "modified_at": _now()}
        if path == "/feedback" and method == "GET":
            runs, keys = set(query.get("run", [])), set(query.get("key", []))
            found = [f for f in self.feedback if (not runs or f["run_id"] in runs) and (not keys or f["key"] in keys)]
            return 200, found
        if path == "/datasets" and method == "POST":
            if any(d["name"] == json.loads(body)["name"] for d in self.datasets.values()):
                return 409, {"detail": "a dataset with this name already exists"}
            dataset = {"id": str(uuid.uuid4()), **json.loads(body), "created_at": _now(), "tenant_id": TENANT}
            self.datasets[dataset["id"]] = dataset
            return 200, dataset
        if path == "/datasets" and method == "GET":
            return 200, [d for d in self.datasets.values() if one("name") in (None, d["name"])]
        if path == "/examples/bulk" and method == "POST":
            made = []
            for example in json.loads(body):
                example = {"id": str(uuid.uuid4()), **example, "created_at": _now()}
                self.examples[example["id"]] = example
                made.append(example)
            return 200, made
        if path == "/examples/bulk" and method == "PATCH":
            for update in json.loads(body):
                self.examples[update["id"]].update({k: v for k, v in update.items() if v is not None})
            return 200, {}
        if path == "/examples" and method == "GET":
            found = [e for e in self.examples.values() if one("dataset") in (None, e["dataset_id"])]
            offset, limit = int(one("offset") or 0), int(one("limit") or 100)
            return 200, found[offset : offset + limit]
        if path == "/sessions" and method == "POST":
            session = json.loads(body)
            if any(s["name"] == session["name"] for s in self.sessions.values()):
                return 409, {"detail": "a session with this name already exists"}
            return 200, self._new_session(session)
        if path == "/sessions" and method == "GET":
            return 200, [s for s in self.sessions.values() if one("name") in (None, s["name"])]
        if path.startswith("/sessions/") and method in ("GET", "PATCH"):
            session = self.sessions.get(path.split("/")[2])
            if session is None:
                return 404, {"detail": "not found"}
            if method == "PATCH":
                session.update({k: v for k, v in json.loads(body).items() if v is not None})
            return 200, session
        return 404, {"detail": f"the stand-in does not serve {method} {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake.lock:
                    fake.requests.append((method, parts.path))
                status, payload = fake._route(method, parts.path, parse_qs(parts.query), self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler
