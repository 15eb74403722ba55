"""The vocabulary arrays of a converted model, as llama.cpp's converter writes them.

Four sources, tried in the order the architecture allows (llama: spm, llama-hf, gpt2; qwen2 and
qwen3: spm, gpt2; gemma3: spm; bert: wpm):

- `spm`: `tokenizer.model` (sentencepiece) -> `tokenizer.ggml.model = "llama"`, pre "default",
  tokens / scores / token_type from the model, then the added tokens of `added_tokens.json` and of
  `tokenizer_config.json`'s `added_tokens_decoder` (score -1000, CONTROL or USER_DEFINED), padded to
  the config's vocab_size with `[PAD{i}]` (UNUSED).
- `llama-hf`: `tokenizer.json` of a BPE model with byte fallback (a sentencepiece vocabulary in HF
  form) -> "llama", through the gguf package's `LlamaHfVocab` (which needs transformers).
- `gpt2`: `tokenizer.json` of a byte-level BPE model -> `tokenizer.ggml.model = "gpt2"`, tokens and
  token types (added tokens CONTROL when special, else USER_DEFINED; holes `[PAD{i}]`), merges, and
  `tokenizer.ggml.pre` identified as llama.cpp does: the sha256 of the token ids of a fixed probe
  text (needs the `tokenizers` package), else from the pre-tokenizer's regex.
- `wpm`: `tokenizer.json` of a WordPiece model, or `vocab.txt` -> `tokenizer.ggml.model = "bert"`,
  tokens in llama.cpp's "phantom space" form (a word-initial piece `hello` is stored as `▁hello`,
  a continuation `##lo` as `lo`, special tokens as they are, CONTROL), holes `[PAD{i}]` (UNUSED).

Special token ids, add_bos/add_eos, merges and the chat template come from the gguf package's
`SpecialVocab` (tokenizer.json, tokenizer_config.json, config.json), as in llama.cpp.

With no tokenizer file at all the model still converts: `tokenizer.ggml.model = "none"` plus
`{arch}.vocab_size`, which is what llama.cpp's converter writes for tokenizer-less models and what
llama.cpp loads as LLAMA_VOCAB_TYPE_NONE (the model runs on token ids; nothing tokenizes text).
Placeholder tokens under "gpt2" would not load there: llama.cpp requires merges for a gpt2 vocab.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import gguf

from ..errors import ConvertError

TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json")
WPM_VOCAB_FILE = "vocab.txt"
WPM_SPECIAL_KEYS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
PAD = "[PAD{}]"
USER_SPACE = "\u2581"

# llama.cpp's probe text for identifying a BPE pre-tokenizer (convert_hf_to_gguf_update.py).
CHKTXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) "
    "✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ "
    "------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you "
    "sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL"
)
KNOWN_PRE_HASHES = {
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",     # Llama 3
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",         # Qwen1.5/2/2.5/3
    "d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c": "qwen2",         # Qwen3-Embedding
    "b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5": "deepseek-r1-qwen",
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
    "0876d13b50744004aa9aeae05e7b0647eac9d801b5ba4668afc01e709c15e19f": "bert-bge",     # bge-small-en-v1.5
}
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
REGEX_PRE = {LLAMA3_REGEX: "llama-bpe", QWEN2_REGEX: "qwen2"}


@dataclass
class Vocabulary:
    """What goes under tokenizer.ggml.*; `tokens` is empty for model "none"."""

    model: str
    pre: str | None = None
    tokens: list[bytes | str] = field(default_factory=list)
    scores: list[float] | None = None
    types: list[int] = field(default_factory=list)
    add_space_prefix: bool | None = None


def looks_special(token: str) -> bool:
    """Added tokens llama.cpp marks CONTROL even when the tokenizer does not call them special."""
    return (token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (token.startswith("<|") and token.endswith("|>"))
            or (token.startswith("<｜") and token.endswith("｜>"))
            or (token.startswith("<unused") and token.endswith(">")))


# -- sentencepiece ------------------------------------------------------------------------------
def _spm_base(path: Path, vocab_size: int) -> tuple[list[bytes], list[float], list[int]]:
    from sentencepiece import SentencePieceProcessor

    sp = SentencePieceProcessor()
    try:
        sp.LoadFromFile(str(path))
    except (OSError, RuntimeError) as e:
        raise ConvertError(f"{path}: not a sentencepiece model: {e}") from None
    tokens = [PAD.format(i).encode() for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [int(gguf.TokenType.UNUSED)] * vocab_size
    for i in range(min(sp.vocab_size(), vocab_size)):
        kind = gguf.TokenType.NORMAL
        if sp.IsUnknown(i):
            kind = gguf.TokenType.UNKNOWN
        elif sp.IsControl(i):
            kind = gguf.TokenType.CONTROL
        elif sp.IsUnused(i):
            kind = gguf.TokenType.UNUSED
        elif sp.IsByte(i):
            kind = gguf.TokenType.BYTE
        tokens[i], scores[i], types[i] = sp.IdToPiece(i).encode("utf-8"), sp.GetScore(i), int(kind)
    return tokens, scores, types


def _spm_added(hf_dir: Path, tokens: list, scores: list, types: list) -> None:
    """added_tokens.json, then tokenizer_config.json's added_tokens_decoder, over the base pieces."""
    added_file = hf_dir / "added_tokens.json"
    if added_file.is_file():
        for text, tid in json.loads(added_file.read_text(encoding="utf-8")).items():
            if 0 <= tid < len(tokens):
                tokens[tid], scores[tid], types[tid] = text.encode(), -1000.0, int(gguf.TokenType.USER_DEFINED)
    config_file = hf_dir / "tokenizer_config.json"
    if not config_file.is_file():
        return
    decoder = json.loads(config_file.read_text(encoding="utf-8")).get("added_tokens_decoder", {})
    for key, data in decoder.items():
        tid, text = int(key), data["content"]
        if not 0 <= tid < len(tokens):
            continue
        if data.get("special") or looks_special(text):
            types[tid] = int(gguf.TokenType.CONTROL)
        else:
            text = text.replace(USER_SPACE, " ")
            types[tid] = int(gguf.TokenType.USER_DEFINED)
        tokens[tid], scores[tid] = text.encode("utf-8"), -1000.0


