"""Render the Jinja2 prompt templates under prompts/ into chat messages."""

from __future__ import annotations

from pathlib import Path

import jinja2

from {{ cookiecutter.package }}.errors import FileError
from {{ cookiecutter.package }}.retrieval import Passage

Message = dict[str, str]


class PromptRenderer:
    def __init__(self, template_path: Path, variables: dict[str, str]):
        # StrictUndefined: a misspelled variable is an error, not an empty string silently sent to the model.
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(template_path.parent),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
        )
        self.path = template_path
        try:
            self._template = env.get_template(template_path.name)
        except jinja2.TemplateSyntaxError as exc:
            raise FileError(template_path, exc.lineno, f"template syntax: {exc.message}") from None
        self._variables = variables

    def system(self, passages: list[Passage]) -> str:
        numbered = [
            {"n": n, "source": p.chunk.source, "title": p.chunk.title, "heading": p.chunk.heading, "text": p.chunk.text}
            for n, p in enumerate(passages, start=1)
        ]
        try:
            return self._template.render(passages=numbered, **self._variables).strip() + "\n"
        except jinja2.UndefinedError as exc:
            hint = "(define it under prompt.variables in bot.yaml)"
            raise FileError(self.path, None, f"template variable: {exc.message} {hint}") from None

    def messages(self, question: str, passages: list[Passage], history: list[Message] | None = None) -> list[Message]:
        system = {"role": "system", "content": self.system(passages)}
        return [system, *(history or []), {"role": "user", "content": question}]
