"""Bot state shared by replicas in PostgreSQL (`QA_BOT_DATABASE_URL`): what the SQLite `BotState` keeps
("More" buttons, presses, refusals), the per-user rate limit, each replica's counters for `/stats`, the
claims that make a webhook update answered once whichever replica Telegram delivers it to, and the lock
that allows one long-polling process per bot.

Each replica holds a session advisory lock on its own id for as long as it lives: when a replica dies
(even by kill -9) PostgreSQL drops its session and the lock, so its unfinished claims can be taken over
at once, and `/stats` knows which replicas are alive.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

from ..errors import SettingsError
from ..settings import Settings
from ..store.pg.connect import connect, describe, pool
from ..store.pg.schema import LOCK_NAMESPACE, LOCK_POLLER
from .state import KEEP_SECONDS, BotState

log = logging.getLogger("qa_bot.bot")

WINDOW = 60.0  # seconds of the rate limit
CLAIMS_KEPT = 24 * 3600  # seconds a handled update id is remembered (Telegram redelivers for a day at most)
TABLES = """
CREATE TABLE IF NOT EXISTS bot_questions (key text PRIMARY KEY, question text NOT NULL, lang text NOT NULL,
                                          created timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS bot_pressed (chat_id bigint NOT NULL, message_id bigint NOT NULL,
                                        created timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (chat_id, message_id));
CREATE TABLE IF NOT EXISTS bot_refused (id bigint PRIMARY KEY, created timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS bot_rate (user_id bigint PRIMARY KEY, hits float8[] NOT NULL, warned boolean NOT NULL,
                                     allowed boolean NOT NULL);
CREATE TABLE IF NOT EXISTS bot_replicas (replica integer PRIMARY KEY, host text NOT NULL, pid integer NOT NULL,
                                         started timestamptz NOT NULL DEFAULT now(),
                                         seen timestamptz NOT NULL DEFAULT now(), counts jsonb NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS bot_updates (bot_id bigint NOT NULL, update_id bigint NOT NULL, replica integer NOT NULL,
                                        done boolean NOT NULL DEFAULT false,
                                        claimed timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (bot_id, update_id));
CREATE TABLE IF NOT EXISTS bot_answers (id bigserial PRIMARY KEY, question text NOT NULL, lang text NOT NULL,
                                        page_offset integer NOT NULL, answered boolean NOT NULL,
                                        passages jsonb NOT NULL, created timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS bot_feedback (answer_id bigint NOT NULL REFERENCES bot_answers (id) ON DELETE CASCADE,
                                         voter text NOT NULL, vote smallint NOT NULL,
                                         created timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (answer_id, voter));
CREATE TABLE IF NOT EXISTS bot_meta (key text PRIMARY KEY, value text NOT NULL);
"""
# Feedback, as BotState keeps it in SQLite (see state.py): one row per answer page shown, votes by a salted
# hash of the user id.
FEEDBACK_ROWS = """
SELECT a.id, a.question, a.lang, a.page_offset, a.answered, a.passages,
       to_char(a.created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       count(*) FILTER (WHERE f.vote > 0), count(*) FILTER (WHERE f.vote < 0)
FROM bot_answers a JOIN bot_feedback f ON f.answer_id = a.id
GROUP BY a.id ORDER BY a.created DESC, a.id DESC"""
FEEDBACK_SUMMARY = """
SELECT (SELECT count(*) FROM bot_answers), count(DISTINCT answer_id),
       count(*) FILTER (WHERE vote > 0), count(*) FILTER (WHERE vote < 0) FROM bot_feedback"""


def feedback_rows(conn: Any) -> list[dict]:
    """`BotState.feedback()` from a PostgreSQL connection (search path on the bot's schema)."""
    return [{"answer_id": r[0], "question": r[1], "lang": r[2], "offset": r[3], "answered": bool(r[4]),
             "passages": r[5], "asked_at": r[6], "up": int(r[7]), "down": int(r[8])}
            for r in conn.execute(FEEDBACK_ROWS).fetchall()]


def feedback_summary(conn: Any) -> dict:
    shown, rated, up, down = conn.execute(FEEDBACK_SUMMARY).fetchone()
    return {"answers_shown": int(shown), "answers_rated": int(rated), "up": int(up), "down": int(down)}


def read_feedback(settings: Settings) -> tuple[list[dict], dict]:
    """What `qa-bot feedback` shows, read from the database without registering as a replica."""
    conn = connect(settings.database_url or "", autocommit=True, schema=settings.database_schema)
    try:
        if conn.execute("SELECT to_regclass('bot_feedback')").fetchone()[0] is None:
            return [], {"answers_shown": 0, "answers_rated": 0, "up": 0, "down": 0}
        return feedback_rows(conn), feedback_summary(conn)
    finally:
        conn.close()
ALIVE = """EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                   AND l.classid = {ns} AND l.objid = {replica})"""
# One statement per question, so the limit holds across replicas: the row lock serialises one user's
# questions; the clock is the database's (replicas' clocks may differ).
RATE = """
INSERT INTO bot_rate AS r (user_id, hits, warned, allowed)
SELECT %(u)s, ARRAY[extract(epoch FROM clock_timestamp())::float8], false, true
ON CONFLICT (user_id) DO UPDATE SET
    hits = CASE WHEN cardinality(ARRAY(SELECT h FROM unnest(r.hits) h WHERE h > excluded.hits[1] - %(w)s)) < %(n)s
                THEN ARRAY(SELECT h FROM unnest(r.hits) h WHERE h > excluded.hits[1] - %(w)s) || excluded.hits[1]
                ELSE ARRAY(SELECT h FROM unnest(r.hits) h WHERE h > excluded.hits[1] - %(w)s) END,
    allowed = cardinality(ARRAY(SELECT h FROM unnest(r.hits) h WHERE h > excluded.hits[1] - %(w)s)) < %(n)s,
    warned = r.warned AND cardinality(ARRAY(SELECT h FROM unnest(r.hits) h
                                            WHERE h > excluded.hits[1] - %(w)s)) >= %(n)s
RETURNING allowed"""
CLAIM = f"""
INSERT INTO bot_updates AS u (bot_id, update_id, replica) VALUES (%(bot)s, %(u)s, %(me)s)
ON CONFLICT (bot_id, update_id) DO UPDATE SET replica = %(me)s, claimed = now()
WHERE NOT u.done AND u.replica <> %(me)s AND NOT {ALIVE.format(ns=LOCK_NAMESPACE, replica="u.replica")}
RETURNING update_id"""


class SharedState:
    """`BotState`'s interface (and more) over PostgreSQL; safe to share between threads."""

    shared = True

    def __init__(self, settings: Settings) -> None:
        self.url, self.schema = settings.database_url or "", settings.database_schema
        self.where = f"PostgreSQL {describe(self.url)} (schema {self.schema})"
        self.replica = secrets.randbelow(2**31 - 2) + 1
        # Update ids count per bot: two bots (tokens) sharing a schema must not share claims.
        bot_id = (settings.bot.telegram_token or "0").split(":", 1)[0]
        self.bot_id = int(bot_id) if bot_id.isdigit() else 0
        self._lock = threading.Lock()
        # One connection for this replica's life: it holds the liveness lock (and the poller lock).
        self._session = connect(self.url, autocommit=True, schema=self.schema)
        from psycopg import sql

        self._session.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        self._session.execute("SELECT pg_advisory_lock(%s, hashtext('bot tables'))", (LOCK_NAMESPACE,))
        self._session.execute(TABLES)  # created once, even when replicas start together
        self._session.execute("SELECT pg_advisory_unlock(%s, hashtext('bot tables'))", (LOCK_NAMESPACE,))
        self._session.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self.replica))
        import os
        import socket

        self._session.execute("INSERT INTO bot_replicas (replica, host, pid) VALUES (%s, %s, %s)",
                              (self.replica, socket.gethostname(), os.getpid()))
        self._pool = pool(self.url, self.schema, "write")

    def _one(self, query: str, params: Any = ()) -> tuple | None:
        with self._pool.connection() as conn:
            return conn.execute(query, params).fetchone()

    # ------------------------------------------------------------------ what BotState keeps
    key_for = staticmethod(BotState.key_for)

    def put_question(self, question: str, lang: str) -> str:
        key = self.key_for(question, lang)
        self._one("INSERT INTO bot_questions (key, question, lang) VALUES (%s, %s, %s) ON CONFLICT (key) "
                  "DO UPDATE SET created = now() RETURNING key", (key, question, lang))
        return key

    def get_question(self, key: str) -> tuple[str, str] | None:
        row = self._one("SELECT question, lang FROM bot_questions WHERE key = %s AND created > now() - "
                        "make_interval(secs => %s)", (key, KEEP_SECONDS))
        return (row[0], row[1]) if row else None

    def first_press(self, chat_id: int, message_id: int) -> bool:
        return self._one("INSERT INTO bot_pressed (chat_id, message_id) VALUES (%s, %s) ON CONFLICT DO NOTHING "
                         "RETURNING 1", (chat_id, message_id)) is not None

    def first_refusal(self, ident: int) -> bool:
        return self._one("INSERT INTO bot_refused (id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1",
                         (ident,)) is not None

    # ------------------------------------------------------------------ feedback
    def record_answer(self, question: str, lang: str, offset: int, answered: bool, passages: list[dict]) -> int:
        import json

        row = self._one("INSERT INTO bot_answers (question, lang, page_offset, answered, passages) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                        (question, lang, offset, answered, json.dumps(passages, ensure_ascii=False)))
        return int(row[0]) if row else 0

    def vote(self, answer_id: int, user_id: int, vote: int) -> bool:
        import hashlib
        import hmac

        with self._pool.connection() as conn:
            if conn.execute("SELECT 1 FROM bot_answers WHERE id = %s", (answer_id,)).fetchone() is None:
                return False
            conn.execute("INSERT INTO bot_meta VALUES ('voter_salt', %s) ON CONFLICT DO NOTHING",
                         (secrets.token_hex(16),))
            salt = conn.execute("SELECT value FROM bot_meta WHERE key = 'voter_salt'").fetchone()[0]
            voter = hmac.new(bytes.fromhex(salt), str(user_id).encode(), hashlib.sha256).hexdigest()[:16]
            conn.execute("INSERT INTO bot_feedback (answer_id, voter, vote) VALUES (%s, %s, %s) ON CONFLICT "
                         "(answer_id, voter) DO UPDATE SET vote = excluded.vote, created = now()",
                         (answer_id, voter, vote))
            return True

    def feedback(self) -> list[dict]:
        with self._pool.connection() as conn:
            return feedback_rows(conn)

    def feedback_summary(self) -> dict:
        with self._pool.connection() as conn:
            return feedback_summary(conn)

    # ------------------------------------------------------------------ rate limit
    def allow(self, user_id: int, per_minute: int) -> bool:
        row = self._one(RATE, {"u": user_id, "w": WINDOW, "n": per_minute})
        return bool(row and row[0])

    def should_warn(self, user_id: int) -> bool:
        return self._one("UPDATE bot_rate SET warned = true WHERE user_id = %s AND NOT warned RETURNING 1",
                         (user_id,)) is not None

    # ------------------------------------------------------------------ webhook updates
    def claim(self, update_id: int) -> str:
        """"mine" (handle it), "done" (answered already: acknowledge) or "busy" (a live replica is on it:
        let Telegram deliver it again later)."""
        if self._one(CLAIM, {"bot": self.bot_id, "u": update_id, "me": self.replica}) is not None:
            return "mine"
        row = self._one("SELECT done, replica FROM bot_updates WHERE bot_id = %s AND update_id = %s",
                        (self.bot_id, update_id))
        if row is None:  # deleted meanwhile (older than CLAIMS_KEPT): nothing to answer any more
            return "done"
        return "done" if row[0] else "busy"  # also when this replica is still on it

    def finished(self, update_id: int) -> None:
        self._one("UPDATE bot_updates SET done = true WHERE bot_id = %s AND update_id = %s RETURNING 1",
                  (self.bot_id, update_id))

    # ------------------------------------------------------------------ replicas and /stats
    def publish(self, counts: dict[str, int]) -> None:
        """This replica's counters, for /stats on any replica."""
        import json

        self._one("UPDATE bot_replicas SET seen = now(), counts = %s WHERE replica = %s RETURNING 1",
                  (json.dumps(counts), self.replica))

    def tidy(self) -> None:
        """Forget handled update ids, old buttons and idle rate-limit rows."""
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM bot_updates WHERE claimed < now() - make_interval(secs => %s)", (CLAIMS_KEPT,))
            conn.execute("DELETE FROM bot_pressed WHERE created < now() - make_interval(secs => %s)", (KEEP_SECONDS,))
            conn.execute("DELETE FROM bot_questions WHERE created < now() - make_interval(secs => %s)",
                         (KEEP_SECONDS,))
            conn.execute("DELETE FROM bot_rate WHERE hits[cardinality(hits)] < "
                         "extract(epoch FROM clock_timestamp()) - %s", (WINDOW,))

    def totals(self) -> dict[str, Any]:
        """Counters summed over every replica that ever served from this database, and how many are alive."""
        with self._pool.connection() as conn:
            rows = conn.execute(f"""SELECT r.counts, {ALIVE.format(ns=LOCK_NAMESPACE, replica="r.replica")}
                                    FROM bot_replicas r""").fetchall()
        out: dict[str, Any] = {"replicas": len(rows), "replicas_alive": sum(1 for _, alive in rows if alive)}
        for counts, _ in rows:
            for key, value in (counts or {}).items():
                out[key] = out.get(key, 0) + int(value)
        return out

    # ------------------------------------------------------------------ long polling
    def take_poller_lock(self, token: str) -> bool:
        """True when no other process long-polls this bot (Telegram allows one getUpdates client)."""
        bot_id = token.split(":", 1)[0]
        key = int(bot_id) % (2**31 - 1) if bot_id.isdigit() else LOCK_POLLER
        return bool(self._session.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                          (LOCK_NAMESPACE + LOCK_POLLER, key)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if not self._session.closed:
                self._session.close()  # releases this replica's locks


class SharedRateLimiter:
    """`RateLimiter`'s interface, counted in the database: the limit holds across replicas."""

    def __init__(self, state: SharedState, per_minute: int) -> None:
        self.state, self.per_minute = state, per_minute

    def allow(self, user_id: int) -> bool:
        try:
            return self.state.allow(user_id, self.per_minute)
        except Exception as exc:  # noqa: BLE001 - the database is briefly away: do not refuse users for it
            log.warning("rate limit not checked (%s)", type(exc).__name__)
            return True

    def should_warn(self, user_id: int) -> bool:
        try:
            return self.state.should_warn(user_id)
        except Exception:  # noqa: BLE001
            return False


def check_poller(state: SharedState, token: str) -> None:
    if not state.take_poller_lock(token):
        raise SettingsError("Another qa-bot serve is already long-polling this bot (Telegram allows one); stop it, "
                            "or run several replicas in webhook mode (QA_BOT_WEBHOOK_URL).")