def spm_vocabulary(hf_dir: Path, vocab_size: int | None) -> Vocabulary:
    path = hf_dir / "tokenizer.model"
    if vocab_size is None:
        from sentencepiece import SentencePieceProcessor

        vocab_size = SentencePieceProcessor(model_file=str(path)).vocab_size()
    tokens, scores, types = _spm_base(path, vocab_size)
    _spm_added(hf_dir, tokens, scores, types)
    return Vocabulary("llama", "default", tokens, scores, types)


# -- tokenizer.json ------------------------------------------------------------------------------
def _tokenizer_json(hf_dir: Path) -> dict[str, Any]:
    path = hf_dir / "tokenizer.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConvertError(f"{path}: cannot read the tokenizer: {e}") from None


def tokenizer_json_kind(hf_dir: Path) -> str | None:
    """'llama-hf' (BPE with byte fallback), 'gpt2' (byte-level BPE), 'wpm' (WordPiece) or None."""
    if not (hf_dir / "tokenizer.json").is_file():
        return None
    tj = _tokenizer_json(hf_dir)
    model, decoder = tj.get("model") or {}, tj.get("decoder") or {}
    if model.get("type") == "WordPiece":
        return "wpm"
    if model.get("type") != "BPE":
        return None
    if model.get("byte_fallback", False):
        return "llama-hf" if decoder.get("type") == "Sequence" else None
    return "gpt2" if decoder.get("type") == "ByteLevel" else None


def llama_hf_vocabulary(hf_dir: Path) -> Vocabulary:
    try:
        hf = gguf.LlamaHfVocab(hf_dir)
    except ImportError:
        raise ConvertError(f"{hf_dir}: converting a tokenizer.json sentencepiece-style vocabulary needs "
                           "transformers (pip install transformers), or provide tokenizer.model") from None
    tokens, scores, types = [], [], []
    for text, score, kind in hf.all_tokens():
        tokens.append(text)
        scores.append(score)
        types.append(int(kind))
    return Vocabulary("llama", "default", tokens, scores, types)


