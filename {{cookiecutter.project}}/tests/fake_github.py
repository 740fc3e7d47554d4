"""A loopback stand-in for the GitHub REST endpoints the CI steps use, so the real client is tested over HTTP.

In-memory state (pulls, issue comments, releases and their assets), every request recorded, injectable faults.
Comments are served 2 per page whatever `per_page` asks, with GitHub's `Link: <...>; rel="next"` header, so
pagination is exercised with a handful of comments.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAGE_SIZE = 2


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message  # case-insensitive, as HTTP headers are
    body: bytes


@dataclass
class Fault:
    status: int
    message: str = "injected fault"


@dataclass
class Asset:
    name: str
    content_type: str
    data: bytes


@dataclass
class Release:
    id: int
    tag_name: str
    name: str
    body: str
    draft: bool
    prerelease: bool
    assets: list[Asset] = field(default_factory=list)


class FakeGitHub:
    def __init__(self, repo: str = "acme/support-bot", token: str | None = "ghs_fake-token"):
        self.repo, self.token = repo, token
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []  # each with "issue": the PR number
        self.releases: list[Release] = []
        self.requests: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)  # fast shutdown

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ test set-up and inspection

    def add_pull(self, number: int, head_sha: str) -> None:
        self.pulls[number] = {"number": number, "state": "open", "head": {"sha": head_sha, "ref": f"branch-{number}"}}

    def add_comment(self, issue: int, body: str, login: str = "alice", user_type: str = "User") -> dict[str, Any]:
        comment = {"id": next(self._ids), "issue": issue, "body": body, "user": {"login": login, "type": user_type}}
        self.comments.append(comment)
        return comment

    def fail_next(self, status: int, message: str = "injected fault", times: int = 1) -> None:
        self.faults.extend(Fault(status, message) for _ in range(times))

    def comments_on(self, issue: int) -> list[dict[str, Any]]:
        return [c for c in self.comments if c["issue"] == issue]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    # ------------------------------------------------------------ the endpoints

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any, dict]:
        repo = re.escape(self.repo)
        if match := re.fullmatch(rf"/repos/{repo}/pulls/(\d+)", path):
            pull = self.pulls.get(int(match[1]))
            return (200, pull, {}) if method == "GET" and pull else (404, {"message": "Not Found"}, {})
        if match := re.fullmatch(rf"/repos/{repo}/issues/(\d+)/comments", path):
            issue = int(match[1])
            if method == "GET":
                return self._page(path, issue, int(query.get("page", ["1"])[0]))
            comment = self.add_comment(issue, json.loads(body)["body"], "github-actions[bot]", "Bot")
            return 201, _public(comment), {}
        if method == "PATCH" and (match := re.fullmatch(rf"/repos/{repo}/issues/comments/(\d+)", path)):
            for comment in self.comments:
                if comment["id"] == int(match[1]):
                    comment["body"] = json.loads(body)["body"]
                    return 200, _public(comment), {}
            return 404, {"message": "Not Found"}, {}
        if method == "POST" and path == f"/repos/{self.repo}/pulls":
            number = max(self.pulls, default=0) + 1
            payload = json.loads(body)
            self.pulls[number] = {"number": number, "state": "open", "html_url": f"https://github.test/pull/{number}"}
            self.pulls[number].update(title=payload["title"], body=payload["body"], head={"ref": payload["head"]})
            self.pulls[number]["base"] = {"ref": payload["base"]}
            return 201, self.pulls[number], {}
        if method == "POST" and path == f"/repos/{self.repo}/releases":
            return self._create_release(json.loads(body))
        if method == "POST" and (match := re.fullmatch(rf"/uploads/repos/{repo}/releases/(\d+)/assets", path)):
            return self._upload(int(match[1]), query, body)
        return 404, {"message": "Not Found"}, {}

    def _page(self, path: str, issue: int, page: int) -> tuple[int, Any, dict]:
        comments = [_public(c) for c in self.comments_on(issue)]
        last = max(1, -(-len(comments) // PAGE_SIZE))
        headers = {}
        if page < last:
            link = f"{self.base_url}{path}?per_page=100&page="
            headers["Link"] = f'<{link}{page + 1}>; rel="next", <{link}{last}>; rel="last"'
        return 200, comments[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], headers

    def _create_release(self, payload: dict[str, Any]) -> tuple[int, Any, dict]:
        if any(r.tag_name == payload["tag_name"] for r in self.releases):
            return 422, {"message": "Validation Failed: tag_name already_exists"}, {}
        fields = (payload[k] for k in ("tag_name", "name", "body", "draft", "prerelease"))
        release = Release(next(self._ids), *fields)
        self.releases.append(release)
        upload = f"{self.base_url}/uploads/repos/{self.repo}/releases/{release.id}/assets" + "{?name,label}"
        html = f"{self.base_url}/{self.repo}/releases/tag/{release.tag_name}"
        return 201, {"id": release.id, "tag_name": release.tag_name, "upload_url": upload, "html_url": html}, {}

    def _upload(self, release_id: int, query: dict[str, list[str]], body: bytes) -> tuple[int, Any, dict]:
        release = next((r for r in self.releases if r.id == release_id), None)
        if release is None or "name" not in query:
            return 404 if release is None else 422, {"message": "Not Found or no name"}, {}
        content_type = self.requests[-1].headers.get("Content-Type", "")
        release.assets.append(Asset(query["name"][0], content_type, body))
        return 201, {"id": next(self._ids), "name": query["name"][0], "size": len(body), "state": "uploaded"}, {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake._lock:
                    fake.requests.append(Recorded(self.command, url.path, parse_qs(url.query), self.headers, body))
                    fault = fake.faults.popleft() if fake.faults else None
                    if fault:
                        status, payload, headers = fault.status, {"message": fault.message}, {}
                    elif fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                        status, payload, headers = 401, {"message": "Bad credentials"}, {}
                    else:
                        status, payload, headers = fake._route(self.command, url.path, parse_qs(url.query), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        return Handler


def _public(comment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in comment.items() if k != "issue"}
