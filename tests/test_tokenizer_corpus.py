"""The shared tokenizer test corpus and GGUF-writing helpers (imported by the other
test_tokenizer_* modules), plus checks that the corpus covers what the parity tests promise.

The corpus avoids characters assigned after Unicode 14 (the database of Python 3.11's
unicodedata), since the oracles (tiktoken, HF tokenizers) use newer tables.
"""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path
from typing import Any, Sequence

BASE = [
    # English, contractions, punctuation
    "Hello world", " Hello world", "Hello  world", "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter!", "don't won't shouldn't", "I'M HERE, YOU'RE THERE, WE'LL SEE, THEY'VE GONE",
    "she'd've y'all 'twas rock'n'roll", "'s 'S 't 'T 're 'RE 've 'll 'd 'm", "''", "'", "!!!???...",
    "----====----", "a,b;c:d.e!f?g", "(parenthesized) [bracketed] {braced} <angled>", "\"quoted\" 'single' `tick`",
    "Mr. Smith went to Washington... again?!", "e.g., i.e., etc.", "well—dash – en dash … ellipsis",
    # numbers
    "3.14159 2718 1,000,000 0x1F 1e-9", "12345678901234567890", "2024-01-31T12:34:56Z", "v1.2.3-rc.4",
    "Call 555-0123 or +1 (555) 012-3456", "1st 2nd 3rd 4th 100th", "١٢٣٤٥ ٦٧٨٩٠", "１２３ ４５６", "Ⅻ Ⅳ ½ ¾ ² ³ ⁴",
    "99.99% of 1000000 is 999900", "0.000001", "1234 12345 123456 1234567",
    # whitespace
    " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n\n", " \n ", "a  b   c    d", "trailing spaces   ",
    "  leading spaces", "line1\r\nline2\r\n", "\u00a0non-breaking\u00a0space", "ideographic\u3000space",
    "line\u2028separator", "vertical\x0btab\x0cfeed", "tab\tseparated\tvalues", "\t tab\tseparated",
    "mixed \t \n \r\n whitespace", "word\n\n\nword", "end with newline\n", "    indented code",
    # code
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) { a[i] = b[i]; }",
    "<html><body>Hi</body></html>", "https://example.com/path?q=1&r=2#frag", "user@example.org",
    "C:\\Windows\\System32", "$HOME/.config", "SELECT * FROM users WHERE id = 42;",
    '{"key": [1, 2, 3], "nested": {"a": null}}', "ls -la | grep '^d' > out.txt 2>&1",
    "x = [i**2 for i in range(10) if i % 2 == 0]", "const f = async () => { await g(); };",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); }", "a_b_c __init__ CamelCaseName snake_case_name",
    "if (a != b && c >= d || !e) return -1;", "regex: ^\\s*[A-Za-z_]\\w*$", "@decorator\nclass Foo(Bar):\n\tpass",
    # CJK and other scripts
    "日本語のテキスト", "中文分词测试", "한국어 문장", "漢字とひらがなとカタカナ", "我爱北京天安门。",
    "今日は良い天気ですね！", "서울특별시 강남구", "Привет, мир!", "Ελληνικά γράμματα", "مرحبا بالعالم",
    "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "வணக்கம் உலகம்", "გამარჯობა", "Բարեւ աշխարհ", "ሰላም ዓለም",
    "Mixed 中文 and English with 😀 emoji", "Tiếng Việt có dấu", "Türkçe İstanbul ığüşöç", "Ünïcödé ßtraße",
    "naïve café résumé", "e\u0301 vs \u00e9 (decomposed vs composed)", "Ǆǅǆ titlecase", "ΟΔΟΣ Σίσυφος",
    "ﬁ ﬂ ligatures", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐛𝐨𝐥𝐝", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ", "zero\u200bwidth", "soft\u00adhyphen",
    # emoji
    "emoji 😀🎉👍🏽", "🏳️\u200d🌈 flag", "👨\u200d👩\u200d👧\u200d👦 family", "🇫🇷🇯🇵🇺🇸", "1️⃣ 2️⃣ #️⃣",
    "❤️ ♥ ☺️", "🤖🦄🧠", "🙂🙃😉", "👩🏾\u200d💻 coder", "emoji at end 🎉",
    # symbols
    "math: ∑ ∫ √ ∞ ≠ ≤", "$€£¥₹ prices: €9.99", "©®™ ° § ¶ †", "→ ← ↑ ↓ ⇒", "★☆♠♣♦",
    # special-looking text
    "<|im_start|>user\nhi<|im_end|>", "<|endoftext|>", "[CLS] [SEP] [MASK]", "##ing ##s", "<s> </s> <unk>",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>", "<bos>literal bos",
    # long
    "a" * 100, "word " * 30, "ab" * 60, "😀" * 20, "1" * 50, " " * 40, "\n" * 20, "=" * 70,
    "The " + "very " * 20 + "end.",
]

