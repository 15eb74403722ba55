"""Embeddings: a tiny random BERT (transformers) converted by localllm.convert vs transformers'
hidden states; the default gemma3 model vs llama.cpp's llama-embedding (the reference data);
batching, truncation and the Embedder's errors.

The tiny BERT's weights are re-drawn (matrices N(0, (1.5 / sqrt(fan_in))^2), LayerNorm scales
1 + N(0, 0.2^2), biases N(0, 0.2^2)) so that attention is far from uniform and a missing mask,
position table or bias would show. F32 weights and an F32 KV cache: only the float summation
order differs from transformers (measured max |diff| ~1e-6 of the hidden-state scale).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizer

from localllm.convert import convert
from localllm.embedding import Embedder, normalize_embeddings, pack
from localllm.engine import load_model
from localllm.errors import ContextLengthExceeded, UsageError

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "gemma3-270m" / "embeddings.json"
WORDS = ["the", "cat", "dog", "sat", "on", "mat", "run", "park", "big", "small", "red", "blue", "a", "is", "in"]
PIECES = ["##s", "##ing", "##ed", "##er", ".", ",", "!", "?", "1", "2", "3"]
TEXTS = ["The cat sat on the mat.", "A big dog is running in the park!", "red", "Blue cats, small dogs?",
         "the the the cat 123 sat", "Dogs running, cats sitting... mats!"]
GAIN = 1.5
F32_TOL = 1e-4         # relative to the largest |hidden value|


def _randomize(model: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim >= 2:
                p.copy_(noise * (GAIN / math.sqrt(p.shape[-1])))
            elif "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_(0.2 * noise)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """(GGUF path, transformers model, HF tokenizer) of a tiny random BertModel converted to F32."""
    hf_dir = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *PIECES]
    (hf_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(hf_dir / "vocab.txt"))
    tokenizer.save_pretrained(hf_dir)
    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64, type_vocab_size=2,
                        attn_implementation="eager")
    torch.manual_seed(0)
    model = BertModel(config, add_pooling_layer=True).eval()
    _randomize(model)
    model.save_pretrained(hf_dir)
    path = convert(hf_dir, hf_dir / "tiny-bert-f32.gguf", outtype="f32")
    return path, model, tokenizer


def _hf_hidden(model, tokenizer, text: str) -> np.ndarray:
    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model(**ids).last_hidden_state[0].numpy()   # [n_tokens, hidden]


def test_tiny_bert_per_token_and_mean_match_transformers(tiny_bert):
    path, model, tokenizer = tiny_bert
    with load_model(path, embedding=True, n_threads=2, type_k="f32", type_v="f32") as lm:
        assert lm.model.n_vocab == 64 and lm.model.hparams.causal is False
        per_token = Embedder(lm, "none").embed(TEXTS, normalize=-1)   # all texts in one batch
        mean = Embedder(lm, "mean").embed(TEXTS, normalize=-1)
        cls = Embedder(lm, "cls").embed(TEXTS, normalize=-1)
        ids = [lm.tokenizer.encode(t) for t in TEXTS]
    for i, text in enumerate(TEXTS):
        assert ids[i] == tokenizer(text)["input_ids"], text
        ref = _hf_hidden(model, tokenizer, text)
        scale = np.abs(ref).max()
        assert per_token[i].shape == ref.shape
        assert np.abs(per_token[i] - ref).max() <= F32_TOL * scale, text
        assert np.abs(mean[i] - ref.mean(0)).max() <= F32_TOL * scale, text
        assert np.abs(cls[i] - ref[0]).max() <= F32_TOL * scale, text


def test_tiny_bert_gguf_metadata(tiny_bert):
    path = tiny_bert[0]
    with load_model(path, embedding=True) as lm:
        g = lm.gguf
        assert g.get("general.architecture") == "bert" and g.get("bert.attention.causal") is False
        assert g.get("tokenizer.ggml.model") == "bert" and g.get("bert.pooling_type") is None
        assert g.get("bert.attention.layer_norm_epsilon") == pytest.approx(1e-12)
        assert g.tensor("position_embd.weight").type.name == "F32"
        tokens = g.get("tokenizer.ggml.tokens")
        assert tokens[5] == "\u2581the" and tokens[2] == "[CLS]" and "s" in tokens  # ##s -> s
        assert Embedder(lm).pooling == "mean"    # no pooling_type in the file


def test_encoder_keeps_no_kv_cache(tiny_bert):
    with load_model(tiny_bert[0], embedding=True) as lm:
        Embedder(lm).embed(TEXTS)
        assert lm.model.kv_used == 0


def test_batch_equals_one_by_one_and_packing(tiny_bert):
    """Packed in one batch, in batches of 16 tokens, and one at a time: the same vectors."""
    path = tiny_bert[0]
    texts = TEXTS * 4
    with load_model(path, embedding=True, n_threads=2) as lm:
        together = Embedder(lm).embed(texts)
        alone = np.stack([Embedder(lm).embed(t)[0] for t in texts])
    with load_model(path, embedding=True, n_threads=2, n_batch=16) as lm:
        small = Embedder(lm).embed(texts)
    for other in (alone, small):
        assert np.abs(other - together).max() <= 1e-4 * np.abs(together).max()
    assert pack([5, 5, 7, 16, 1], 16) == [[0, 1], [2], [3], [4]]


def test_truncation(tiny_bert):
    long_text = " ".join(WORDS * 5)                  # 75 words + CLS/SEP > 64 positions
    with load_model(tiny_bert[0], embedding=True) as lm:
        embedder = Embedder(lm)
        assert embedder.max_tokens == 64
        with pytest.raises(ContextLengthExceeded) as info:
            embedder.embed([long_text])
        assert "77 tokens" in str(info.value) and "64" in str(info.value)
        assert info.value.n_tokens == 77 and info.value.n_ctx == 64
        result = embedder.embed_with_counts([long_text, "cat"], truncate=True)
        ids = embedder.tokenize(long_text, truncate=True)
        assert result.n_tokens == [64, 3] and ids[0] == 2 and ids[-1] == 3 and len(ids) == 64
        assert np.allclose(result.vectors[0], embedder.embed([ids])[0], atol=1e-6)


def test_embedder_errors(tiny_bert, default_model_path):
    with load_model(tiny_bert[0], embedding=True) as lm:
        with pytest.raises(UsageError, match="pooling"):
            Embedder(lm, "max")
        with pytest.raises(UsageError, match="normalize"):
            Embedder(lm).embed(["x"], normalize=-2)
        with pytest.raises(UsageError, match="no tokens"):
            Embedder(lm).embed([[]])
        with pytest.raises(UsageError, match="input 1"):
            Embedder(lm).embed(["ok", 3.5])
        with pytest.raises(UsageError, match="vocabulary"):
            Embedder(lm).embed([[1, 2, 99999]])
    with load_model(default_model_path, n_ctx=64) as lm:
        with pytest.raises(UsageError, match="embedding=True"):
            Embedder(lm)


def test_normalize_modes():
    x = np.array([[3.0, -4.0], [0.0, 0.0]], np.float32)
    assert np.allclose(normalize_embeddings(x, 2)[0], [0.6, -0.8])
    assert np.allclose(normalize_embeddings(x, 1)[0], [3 / 7, -4 / 7])
    assert np.allclose(normalize_embeddings(x, 0)[0], [3 * 32760 / 4, -32760])
    assert np.allclose(normalize_embeddings(x, 3)[0], np.array([3, -4]) / (3**3 + 4**3) ** (1 / 3))
    assert np.array_equal(normalize_embeddings(x, -1), x) and not normalize_embeddings(x, 2)[1].any()


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_gemma3_matches_llama_embedding(default_model_path, pooling):
    """The default model, each sentence its own sequence (BOS, causal), vs llama.cpp's vectors."""
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    with load_model(default_model_path, embedding=True, n_ctx=512, n_threads=2) as lm:
        embedder = Embedder(lm, pooling)
        vectors = embedder.embed(ref["sentences"])
        alone = np.stack([embedder.embed(s)[0] for s in ref["sentences"]])
    expected = np.asarray(ref["pooling"][pooling], np.float32)
    assert vectors.shape == expected.shape
    cosines = (vectors * expected).sum(1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.99, cosines
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.abs(alone - vectors).max() <= 1e-4
