"""Pre-tokenizers of byte-level BPE vocabularies, chosen by `tokenizer.ggml.pre` (as llama.cpp does).

A pre-tokenizer is a list of regular expressions applied one after the other: each splits every
piece so far into its matches and the text between matches (both kept, as llama.cpp's
unicode_regex_split and HF's "isolated" Split keep them). BPE merges then run inside each piece.

The expressions are written as their models publish them (HF tokenizer.json / tiktoken), with
`\\p{L}`-style Unicode classes. The stdlib `re` module has no `\\p{..}`, so `translate` rewrites them
into explicit code-point ranges built once from `unicodedata`, and rewrites `\\s`/`\\S` to the Unicode
White_Space property (what Rust's regex, Oniguruma and PCRE mean by `\\s`; Python's own `\\s` also
accepts U+001C..U+001F). Ranges come from the Python's Unicode database (`unicodedata.unidata_version`);
characters assigned in later Unicode versions are unclassified here.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from localllm.errors import TokenizerError

# Unicode White_Space (PropList.txt): the meaning of \s in the regex engines models were built with
WHITE_SPACE = ((0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
               (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000))
# Assigned code points live below U+323B0 and in U+E0000..U+E01EF (tags, variation selectors);
# the rest is unassigned or private use, in no letter/number/mark/punctuation/symbol class.
_SCAN_RANGES = ((0, 0x323B0), (0xE0000, 0xE01F0))

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"""
LLAMA3 = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
          r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN2 = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
         r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN35 = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"""
          r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
_UPPERISH, _LOWERISH = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
_CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
GPT4O = (rf"""[^\r\n\p{{L}}\p{{N}}]?{_UPPERISH}*{_LOWERISH}+{_CONTRACTION}"""
         rf"""|[^\r\n\p{{L}}\p{{N}}]?{_UPPERISH}+{_LOWERISH}*{_CONTRACTION}"""
         r"""|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
