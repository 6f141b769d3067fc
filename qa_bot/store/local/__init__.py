"""The local engine: FAISS + SQLite + BM25 files in one folder, switched by an atomic manifest."""

from .engine import LocalEngine

__all__ = ["LocalEngine"]
