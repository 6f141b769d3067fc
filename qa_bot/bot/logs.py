"""Logging for the bot: one format, and the bot token (and webhook secret) redacted from every record.

httpx logs each request URL, and Bot API URLs contain the token; exceptions may quote it too. A log
record factory redacts the message, its arguments and any traceback text before any handler sees it,
so even handlers added later (pytest's caplog, a syslog handler) never receive the secret.
"""

from __future__ import annotations

import logging
import sys
import traceback

REDACTED = "<redacted>"
_secrets: set[str] = set()
_installed = False


def redact(text: str) -> str:
    """`text` with every registered secret replaced."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _add_secret(secret: str | None) -> None:
    if not secret:
        return
    _secrets.add(secret)
    _, _, tail = secret.partition(":")
    if len(tail) >= 8:  # the secret half of a bot token, should it ever appear alone
        _secrets.add(tail)


def install_redaction(*secrets: str | None) -> None:
    """Redact `secrets` from all log records from now on (idempotent; more secrets may be added later)."""
    global _installed
    for secret in secrets:
        _add_secret(secret)
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not _secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return record
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def setup_logging(verbose: bool = False, *secrets: str | None, json_lines: bool = False) -> None:
    """Line-oriented logs on stderr (journald/docker friendly), or one JSON object per line for log
    shippers (python-json-logger: time, level, logger, message); httpx request lines only at DEBUG."""
    install_redaction(*secrets)
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level",
                                                          "name": "logger"}, json_ensure_ascii=False))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # faiss logs which CPU build it tried at INFO ("Could not load library with AVX512 support …"): noise.
    logging.getLogger("faiss.loader").setLevel(logging.DEBUG if verbose else logging.WARNING)
