"""`{{ cookiecutter.project }}` command line: chat with the bot (one-shot or interactive){% if cookiecutter.http_api == "yes" %}, serve the HTTP API{% endif %},
score answers, and curate badly scored turns into the review inbox."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence

from {{ cookiecutter.package }}.bot import Answer, Bot
from {{ cookiecutter.package }}.errors import FileError, ProviderError, report_file_error
from {{ cookiecutter.package }}.feedback import INBOX, FeedbackError, curate, record, remember

EXIT_INTERRUPTED = 130
HISTORY_TURNS = 6  # earlier exchanges sent along in interactive chat, so follow-up questions make sense


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except FileError as exc:
        return report_file_error(exc)
    except (ProviderError, FeedbackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="{{ cookiecutter.project }}", description=__doc__)
    parser.add_argument("--config", help="path to bot.yaml (default: $BOT_CONFIG or ./bot.yaml)")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    chat = commands.add_parser("chat", help="ask one question, or chat interactively without one")
    chat.add_argument("question", nargs="*", help="the question; omit it for an interactive session")
    chat.add_argument("--json", action="store_true", help="print the whole answer record as JSON")
    chat.set_defaults(run=_chat)

    feedback = commands.add_parser("feedback", help="score an answer by its run_id (LangSmith, else feedback/)")
    feedback.add_argument("run_id", help="the run_id of the answer (printed by chat --json, returned by the API)")
    feedback.add_argument("--score", type=_score, required=True, help="1/up (helpful) to 0/down (unhelpful)")
    feedback.add_argument("--comment", help="what was wrong or right")
    feedback.set_defaults(run=_feedback)

    curate = commands.add_parser("curate", help=f"append badly scored turns to {INBOX} for review")
    curate.add_argument("--days", type=int, default=30, help="look back this many days (default 30)")
    curate.add_argument("--limit", type=int, default=200, help="at most this many turns (default 200)")
    curate.set_defaults(run=_curate)
{%- if cookiecutter.http_api == "yes" %}

    serve = commands.add_parser("serve", help="serve the HTTP API (POST /chat, GET /healthz)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=_serve)
{%- endif %}
    return parser


def _chat(args: argparse.Namespace) -> int:
    bot = Bot.from_config(args.config)
    question = " ".join(args.question).strip()
    if question:
        _ask(bot, question, args.json)
        return 0
    return _interactive(bot, args.json)


def _ask(bot: Bot, question: str, as_json: bool, history: list[dict[str, str]] | None = None) -> Answer:
    if as_json:
        answer = bot.answer(question, history)
        remember(answer, history)
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return answer
    streamed = _stream_to(sys.stdout)
    answer = bot.answer(question, history, on_token=streamed)
    remember(answer, history)
    print()
    print(format_sources(answer))
    where = "traced as run" if bot.tracer.enabled else "run"
    print(f"({where} {answer.run_id}: `{{ cookiecutter.project }} feedback {answer.run_id} --score up|down`)")
    return answer


def _interactive(bot: Bot, as_json: bool) -> int:
    print(f"Chatting with {bot.provider.name} model {bot.provider.model}. Empty line or Ctrl-D quits.", file=sys.stderr)
    _line_editing()
    history: list[dict[str, str]] = []
    while True:
        try:
            question = input("you> ").strip()
        except EOFError:
            print(file=sys.stderr)
            return 0
        if not question or question.lower() in {"exit", "quit"}:
            return 0
        answer = _ask(bot, question, as_json, history[-2 * HISTORY_TURNS :])
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
        print()


def _line_editing() -> None:
    """Arrow keys, Ctrl-R and the questions of earlier sessions at the `you>` prompt (where readline exists)."""
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input() still works
        return
    import atexit
    from pathlib import Path

    history = Path.home() / ".local/state/{{ cookiecutter.project }}/chat_history"
    try:
        history.parent.mkdir(parents=True, exist_ok=True)
        if history.is_file():
            readline.read_history_file(history)
    except OSError:
        return  # a read-only home: line editing without saved history
    readline.set_history_length(1000)
    atexit.register(_save_history, readline, history)


def _save_history(readline, path) -> None:  # the readline module and a Path
    with contextlib.suppress(OSError):  # a full disk must not turn a finished chat into a traceback
        readline.write_history_file(path)


def _feedback(args: argparse.Namespace) -> int:
    recorded = record(args.run_id, args.score, args.comment)
    where = "in LangSmith" if recorded.stored == "langsmith" else f"in {recorded.stored}/ (LangSmith is off)"
    print(f"recorded feedback {recorded.feedback_id} on run {args.run_id} {where}")
    return 0


def _curate(args: argparse.Namespace) -> int:
    curated = curate(days=args.days, limit=args.limit)
    source = "LangSmith" if curated.source == "langsmith" else f"{curated.source}/"
    print(
        f"{len(curated.added)} new case(s) in {INBOX} from {source}; {curated.known} already known"
        + (f": {', '.join(curated.added)}" if curated.added else "")
    )
    return 0


def _score(text: str) -> float:
    words = {"up": 1.0, "good": 1.0, "down": 0.0, "bad": 0.0}
    try:
        return words[text.lower()] if text.lower() in words else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number from 0 to 1, or up/down") from None


def format_sources(answer: Answer) -> str:
    lines = ["", "Sources:"] if answer.sources else ["", "Sources: none (no passage was relevant enough)"]
    for s in answer.sources:
        where = f"{s.title} > {s.heading}" if s.heading else s.title
        lines.append(f"  [{s.n}] {s.source}: {where}")
    note = f"; {answer.fallback_reason}" if answer.fallback_reason else ""
    lines.append(f"(answered by {answer.provider} model {answer.model} in {answer.latency_ms:.0f} ms{note})")
    return "\n".join(lines)


def _stream_to(stream) -> Callable[[str], None]:
    def write(piece: str) -> None:
        stream.write(piece)
        stream.flush()

    return write
{%- if cookiecutter.http_api == "yes" %}


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from {{ cookiecutter.package }}.api import create_app

    uvicorn.run(create_app(args.config), host=args.host, port=args.port)
    return 0
{%- endif %}