TEKKEN = (rf"""[^\r\n\p{{L}}\p{{N}}]?{_UPPERISH}*{_LOWERISH}+|[^\r\n\p{{L}}\p{{N}}]?{_UPPERISH}+{_LOWERISH}*"""
          r"""|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
DEFAULT = (r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]")


@dataclass(frozen=True)
class PreSpec:
    """How one `tokenizer.ggml.pre` value tokenizes and detokenizes (llama.cpp's settings)."""

    patterns: tuple[str, ...]
    clean_spaces: bool = True    # detokenize removes " ." " ," " 's"... (llama.cpp clean_spaces)
    ignore_merges: bool = False  # a whole piece that is a token is emitted as is
    add_bos: bool = False        # default before tokenizer.ggml.add_bos_token is read
    has_bos: bool = True         # False: the vocabulary has no BOS (chatglm)
    add_sep: bool = False


def _specs() -> dict[str, PreSpec]:
    table: dict[str, PreSpec] = {"default": PreSpec(DEFAULT)}
    groups = [
        (("gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
          "modern-bert", "exaone4", "mpt", "olmo", "jais"), PreSpec((GPT2,))),
        (("trillion", "granite-docling"), PreSpec((GPT2,), clean_spaces=False)),
        (("jina-v1-en", "jina-v2-code", "roberta-bpe"), PreSpec((GPT2,), add_sep=True)),
        (("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"),
         PreSpec((LLAMA3,), ignore_merges=True, add_bos=True)),
        (("dbrx", "smaug-bpe"), PreSpec((LLAMA3,))),
        (("glm4", "chatglm-bpe"), PreSpec((LLAMA3,), has_bos=False)),
        (("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open"),
         PreSpec((QWEN2,), clean_spaces=False)),
        (("megrez", "stablelm2"), PreSpec((QWEN2,))),
        (("qwen35",), PreSpec((QWEN35,), clean_spaces=False)),
        (("starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"), PreSpec((r"\p{N}", GPT2))),
        (("command-r", "smollm"), PreSpec((r"\p{N}", GPT2), clean_spaces=False)),
        (("falcon",), PreSpec((r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"))),
        (("gpt-4o", "llama4", "kanana2", "talkie"), PreSpec((GPT4O,), clean_spaces=False)),
        (("tekken",), PreSpec((TEKKEN,), clean_spaces=False, ignore_merges=True, add_bos=True)),
    ]
    for names, spec in groups:
        table.update(dict.fromkeys(names, spec))
    return table


PRE_SPECS: dict[str, PreSpec] = _specs()


def pre_spec(pre: str) -> PreSpec:
    """The spec for a `tokenizer.ggml.pre` value: unknown names are an error, a missing one a warning."""
    if not pre:
        warnings.warn("this BPE vocabulary names no pre-tokenizer (tokenizer.ggml.pre); using llama.cpp's "
                      "'default' one: tokenization may differ from the model's own, re-convert the model",
                      stacklevel=3)
        return PRE_SPECS["default"]
    spec = PRE_SPECS.get(pre)
    if spec is None:
        raise TokenizerError(f"unknown pre-tokenizer {pre!r} (tokenizer.ggml.pre); supported: "
                             f"{', '.join(sorted(PRE_SPECS))}")
    return spec


class PreTokenizer:
    """Splits text into the pieces BPE merges run in."""

    def __init__(self, patterns: tuple[str, ...]):
        self.patterns = patterns
        self._regexes = [compile_pattern(p) for p in patterns]

    def split(self, text: str) -> list[str]:
        pieces = [text] if text else []
        for rx in self._regexes:
            out: list[str] = []
            for piece in pieces:
                _split_keep(rx, piece, out)
            pieces = out
        return pieces


def _split_keep(rx: re.Pattern, text: str, out: list[str]) -> None:
    """Append the matches of `rx` in `text` and the non-empty gaps between them, in order."""
    last = 0
    for m in rx.finditer(text):
        start, end = m.span()
        if start > last:
            out.append(text[last:start])
        if end > start:
            out.append(text[start:end])
            last = end
    if last < len(text):
        out.append(text[last:])


@lru_cache(maxsize=None)
def compile_pattern(pattern: str) -> re.Pattern:
    return re.compile(translate(pattern))


# ---- \p{..} and \s for the stdlib re ---------------------------------------------------------

def translate(pattern: str) -> str:
    """Rewrite `\\p{X}`, `\\P{X}`, `\\s`, `\\S` into explicit classes that Python's `re` understands."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            i = _translate_escape(pattern, i, in_class, out)
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


def _translate_escape(pattern: str, i: int, in_class: bool, out: list[str]) -> int:
    """Translate the escape at pattern[i] (a backslash); returns the index after it."""
    kind = pattern[i + 1]
    if kind in "pP" and pattern.startswith("{", i + 2):
        end = pattern.index("}", i + 3)
        body = _class_body(pattern[i + 3:end])
        negate = kind == "P"
        i = end + 1
    elif kind in "sS":
        body, negate, i = _ranges_body(WHITE_SPACE), kind == "S", i + 2
    else:
        out.append(pattern[i:i + 2])
        return i + 2
    if in_class and negate:
        raise TokenizerError(f"pre-tokenizer pattern uses a negated class inside brackets: {pattern!r}")
    out.append(body if in_class else f"[{'^' if negate else ''}{body}]")
    return i


@lru_cache(maxsize=None)
def _class_body(name: str) -> str:
    """`L`, `Lu`, `N`, `P`, `M`, ... -> the inside of a [...] class for that general category."""
    codes = _category_codes()
    wanted = [k for k, cat in enumerate(_CATEGORIES) if cat == name or cat[0] == name]
    if not wanted or len(name) > 2:
        raise TokenizerError(f"pre-tokenizer pattern uses an unsupported Unicode class \\p{{{name}}}")
    return _ranges_body(_runs(np.isin(codes, wanted)))


_CATEGORIES = ("Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi",
               "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn")


@lru_cache(maxsize=1)
def _category_codes() -> np.ndarray:
    """uint8 [0x110000]: index into _CATEGORIES of every code point's general category."""
    index = {cat: k for k, cat in enumerate(_CATEGORIES)}
    codes = np.full(0x110000, index["Cn"], np.uint8)
    for lo, hi in _SCAN_RANGES:
        cats = map(unicodedata.category, map(chr, range(lo, hi)))
        codes[lo:hi] = np.fromiter(map(index.__getitem__, cats), np.uint8, hi - lo)
    return codes


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """bool [n] -> inclusive (first, last) ranges of the True runs."""
    edges = np.diff(mask.astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _ranges_body(ranges) -> str:
    return "".join(_esc(a) if a == b else f"{_esc(a)}-{_esc(b)}" for a, b in ranges)


def _esc(cp: int) -> str:
    return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


def unicode_version() -> str:
    return unicodedata.unidata_version