def _bpe_token_table(tj: dict[str, Any], vocab_size: int | None, hf_dir: Path) -> dict[int, tuple[str, int]]:
    reverse = {int(i): (tok, int(gguf.TokenType.NORMAL)) for tok, i in tj["model"]["vocab"].items()}
    for added in tj.get("added_tokens") or []:
        text = added["content"]
        if added.get("special") or looks_special(text):
            reverse[int(added["id"])] = (text, int(gguf.TokenType.CONTROL))
        else:
            reverse[int(added["id"])] = (text.replace(USER_SPACE, " "), int(gguf.TokenType.USER_DEFINED))
    if vocab_size is not None and reverse and max(reverse) >= vocab_size:
        raise ConvertError(f"{hf_dir}: tokenizer.json has token id {max(reverse)} but config.json's "
                           f"vocab_size is {vocab_size}")
    return reverse


def _pre_by_hash(hf_dir: Path) -> str | None:
    """The pre-tokenizer name llama.cpp gives tokenizer.json, by its probe-text hash (None: unknown)."""
    try:
        from tokenizers import Tokenizer

        ids = Tokenizer.from_file(str(hf_dir / "tokenizer.json")).encode(CHKTXT).ids
        return KNOWN_PRE_HASHES.get(sha256(str(ids).encode()).hexdigest())
    except Exception:  # noqa: BLE001 - no tokenizers package or a file it cannot load
        return None


def bpe_pre(hf_dir: Path, tj: dict[str, Any]) -> str:
    """tokenizer.ggml.pre: llama.cpp's probe-text hash, else the pre-tokenizer's regex."""
    known = _pre_by_hash(hf_dir)
    if known:
        return known
    pre = tj.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    regexes = [s.get("pattern", {}).get("Regex") for s in steps if s.get("type") == "Split"]
    for regex in regexes:
        if regex in REGEX_PRE:
            return REGEX_PRE[regex]
    if not regexes and any(s.get("type") == "ByteLevel" and s.get("use_regex", True) for s in steps):
        return "gpt-2"
    raise ConvertError(f"{hf_dir / 'tokenizer.json'}: the BPE pre-tokenizer is not one llama.cpp knows "
                       f"(pre_tokenizer {json.dumps(pre)[:200]})")


def gpt2_vocabulary(hf_dir: Path, vocab_size: int | None) -> Vocabulary:
    tj = _tokenizer_json(hf_dir)
    table = _bpe_token_table(tj, vocab_size, hf_dir)
    n = vocab_size if vocab_size is not None else max(table) + 1
    tokens = [table[i][0] if i in table else PAD.format(i) for i in range(n)]
    types = [table[i][1] if i in table else int(gguf.TokenType.UNUSED) for i in range(n)]
    return Vocabulary("gpt2", bpe_pre(hf_dir, tj), tokens, None, types)


# -- WordPiece -----------------------------------------------------------------------------------
def _phantom(token: str, token_type: int) -> str:
    """llama.cpp's BERT vocabulary form: word-initial pieces get "▁", "##" continuations lose it."""
    if token_type == int(gguf.TokenType.CONTROL):
        return token
    return token[2:] if token.startswith("##") else USER_SPACE + token


def _wpm_table(hf_dir: Path) -> tuple[dict[str, int], set[str]]:
    """token -> id and the special tokens, from tokenizer.json or vocab.txt (+ tokenizer_config.json)."""
    if tokenizer_json_kind(hf_dir) == "wpm":
        tj = _tokenizer_json(hf_dir)
        table = {str(t): int(i) for t, i in tj["model"]["vocab"].items()}
        for added in tj.get("added_tokens") or []:
            table[added["content"]] = int(added["id"])
        return table, {a["content"] for a in tj.get("added_tokens") or [] if a.get("special")}
    lines = (hf_dir / WPM_VOCAB_FILE).read_text(encoding="utf-8").splitlines()
    table = {line.rstrip("\r"): i for i, line in enumerate(lines)}
    special: set[str] = set()
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        path = hf_dir / name
        config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        for key in WPM_SPECIAL_KEYS:
            value = config.get(key)
            value = value.get("content") if isinstance(value, dict) else value
            if isinstance(value, str):
                special.add(value)
    return table, special