_POOL = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" "0123456789" "      \t\n"
         ".,;:!?'\"-()[]{}<>/\\_@#$%^&*+=|~`"
         "éèêëàâäôöûüçñßøåæœ" "日本語中文字한국어" "Привет" "αβγδ" "مرحبا" "नमस्ते" "😀🎉👍🏽❤️\u200d" "½²€→")


def _variants() -> list[str]:
    out = []
    for s in BASE[:60]:
        out += [" " + s, s + "\n"]
    return out


def _random_strings(n: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_POOL) for _ in range(rng.randint(1, 48))) for _ in range(n)]


def _dedup(items: Sequence[str]) -> list[str]:
    seen, out = set(), []
    for s in items:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


CORPUS: list[str] = _dedup([*BASE, *_variants(), *_random_strings(80)])


# ---- helpers for other tokenizer tests ---------------------------------------------------------

def write_gguf(path: Path, meta: dict[str, Any], arch: str = "llama") -> Path:
    """A GGUF with only metadata: str/bool/int/float values and arrays of str/int/float."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch=arch)
    for key, value in meta.items():
        _add(w, key, value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _add(w: Any, key: str, value: Any) -> None:
    import gguf

    if isinstance(value, bool):
        w.add_bool(key, value)
    elif isinstance(value, int):
        w.add_uint32(key, value)
    elif isinstance(value, float):
        w.add_float32(key, value)
    elif isinstance(value, str):
        w.add_string(key, value)
    elif value and isinstance(value[0], float):
        w.add_key_value(key, list(value), gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.FLOAT32)
    elif value and isinstance(value[0], int):
        w.add_key_value(key, list(value), gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32)
    else:
        w.add_array(key, list(value))


def open_tokenizer(path: Path, **overrides: Any):
    """Tokenizer from a GGUF file, with metadata keys replaced by `overrides` (None removes one)."""
    from types import SimpleNamespace

    from localllm.gguf import open_gguf
    from localllm.tokenizer import Tokenizer

    f = open_gguf(path)
    meta = {k: v for k, v in f.metadata.items()}
    for key, value in overrides.items():
        key = key if key.startswith(("tokenizer.", "general.")) else f"tokenizer.ggml.{key}"
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    return Tokenizer.from_gguf(SimpleNamespace(metadata=meta))


# ---- checks on the corpus itself ---------------------------------------------------------------

def _has(pred) -> int:
    return sum(1 for s in CORPUS if pred(s))


def test_corpus_is_large_and_varied():
    assert len(CORPUS) >= 200
    assert len(set(CORPUS)) == len(CORPUS)
    assert _has(lambda s: any("\u4e00" <= c <= "\u9fff" or "\u3040" <= c <= "\u30ff" or "\uac00" <= c <= "\ud7a3"
                              for c in s)) >= 10  # CJK
    assert _has(lambda s: "\u200d" in s) >= 3  # ZWJ sequences
    assert _has(lambda s: any(ord(c) >= 0x1F300 for c in s)) >= 10  # emoji
    assert _has(lambda s: any(c.isdigit() for c in s) and len(s) > 8) >= 10  # digit runs
    assert _has(lambda s: "  " in s or "\t" in s or "\n\n" in s) >= 10  # whitespace runs
    assert _has(lambda s: any(k in s for k in ("def ", "{", "SELECT", "#include", "=>"))) >= 8  # code
    scripts = lambda s: {unicodedata.name(c, "?").split()[0] for c in s if c.isalpha()}  # noqa: E731
    assert _has(lambda s: len(scripts(s)) >= 3) >= 5  # mixed scripts


def test_corpus_uses_no_character_newer_than_python_unicode():
    unassigned = {c for s in CORPUS for c in s if unicodedata.category(c) == "Cn"}
    assert not unassigned
