"""The knowledge base: Markdown documents split into section-aware chunks for retrieval."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from {{ cookiecutter.package }}.errors import FileError

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Chunk:
    """A passage small enough to retrieve and quote, that knows where it came from."""

    id: str  # "<file>#<section-slug>-<n>", stable across runs
    source: str  # file name relative to the knowledge folder, e.g. "billing.md"
    title: str  # the document's "# Title"
    heading: str  # the "## Section" the passage sits in ("" before the first section)
    text: str


def load_chunks(folder: Path, chunk_words: int, overlap: int) -> list[Chunk]:
    """Every *.md file below `folder`, in a stable order, cut into chunks that never cross a section."""
    files = sorted(p for p in folder.rglob("*.md") if p.is_file())
    if not files:
        raise FileError(folder, None, "the knowledge folder has no *.md documents")
    chunks: list[Chunk] = []
    for path in files:
        source = path.relative_to(folder).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise FileError(path, None, f"not UTF-8 text ({exc.reason})") from None
        chunks.extend(chunk_document(source, text, chunk_words, overlap))
    return chunks


def chunk_document(source: str, markdown: str, chunk_words: int, overlap: int) -> list[Chunk]:
    """One Markdown document's chunks; `source` names it (a file name relative to the knowledge folder)."""
    default_title = Path(source).stem.replace("-", " ").title()
    title, sections = split_sections(markdown, default_title=default_title)
    return [
        Chunk(f"{source}#{_slug(heading or 'intro')}-{n}", source, title, heading, piece)
        for heading, body in sections
        for n, piece in enumerate(_windows(body, chunk_words, overlap))
    ]


def split_sections(markdown: str, default_title: str) -> tuple[str, list[tuple[str, str]]]:
    """Return the "# Title" and (heading, body) pairs for each lower-level section with text."""
    title = default_title
    heading = ""
    body: list[str] = []
    sections: list[tuple[str, str]] = []

    def flush() -> None:
        text = "\n".join(body).strip()
        if text:
            sections.append((heading, text))
        body.clear()

    for line in markdown.splitlines():
        match = _HEADING.match(line)
        if match and len(match.group(1)) == 1 and title == default_title and not sections and not body:
            title = match.group(2)
        elif match:
            flush()
            heading = match.group(2)
        else:
            body.append(line)
    flush()
    return title, sections


def _windows(body: str, size: int, overlap: int) -> list[str]:
    """Cut a section into windows of about `size` words, preferring to break between lines."""
    lines: list[str] = []
    for line in body.splitlines():  # a long one-line paragraph is cut so no window grows unbounded
        words = line.split()
        if len(words) > size:
            lines.extend(" ".join(words[i : i + size]) for i in range(0, len(words), size))
        else:
            lines.append(line)
    windows: list[str] = []
    current: list[str] = []
    count = 0
    for line in lines:
        words = len(line.split())
        if current and count + words > size:
            windows.append("\n".join(current).strip())
            current, count = _tail(current, overlap)
        current.append(line)
        count += words
    if current and "\n".join(current).strip():
        windows.append("\n".join(current).strip())
    return [w for w in windows if w]


def _tail(lines: list[str], overlap: int) -> tuple[list[str], int]:
    """The last whole lines worth at most `overlap` words, carried into the next window for context."""
    kept: list[str] = []
    count = 0
    for line in reversed(lines):
        words = len(line.split())
        if count + words > overlap:
            break
        kept.insert(0, line)
        count += words
    return kept, count


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
