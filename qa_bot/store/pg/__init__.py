"""The PostgreSQL engine (`QA_BOT_DATABASE_URL`): the index and the bot's shared state in PostgreSQL
with pgvector, for several `qa-bot serve` replicas and indexers on other machines. psycopg is imported
only when this engine is chosen."""

from .engine import PgEngine

__all__ = ["PgEngine"]
