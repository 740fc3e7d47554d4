"""A small GitHub REST client on urllib: only the calls the workflows need, no extra dependency.

Configured by the variables GitHub Actions sets: GITHUB_API_URL (default https://api.github.com),
GITHUB_REPOSITORY ("owner/name") and GITHUB_TOKEN. The token is sent only as an Authorization header that
urllib never forwards on a redirect, and it never appears in an error: errors name the method, the path,
the HTTP status and the API's own message (with the token cut out, should a server ever echo it).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

from evalharness.ci.errors import BadInput, InfraError

DEFAULT_API_URL = "https://api.github.com"
TIMEOUT_S = 30.0
PER_PAGE = 100
MAX_PAGES = 100  # 10,000 comments: a bound, so a server that always says "next" cannot loop us forever
API_VERSION = "2022-11-28"
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class GitHubError(InfraError):
    """A failed or unreachable API call (exit 3). `status` is None when there was no HTTP answer."""

    def __init__(self, method: str, path: str, status: int | None, message: str):
        self.method, self.path, self.status, self.message = method, path, status, message
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"GitHub API {method} {path} failed ({where}): {message}")


class GitHubAPI:
    def __init__(
        self,
        repo: str | None = None,
        token: str | None = None,
        base_url: str | None = None,
        timeout: float = TIMEOUT_S,
    ):
        self.repo = repo or os.environ.get("GITHUB_REPOSITORY", "")
        if not _REPO.fullmatch(self.repo):
            raise BadInput(f"GITHUB_REPOSITORY must be 'owner/name', got {self.repo!r}")
        self.base_url = (base_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self._token = token if token is not None else os.environ.get("GITHUB_TOKEN", "")
        self.timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"GitHubAPI(repo={self.repo!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------ endpoints

    def get_pull(self, number: int) -> dict[str, Any]:
        return self._json("GET", f"/repos/{self.repo}/pulls/{int(number)}")

    def list_issue_comments(self, number: int) -> list[dict[str, Any]]:
        """All comments of an issue or PR, following the `Link: <...>; rel="next"` pages."""
        path = f"/repos/{self.repo}/issues/{int(number)}/comments"
        url: str | None = f"{self.base_url}{path}?per_page={PER_PAGE}&page=1"
        comments: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return comments
            if not url.startswith(self.base_url + "/"):  # the token goes only where the API lives
                raise GitHubError("GET", path, None, "pagination link points outside the API")
            page, headers = self._request("GET", url, path)
            if not isinstance(page, list):
                raise GitHubError("GET", path, 200, "expected a list of comments")
            comments.extend(page)
            match = _NEXT.search(headers.get("Link") or "")
            url = match.group(1) if match else None
        raise GitHubError("GET", path, None, f"more than {MAX_PAGES} pages of comments")

    def create_issue_comment(self, number: int, body: str) -> dict[str, Any]:
        return self._json("POST", f"/repos/{self.repo}/issues/{int(number)}/comments", {"body": body})

    def update_issue_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        return self._json("PATCH", f"/repos/{self.repo}/issues/comments/{int(comment_id)}", {"body": body})

    def create_pull(self, head: str, base: str, title: str, body: str) -> dict[str, Any]:
        payload = {"head": head, "base": base, "title": title, "body": body}
        return self._json("POST", f"/repos/{self.repo}/pulls", payload)

    def create_release(
        self, tag: str, name: str, body: str, draft: bool = False, prerelease: bool = False
    ) -> dict[str, Any]:
        payload = {"tag_name": tag, "name": name, "body": body, "draft": draft, "prerelease": prerelease}
        return self._json("POST", f"/repos/{self.repo}/releases", payload)

    def upload_release_asset(
        self, release: dict[str, Any], path: Path, name: str, content_type: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """POST the file to the release's `upload_url` (an RFC 6570 template such as `.../assets{?name,label}`)."""
        template = str(release.get("upload_url") or "")
        base = template.split("{", 1)[0]
        if not base.startswith(("https://", "http://")):
            raise GitHubError("POST", "upload_url", None, f"release has no usable upload_url ({template[:80]!r})")
        url = f"{base}?{urllib.parse.urlencode({'name': name})}"
        shown = f"{urllib.parse.urlsplit(base).path}?name={name}"
        data = Path(path).read_bytes()
        result, _ = self._request("POST", url, shown, data, content_type)
        return result

    # ------------------------------------------------------------ transport

    def _json(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        result, _ = self._request(method, self.base_url + path, path, data, "application/json")
        return result

    def _request(
        self, method: str, url: str, shown: str, data: bytes | None = None, content_type: str | None = None
    ) -> tuple[Any, Message]:
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", API_VERSION)
        request.add_header("User-Agent", "evalharness-ci")
        if data is not None and content_type:
            request.add_header("Content-Type", content_type)
        if self._token:
            request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                headers = response.headers  # case-insensitive lookups
        except urllib.error.HTTPError as exc:
            raise GitHubError(method, shown, exc.code, self._clean(_api_message(exc))) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # refused, DNS, TLS, timeout
            reason = getattr(exc, "reason", None) or exc
            raise GitHubError(method, shown, None, self._clean(f"unreachable: {reason}")) from None
        if not raw:
            return None, headers
        try:
            return json.loads(raw), headers
        except ValueError:
            raise GitHubError(method, shown, 200, "the response is not JSON") from None

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _api_message(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read(4096)
        message = json.loads(body).get("message")
    except (ValueError, AttributeError, OSError):
        message = None
    return str(message)[:300] if message else str(error.reason)