def wpm_vocabulary(hf_dir: Path, vocab_size: int | None) -> Vocabulary:
    table, special = _wpm_table(hf_dir)
    n = vocab_size if vocab_size is not None else max(table.values()) + 1
    if max(table.values()) >= n:
        raise ConvertError(f"{hf_dir}: the WordPiece vocabulary has token id {max(table.values())} but config.json's "
                           f"vocab_size is {n}")
    reverse = {i: t for t, i in table.items()}
    tokens, types = [], []
    for i in range(n):
        token = reverse.get(i)
        kind = gguf.TokenType.UNUSED if token is None else (
            gguf.TokenType.CONTROL if token in special or looks_special(token) else gguf.TokenType.NORMAL)
        tokens.append(_phantom(PAD.format(i) if token is None else token, int(kind)))
        types.append(int(kind))
    pre = "default"
    if (hf_dir / "tokenizer.json").is_file():
        pre = _pre_by_hash(hf_dir) or pre
    return Vocabulary("bert", pre, tokens, None, types)


# -- choosing and writing ------------------------------------------------------------------------
def _available(hf_dir: Path) -> list[str]:
    kinds = ["spm"] if (hf_dir / "tokenizer.model").is_file() else []
    json_kind = tokenizer_json_kind(hf_dir)
    if json_kind != "wpm" and (hf_dir / WPM_VOCAB_FILE).is_file():
        kinds.append("wpm")
    return kinds + ([json_kind] if json_kind else [])


def load_vocabulary(hf_dir: Path, arch: str, kinds: tuple[str, ...], vocab_size: int | None) -> Vocabulary:
    """The vocabulary of the first tokenizer kind `arch` accepts; model "none" when the checkpoint
    has no tokenizer file; ConvertError naming the needed file when it has only unusable ones."""
    files = TOKENIZER_FILES + ((WPM_VOCAB_FILE,) if "wpm" in kinds else ())
    present = [name for name in files if (hf_dir / name).is_file()]
    if not present:
        return Vocabulary("none")
    available = _available(hf_dir)
    for kind in kinds:
        if kind in available:
            if kind == "spm":
                return spm_vocabulary(hf_dir, vocab_size)
            if kind == "wpm":
                return wpm_vocabulary(hf_dir, vocab_size)
            return llama_hf_vocabulary(hf_dir) if kind == "llama-hf" else gpt2_vocabulary(hf_dir, vocab_size)
    needed = {("spm",): "tokenizer.model", ("wpm",): "vocab.txt or a WordPiece tokenizer.json"}.get(
        kinds, "tokenizer.model or a BPE tokenizer.json")
    raise ConvertError(f"{hf_dir}: {arch} needs {needed}; found only {', '.join(present)} "
                       f"which holds no vocabulary of a kind {arch} uses ({', '.join(kinds)})")


def write_vocabulary(writer: gguf.GGUFWriter, vocab: Vocabulary, hf_dir: Path) -> None:
    """tokenizer.ggml.* keys (a tokenizer-less model also needs `{arch}.vocab_size`: the caller's)."""
    writer.add_tokenizer_model(vocab.model)
    if vocab.model == "none":
        return
    writer.add_tokenizer_pre(vocab.pre or "default")
    writer.add_token_list(vocab.tokens)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    special = gguf.SpecialVocab(hf_dir, load_merges=vocab.model == "gpt2",
                                n_vocab=None if vocab.model == "gpt2" else len(vocab.tokens))
    special.add_to_gguf(writer, quiet=True)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)


def add_space_prefix(hf_dir: Path) -> bool | None:
    """tokenizer_config.json's add_prefix_space, which llama.cpp copies for llama models."""
    path = hf_dir / "tokenizer_config.json"
    if not path.is_file():
        return None
    value = json.loads(path.read_text(encoding="utf-8")).get("add_prefix_space")
    return value if isinstance(value, bool) else None
