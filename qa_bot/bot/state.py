"""What the bot must remember across restarts: the question behind each "more" button, who was
already refused, and the answers users rated with 👍 / 👎.

Telegram limits callback data to 64 bytes, so the button carries a short key and the question lives in
a small SQLite file. Keys are derived from the question, so asking the same thing twice reuses a row.
Every access goes through `BotState`, so another engine (a shared database for several replicas) can
take its place with the same methods.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import sqlite3
import threading
import time
from pathlib import Path

from ..errors import SettingsError

log = logging.getLogger("qa_bot.bot")

KEEP_SECONDS = 90 * 24 * 3600  # buttons older than this answer "expired"
MORE_PREFIX = "m"
MORE_RE = re.compile(r"m:([A-Za-z0-9_-]{1,32}):([0-9]{1,4})", re.ASCII)
FEEDBACK_PREFIX = "f"
FEEDBACK_RE = re.compile(r"f:([0-9]{1,12}):([ud])", re.ASCII)
VOTES = {"u": 1, "d": -1}


class BotState:
    """Thread-safe key-value store for button keys and refusals, in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._puts = 0
        where = f"QA_BOT_STATE_FILE={path}"
        if self.path.is_dir():
            raise SettingsError(f"{where} is a folder. Set it to a file path, e.g. {self.path / 'bot-state.sqlite3'}.")
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._open(str(path))
            except sqlite3.DatabaseError as exc:
                if "not a database" not in str(exc) and "malformed" not in str(exc):
                    raise
                aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
                os.replace(self.path, aside)
                log.warning("the bot state file %s is damaged (%s); moved it to %s and started a new one "
                            "(older \"More\" buttons will ask to ask again)", path, exc, aside.name)
                self._db = self._open(str(path))
        except (sqlite3.Error, OSError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise SettingsError(f"Cannot open the bot state file {where} ({reason}). "
                                "Set QA_BOT_STATE_FILE to a file in a writable folder.") from None

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS questions (key TEXT PRIMARY KEY, question TEXT NOT NULL, "
                       "lang TEXT NOT NULL, created REAL NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS refused (id INTEGER PRIMARY KEY, created REAL NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS pressed (chat_id INTEGER NOT NULL, message_id INTEGER NOT NULL, "
                       "created REAL NOT NULL, PRIMARY KEY (chat_id, message_id))")
            # One row per answer page shown, with the passages and their ranks; votes refer to it.
            db.execute("CREATE TABLE IF NOT EXISTS answers (id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT "
                       "NULL, lang TEXT NOT NULL, offset INTEGER NOT NULL, answered INTEGER NOT NULL, passages TEXT "
                       "NOT NULL, created REAL NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS feedback (answer_id INTEGER NOT NULL REFERENCES answers(id), "
                       "voter TEXT NOT NULL, vote INTEGER NOT NULL, created REAL NOT NULL, "
                       "PRIMARY KEY (answer_id, voter))")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('voter_salt', ?)", (os.urandom(16).hex(),))
        except BaseException:
            db.close()
            raise
        return db

    @staticmethod
    def key_for(question: str, lang: str) -> str:
        digest = hashlib.sha256(f"{lang}\x00{question}".encode()).digest()
        return base64.urlsafe_b64encode(digest[:9]).decode()  # 12 characters

    def put_question(self, question: str, lang: str) -> str:
        """Remember `question` and return the short key a button can carry."""
        key = self.key_for(question, lang)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO questions VALUES (?, ?, ?, ?)", (key, question, lang, time.time()))
            self._puts += 1
            if self._puts % 1000 == 0:
                self._db.execute("DELETE FROM questions WHERE created < ?", (time.time() - KEEP_SECONDS,))
                self._db.execute("DELETE FROM pressed WHERE created < ?", (time.time() - KEEP_SECONDS,))
        return key

    def get_question(self, key: str) -> tuple[str, str] | None:
        """(question, lang) for a key, or None when unknown or expired."""
        with self._lock:
            row = self._db.execute("SELECT question, lang, created FROM questions WHERE key = ?", (key,)).fetchone()
        if row is None or row[2] < time.time() - KEEP_SECONDS:
            return None
        return row[0], row[1]

    def first_press(self, chat_id: int, message_id: int) -> bool:
        """True for the first press of the "more" button under one message: quick repeated presses (or
        the same press delivered twice) must not send the next page again."""
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO pressed VALUES (?, ?, ?)", (chat_id, message_id, time.time()))
            return cur.rowcount == 1

    def first_refusal(self, ident: int) -> bool:
        """True the first time `ident` is refused, so each stranger gets one refusal, not one per message."""
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO refused VALUES (?, ?)", (ident, time.time()))
            return cur.rowcount == 1

    # ------------------------------------------------------------------ feedback
    def record_answer(self, question: str, lang: str, offset: int, answered: bool,
                      passages: list[dict]) -> int:
        """Remember an answer page (the passages shown, each with `rank`, `passage_id`, `doc_id`, `paragraph`,
        `title`, `score`, `text`); its id goes into the 👍 / 👎 buttons."""
        with self._lock:
            cur = self._db.execute("INSERT INTO answers (question, lang, offset, answered, passages, created) "
                                   "VALUES (?, ?, ?, ?, ?, ?)", (question, lang, offset, int(answered),
                                                                 json.dumps(passages, ensure_ascii=False), time.time()))
            return int(cur.lastrowid or 0)

    def vote(self, answer_id: int, user_id: int, vote: int) -> bool:
        """Store a 👍 (+1) or 👎 (-1); a second vote by the same user on the same answer replaces the first.
        False when the answer is unknown. The user is stored as a salted hash, only to tell voters apart."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                return False
            salt = self._db.execute("SELECT value FROM meta WHERE key = 'voter_salt'").fetchone()[0]
            voter = hmac.new(bytes.fromhex(salt), str(user_id).encode(), "sha256").hexdigest()[:16]
            self._db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?)",
                             (answer_id, voter, vote, time.time()))
            return True

    def feedback(self) -> list[dict]:
        """Every rated answer: question, language, whether it was answered, the passages shown, 👍 and 👎
        counts; newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.id, a.question, a.lang, a.offset, a.answered, a.passages, a.created, "
                "sum(f.vote > 0), sum(f.vote < 0) FROM answers a JOIN feedback f ON f.answer_id = a.id "
                "GROUP BY a.id ORDER BY a.created DESC, a.id DESC").fetchall()
        return [{"answer_id": r[0], "question": r[1], "lang": r[2], "offset": r[3], "answered": bool(r[4]),
                 "passages": json.loads(r[5]), "asked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r[6])),
                 "up": int(r[7] or 0), "down": int(r[8] or 0)} for r in rows]

    def feedback_summary(self) -> dict:
        """Counts for /stats and `qa-bot feedback`: answers shown, rated, 👍, 👎."""
        with self._lock:
            shown = self._db.execute("SELECT count(*) FROM answers").fetchone()[0]
            up, down, rated = self._db.execute(
                "SELECT coalesce(sum(vote > 0), 0), coalesce(sum(vote < 0), 0), count(DISTINCT answer_id) "
                "FROM feedback").fetchone()
        return {"answers_shown": shown, "answers_rated": rated, "up": up, "down": down}

    def close(self) -> None:
        with self._lock:
            self._db.close()


def feedback_data(answer_id: int, vote: str) -> str:
    """Callback data of a 👍 (`u`) or 👎 (`d`) button: `f:<answer id>:<u|d>`."""
    return f"{FEEDBACK_PREFIX}:{answer_id}:{vote}"


def parse_feedback_data(data: str | None) -> tuple[int, int] | None:
    """(answer id, +1 or -1) from callback data, or None for anything malformed or forged."""
    match = FEEDBACK_RE.fullmatch(data or "")
    if match is None:
        return None
    return int(match.group(1)), VOTES[match.group(2)]


def more_data(key: str, offset: int) -> str:
    """Callback data of a "more" button: `m:<key>:<offset>` (well under Telegram's 64 bytes)."""
    return f"{MORE_PREFIX}:{key}:{offset}"


def parse_more_data(data: str | None, max_offset: int = 1000) -> tuple[str, int] | None:
    """(key, offset) from callback data, or None for anything malformed or forged."""
    match = MORE_RE.fullmatch(data or "")
    if match is None:
        return None
    offset = int(match.group(2))
    if not 0 < offset <= max_offset:
        return None
    return match.group(1), offset
