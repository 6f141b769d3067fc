"""Interactive question loop: line editing and persistent history (prompt_toolkit), a few slash
commands, colour when the terminal has it. Works with piped input too (one question per line)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .errors import QABotError
from .render import render_answer_text, render_sources_text, text_width, use_color

HELP = """Type a question and press Enter. Commands:
  /k N       show N passages per answer (now {k})
  /sources   list the indexed articles
  /reload    pick up a re-built index
  /help      this help
  /quit      leave (or Ctrl-D)"""

HISTORY_FILE = Path.home() / ".qa_bot_history"


def handle_line(service, line: str, state: dict, color: bool) -> str | None:
    """The output for one input line; None means quit. Pure, so tests need no terminal."""
    line = line.strip()
    if not line:
        return ""
    if line.startswith("/"):
        cmd, _, arg = line[1:].partition(" ")
        cmd = cmd.lower()
        if cmd in ("quit", "exit", "q"):
            return None
        if cmd in ("help", "h", "?"):
            return HELP.format(k=state["k"])
        if cmd == "k":
            try:
                value = int(arg)
                if not 1 <= value <= 50:
                    raise ValueError
            except ValueError:
                return "Usage: /k N  (N from 1 to 50)"
            state["k"] = value
            return f"Showing {value} passage(s) per answer."
        if cmd == "sources":
            return render_sources_text(service.sources(), service.info())
        if cmd == "reload":
            return "Loaded the new index." if service.reload_if_changed() else "The index is unchanged."
        return f"Unknown command /{cmd}. Type /help for the list."
    try:
        return render_answer_text(service.search(line, state["k"]), color=color, width=text_width())
    except QABotError as exc:
        return f"Error: {exc}"


def run_repl(service, k: int, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and stdout.isatty()
    color = interactive and use_color(stdout)
    state = {"k": k}
    info = service.info()
    stdout.write(f"qa-bot: {info.documents} article(s), {info.passages} passages. "
                 "Ask a question; /help for commands, Ctrl-D to quit.\n")
    read: Callable[[], str]
    if interactive:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory

        try:
            history = FileHistory(str(HISTORY_FILE))
        except OSError:
            history = None
        session: PromptSession = PromptSession(history=history)

        def read() -> str:
            return session.prompt("? ")
    else:
        def read() -> str:
            line = stdin.readline()
            if not line:
                raise EOFError
            return line

    while True:
        try:
            line = read()
        except EOFError:
            break
        except KeyboardInterrupt:
            continue
        out = handle_line(service, line, state, color=color)
        if out is None:
            break
        if out:
            stdout.write(out + "\n\n")
            stdout.flush()
