"""The Python API (`localllm.Llama`) and the engine under it, on the real default model:
llama-cpp-python's return shapes, prefix reuse, stop conditions, the context policy, cancel,
saved state, seeded sampling and typed errors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from localllm import ContextLengthExceeded, Llama, UsageError
from localllm.generation import StopStrings
from localllm.sampling import SamplingError, SamplingParams

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "gemma3-270m"
pytestmark = pytest.mark.slow
PROMPT = "The capital of France is"

# llama-cpp-python 0.3.36 (llama_cpp/llama.py, llama_chat_format.py): the keys of each dict it returns.
COMPLETION_KEYS = {"id", "object", "created", "model", "choices", "usage"}
COMPLETION_CHOICE_KEYS = {"text", "index", "logprobs", "finish_reason"}
COMPLETION_CHUNK_KEYS = {"id", "object", "created", "model", "choices"}
CHAT_KEYS = {"id", "object", "created", "model", "choices", "usage"}
CHAT_CHOICE_KEYS = {"index", "message", "logprobs", "finish_reason"}
CHAT_CHUNK_KEYS = {"id", "model", "created", "object", "choices"}
CHAT_CHUNK_CHOICE_KEYS = {"index", "delta", "logprobs", "finish_reason"}
USAGE_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens"}


@pytest.fixture(scope="module")
def llm(default_model_path):
    with Llama(default_model_path, n_ctx=1024, n_threads=2, verbose=False) as model:
        yield model


def chat(content: str) -> list[dict]:
    return [{"role": "user", "content": content}]


def test_greedy_completion_matches_llama_cpp(llm):
    case = json.loads((REFERENCE / "greedy.json").read_text())["cases"][0]
    assert case["prompt"] == PROMPT
    gen = llm.generate(case["prompt_tokens"], temp=0)
    tokens = [next(gen) for _ in range(12)]
    # llama.cpp's 5th token wins a near tie (logit gap < 0.1, inside the noise floor that
    # tests/test_gemma3_reference.py explains), so the exact agreement asked of the API is 4 tokens.
    assert tokens[:4] == case["greedy_tokens"][:4]
    result = llm(PROMPT, max_tokens=12, temperature=0)
    assert result["choices"][0]["text"] == llm.detokenize(tokens).decode()
    assert result["usage"] == {"prompt_tokens": len(case["prompt_tokens"]), "completion_tokens": 12,
                               "total_tokens": len(case["prompt_tokens"]) + 12}


def test_completion_and_its_stream_have_llama_cpp_pythons_shapes(llm):
    whole = llm.create_completion(PROMPT, max_tokens=10, temperature=0)
    assert set(whole) == COMPLETION_KEYS and whole["object"] == "text_completion"
    assert whole["id"].startswith("cmpl-") and set(whole["usage"]) == USAGE_KEYS
    assert set(whole["choices"][0]) == COMPLETION_CHOICE_KEYS and whole["choices"][0]["finish_reason"] == "length"
    chunks = list(llm.create_completion(PROMPT, max_tokens=10, temperature=0, stream=True))
    for chunk in chunks:
        assert set(chunk) == COMPLETION_CHUNK_KEYS and chunk["object"] == "text_completion"
        assert set(chunk["choices"][0]) == COMPLETION_CHOICE_KEYS and chunk["choices"][0]["logprobs"] is None
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + ["length"]
    assert chunks[-1]["choices"][0]["text"] == ""
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    assert len({c["id"] for c in chunks}) == 1


def test_chat_completion_and_its_stream_have_llama_cpp_pythons_shapes(llm):
    whole = llm.create_chat_completion(chat("Name a colour."), max_tokens=8, temperature=0)
    assert set(whole) == CHAT_KEYS and whole["object"] == "chat.completion" and whole["id"].startswith("chatcmpl-")
    choice = whole["choices"][0]
    assert set(choice) == CHAT_CHOICE_KEYS and choice["message"]["role"] == "assistant"
    chunks = list(llm.create_chat_completion(chat("Name a colour."), max_tokens=8, temperature=0, stream=True))
    for chunk in chunks:
        assert set(chunk) == CHAT_CHUNK_KEYS and chunk["object"] == "chat.completion.chunk"
        assert set(chunk["choices"][0]) == CHAT_CHUNK_CHOICE_KEYS
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant"} and deltas[-1] == {}
    assert all(set(d) == {"content"} for d in deltas[1:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert "".join(d["content"] for d in deltas[1:-1]) == choice["message"]["content"]


def test_second_chat_turn_evaluates_only_the_new_tokens(llm):
    llm.reset()
    first = chat("Tell me about the moon.")
    reply = llm.create_chat_completion(first, max_tokens=12, temperature=0)["choices"][0]["message"]
    cached = llm.input_ids.tolist()
    second = [*first, reply, {"role": "user", "content": "And the sun?"}]
    prompt = llm.chat_tokens(second)
    assert prompt[:len(cached)] == cached  # the history re-tokenizes to what the cache holds
    llm.create_chat_completion(second, max_tokens=4, temperature=0)
    assert llm.last_stats.n_prefilled == len(prompt) - len(cached)
    turn_text = "<end_of_turn>\n<start_of_turn>user\nAnd the sun?<end_of_turn>\n<start_of_turn>model\n"
    assert llm.last_stats.n_prefilled <= len(llm.tokenize(turn_text, add_bos=False, special=True)) + 1


def test_seeded_sampling_is_reproducible(llm):
    texts = [llm(PROMPT, max_tokens=24, temperature=1.0, seed=seed)["choices"][0]["text"] for seed in (7, 7, 8)]
    assert texts[0] == texts[1] and texts[0] != texts[2]
    seeded = Llama(llm.model_path, n_ctx=256, seed=7, verbose=False)
    assert seeded(PROMPT, max_tokens=24, temperature=1.0)["choices"][0]["text"] == texts[0]
    seeded.close()


def test_generate_yields_the_same_tokens_as_completion(llm):
    prompt = llm.tokenize(b"Once upon a time")
    gen = llm.generate(prompt, temp=0)
    tokens = [next(gen) for _ in range(10)]
    text = llm(prompt, max_tokens=10, temperature=0)["choices"][0]["text"]
    assert llm.detokenize(tokens).decode() == text


def test_stop_strings_end_the_text_before_them_and_never_leak(llm):
    full = llm(PROMPT, max_tokens=16, temperature=0)["choices"][0]["text"]
    stop = full.split()[3]  # a word from the middle of the greedy continuation
    cut = llm(PROMPT, max_tokens=16, temperature=0, stop=[stop])
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert cut["choices"][0]["text"] == full[:full.index(stop)]
    pieces = [c["choices"][0]["text"] for c in llm(PROMPT, max_tokens=16, temperature=0, stop=stop, stream=True)]
    assert "".join(pieces) == full[:full.index(stop)]


def test_stop_strings_hold_back_possible_starts():
    s = StopStrings(["<END>"])
    assert s.push("abc<E") == ("abc", False)
    assert s.push("N") == ("", False)
    assert s.push("X") == ("<ENX", False)
    assert s.push("d<END>tail") == ("d", True)
    assert StopStrings([]).push("any") == ("any", False)


def test_an_end_of_generation_token_stops_with_reason_stop(llm):
    eot = llm.tokenizer_.token_id("<end_of_turn>")
    result = llm(PROMPT, max_tokens=16, temperature=0, logit_bias={eot: 100.0})
    assert result["choices"][0]["finish_reason"] == "stop" and result["choices"][0]["text"] == ""
    assert result["usage"]["completion_tokens"] == 0


def test_a_prompt_longer_than_the_context_names_both_numbers(default_model_path):
    small = Llama(default_model_path, n_ctx=32, verbose=False)
    n = len(small.tokenize("word " * 60))
    with pytest.raises(ContextLengthExceeded) as info:
        small("word " * 60, max_tokens=4)
    assert f"{n} tokens" in str(info.value) and "holds 32" in str(info.value)
    assert (info.value.n_tokens, info.value.n_ctx) == (n, 32)
    result = small("word " * 20, max_tokens=None, temperature=0)  # generation runs into the end
    assert result["choices"][0]["finish_reason"] == "length"
    assert result["usage"]["total_tokens"] == 32 + 1  # the last sampled token needs no cell
    small.close()


def test_context_shift_keeps_generating_past_the_context(default_model_path):
    with Llama(default_model_path, n_ctx=48, context_shift=True, n_keep=4, verbose=False) as shifting:
        prompt = shifting.tokenize(b"Count: one two three four five")
        result = shifting(prompt, max_tokens=100, temperature=0)
        assert result["choices"][0]["finish_reason"] == "length" and result["usage"]["completion_tokens"] == 100
        assert shifting.n_tokens <= 48
        assert shifting.input_ids[:5].tolist() == prompt[:5]  # BOS + the 4 kept tokens survive every shift


def test_context_shift_can_keep_the_whole_first_prompt(default_model_path):
    with Llama(default_model_path, n_ctx=40, context_shift=True, n_keep=-1, verbose=False) as shifting:
        prompt = shifting.tokenize(b"Keep all of this: one two three four five six")
        shifting(prompt, max_tokens=60, temperature=0)
        assert shifting.input_ids[:len(prompt)].tolist() == prompt and shifting.n_tokens <= 40


def test_cancel_stops_within_one_forward_and_the_next_call_works(llm):
    llm.reset()
    generation = llm.start_generation(llm.tokenize(b"Once upon a time"), SamplingParams(temperature=0))
    timer = threading.Timer(0.3, llm.cancel)
    timer.start()
    start = time.perf_counter()
    text = "".join(generation)
    assert generation.finish_reason == "cancelled" and time.perf_counter() - start < 1.5 and text
    assert llm._lm.model.kv_used == llm.n_tokens  # nothing half-evaluated stays in the cache
    assert llm(PROMPT, max_tokens=3, temperature=0)["choices"][0]["finish_reason"] == "length"


def test_saved_state_restores_the_continuation(llm, default_model_path):
    llm.reset()
    llm(PROMPT, max_tokens=6, temperature=0)
    state = llm.save_state()
    assert state.n_tokens == llm.n_tokens and state.llama_state_size == len(state.llama_state)
    gen = llm.generate(state.input_ids.tolist(), temp=0)
    after = [next(gen) for _ in range(8)]
    llm.reset()
    llm.load_state(state)
    assert llm.input_ids.tolist() == state.input_ids.tolist()
    np.testing.assert_array_equal(llm._session.last_logits, state.scores)
    gen = llm.generate(state.input_ids.tolist(), temp=0)
    assert [next(gen) for _ in range(8)] == after
    with Llama(default_model_path, n_ctx=1024, type_k="q8_0", verbose=False) as other, \
            pytest.raises(UsageError, match="does not fit"):
        other.load_state(state)


def test_tokenize_and_detokenize(llm):
    ids = llm.tokenize(b"Hello world")
    assert ids[0] == llm.token_bos() and llm.detokenize(ids) == b"Hello world"
    assert llm.detokenize(ids[2:], prev_tokens=ids[:2]) == b" world"
    assert llm.tokenize("<start_of_turn>", add_bos=False, special=True) == [105]


def test_logits_processors_run_and_non_finite_logits_are_an_error(llm):
    only_7 = lambda ids, scores: np.where(np.arange(scores.size) == 7, scores, -np.inf)  # noqa: E731
    gen = llm.generate(llm.tokenize(b"Hi"), temp=0, logits_processor=[only_7])
    assert next(gen) == 7
    nan = lambda ids, scores: np.full_like(scores, np.nan)  # noqa: E731
    with pytest.raises(SamplingError, match="non-finite"):
        llm(PROMPT, max_tokens=2, logits_processor=[nan])


def test_typed_errors_for_unsupported_settings(default_model_path):
    with pytest.raises(UsageError, match="GPU offload"):
        Llama(default_model_path, n_gpu_layers=1)
    with pytest.raises(TypeError, match="bogus"):
        Llama(default_model_path, bogus=1)
    with pytest.raises(UsageError, match="KV cache type"):
        Llama(default_model_path, type_k=99)
    vocab = Llama(default_model_path, vocab_only=True)
    assert vocab.tokenize(b"Hello") == [2, 9259]
    with pytest.raises(UsageError, match="vocab_only"):
        vocab(PROMPT)


EMBEDDING_KEYS = {"object", "data", "model", "usage"}


def test_embeddings_through_the_api_match_llama_embedding(default_model_path):
    reference = json.loads((REFERENCE / "embeddings.json").read_text())
    sentences = reference["sentences"]
    for pooling_type, name in ((1, "mean"), (3, "last")):
        with Llama(default_model_path, embedding=True, pooling_type=pooling_type, n_ctx=512, verbose=False) as emb:
            vectors = emb.encode(sentences, normalize_embeddings=True, batch_size=3)
            expected = np.array(reference["pooling"][name], np.float32)
            assert vectors.shape == expected.shape
            assert (np.sum(vectors * expected, axis=1) >= 0.99).all()
            assert np.allclose(emb.encode(sentences[0], normalize_embeddings=True), vectors[0], atol=1e-4)
            response = emb.create_embedding(sentences[:2])
            assert set(response) == EMBEDDING_KEYS and response["object"] == "list"
            assert [set(d) for d in response["data"]] == [{"object", "embedding", "index"}] * 2
            raw = np.array(response["data"][0]["embedding"])
            assert np.allclose(raw / np.linalg.norm(raw), vectors[0], atol=1e-4)
            assert response["usage"]["prompt_tokens"] == sum(len(emb.tokenize(s.encode())) for s in sentences[:2])
            with pytest.raises(UsageError, match="embedding=True"):
                emb(PROMPT)


def test_a_text_model_refuses_embeddings(llm):
    with pytest.raises(UsageError, match="embedding=True"):
        llm.embed("hello")
