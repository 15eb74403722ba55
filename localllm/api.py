"""`Llama`: the Python API, the subset of llama-cpp-python's `Llama` that scripts use, with the same
names, defaults and return shapes (OpenAI-style dicts; `stream=True` yields chunks shaped as
llama-cpp-python's), so code written for it runs on localllm.

    from localllm import Llama
    llm = Llama("model.gguf", n_ctx=2048)          # or Llama() for the default model
    llm("The capital of France is", max_tokens=8)["choices"][0]["text"]
    llm.create_chat_completion([{"role": "user", "content": "Hi"}])["choices"][0]["message"]

Not thread-safe: one call at a time per Llama. `cancel()` may be called from any thread (or a
signal handler) to stop the running generation within one forward pass.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .chat import ChatTemplate, resolve_template
from .engine import ContextFull, Session, load_model
from .errors import UsageError
from .generation import Generation, GenerationStats
from .gguf import open_gguf
from .model_path import resolve_model
from .sampling import Chain, LogitsProcessor, SamplingParams
from .tokenizer import Tokenizer

logger = logging.getLogger("localllm")
logger.addHandler(logging.NullHandler())

LLAMA_DEFAULT_SEED = 0xFFFFFFFF  # llama-cpp-python's "pick a random seed"
KV_TYPE_NAMES = {0: "f32", 1: "f16", 8: "q8_0"}  # ggml type ids llama-cpp-python passes as type_k / type_v
CHAT_FORMAT_ALIASES = {"llama-2": "llama2", "llama-3": "llama3", "mistral-instruct": "mistral"}
IGNORED_OPTIONS = frozenset({  # llama-cpp-python options that do not change results here
    "use_mlock", "flash_attn", "offload_kqv", "numa", "split_mode", "main_gpu", "tensor_split", "no_perf",
    "op_offload", "swa_full", "logits_all", "kv_overrides"})


@dataclass
class LlamaState:
    """What save_state() captured: the evaluated tokens, the logits after the last one and the
    KV cache bytes (valid for the same model, context size and cache type, on this machine)."""

    input_ids: np.ndarray   # int32 [n_tokens]
    scores: np.ndarray      # float32 [n_vocab], logits after input_ids[-1] (empty when n_tokens is 0)
    n_tokens: int
    llama_state: bytes
    llama_state_size: int
    seed: int


class Llama:
    """A loaded model ready for completion, chat and tokenization."""

    def __init__(self, model_path: str | os.PathLike | None = None, *, n_gpu_layers: int | str = 0,
                 vocab_only: bool = False, use_mmap: bool = True, seed: int = LLAMA_DEFAULT_SEED,
                 n_ctx: int = 512, n_batch: int = 512, n_ubatch: int = 512, n_threads: int | None = None,
                 n_threads_batch: int | None = None, embedding: bool = False, pooling_type: int | str = -1,
                 type_k: int | str | None = None, type_v: int | str | None = None, chat_format: str | None = None,
                 last_n_tokens_size: int = 64, context_shift: bool = False, n_keep: int = 0,
                 verbose: bool = True, progress: Callable[[str], None] | None = None, **options: Any):
        _check_options(options)
        self.model_path = str(resolve_model(model_path))
        self.verbose = verbose
        self._seed = seed
        self.last_n_tokens_size = last_n_tokens_size
        self.embedding = embedding
        self.pooling_type = pooling_type
        self.chat_format = chat_format
        self._template: ChatTemplate | None = None
        self._lm = None
        self._session: Session | None = None
        self._last: Generation | None = None
        self._embedder_cache = None
        start = time.perf_counter()
        if vocab_only:
            self._gguf = open_gguf(self.model_path, use_mmap=use_mmap)
            self._tokenizer = Tokenizer.from_gguf(self._gguf)
        else:
            self._lm = load_model(self.model_path, n_ctx=n_ctx, n_batch=min(n_batch, n_ubatch), n_threads=n_threads,
                                  n_threads_batch=n_threads_batch, type_k=_kv_type(type_k),
                                  type_v=_kv_type(type_v), use_mmap=use_mmap, embedding=embedding,
                                  n_gpu_layers=n_gpu_layers, progress=progress)
            self._gguf, self._tokenizer = self._lm.gguf, self._lm.tokenizer
            self._session = Session(self._lm, context_shift=context_shift, n_keep=n_keep)
        self._log(f"loaded {self.model_path} in {time.perf_counter() - start:.2f} s")

    # -- facts ---------------------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self._gguf.metadata.items() if isinstance(v, (str, int, float, bool))}

    def n_ctx(self) -> int:
        return self._loaded().n_ctx

    def n_vocab(self) -> int:
        return self._tokenizer.vocab_size

    def n_embd(self) -> int:
        return self._loaded().model.hparams.n_embd

    def token_bos(self) -> int:
        return -1 if self._tokenizer.bos_id is None else self._tokenizer.bos_id

    def token_eos(self) -> int:
        return -1 if self._tokenizer.eos_id is None else self._tokenizer.eos_id

    def model_card(self) -> dict[str, Any]:
        """What the CLI's one-line model card and /show info print."""
        from .model_info import describe

        info, lm = describe(self._gguf), self._loaded()
        return {"name": info.name, "architecture": info.architecture, "parameters": info.parameters,
                "quantization": info.file_type, "n_ctx": lm.n_ctx, "n_ctx_train": info.context_length,
                "template": self.chat_template.name, "threads": lm.context.threads,
                "threads_batch": (lm.batch_context or lm.context).threads, "kernels": lm.context.level,
                "kv_bytes": lm.model.kv_bytes, "gpu_layers": lm.model.n_gpu_layers, "kv_types": f"{lm.model.config.type_k}/{lm.model.config.type_v}",
                "path": self.model_path}

    @property
    def n_tokens(self) -> int:
        """Tokens the KV cache holds."""
        return len(self._session.tokens) if self._session else 0

    @property
    def input_ids(self) -> np.ndarray:
        return np.array(self._session.tokens if self._session else [], dtype=np.int32)

    @property
    def tokenizer_(self) -> Tokenizer:
        return self._tokenizer

    # -- tokens --------------------------------------------------------------------------------
    def tokenize(self, text: bytes | str, add_bos: bool = True, special: bool = False) -> list[int]:
        """Token ids of `text` (utf-8 bytes or str); add_bos adds the model's BOS where it wants one."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return self._tokenizer.encode(text, add_special=add_bos, parse_special=special)

    def detokenize(self, tokens: Sequence[int], prev_tokens: Sequence[int] | None = None,
                   special: bool = False) -> bytes:
        """The utf-8 bytes of `tokens`; with prev_tokens, only the bytes the tokens add after them."""
        ids = [int(t) for t in tokens]
        if prev_tokens:
            before = self._tokenizer.decode(list(prev_tokens), skip_special=not special).encode()
            return self._tokenizer.decode([*prev_tokens, *ids], skip_special=not special).encode()[len(before):]
        return b"".join(self._tokenizer.token_to_piece(t, special) for t in ids)

    # -- generation ----------------------------------------------------------------------------
    def generate(self, tokens: Sequence[int], top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05,
                 typical_p: float = 1.0, temp: float = 0.80, repeat_penalty: float = 1.0, reset: bool = True,
                 frequency_penalty: float = 0.0, presence_penalty: float = 0.0, seed: int | None = None,
                 logits_processor: Sequence[LogitsProcessor] | None = None, stopping_criteria=None,
                 **unused: Any) -> Iterator[int]:
        """Yields sampled token ids after `tokens` (temp <= 0: greedy) until the caller stops or the
        context is full. The prefix `tokens` shares with what the cache holds is not evaluated again.
        `send(ids)` to the generator evaluates those ids after the token just yielded."""
        session = self._generating()
        chain = self._chain(SamplingParams(temp, top_k, top_p, min_p, repeat_penalty, self.last_n_tokens_size,
                                           frequency_penalty, presence_penalty, self._draw_seed(seed)),
                            logits_processor)
        self._loaded().model.set_abort(False)
        logits = session.prefill(tokens)
        for token in tokens:
            chain.accept(token)
        while True:
            token = chain.sample(logits, session.tokens)
            chain.accept(token)
            if stopping_criteria is not None and stopping_criteria(self.input_ids, logits):
                return
            extra = yield token
            try:
                logits = session.prefill([*session.tokens, token, *extra]) if extra else session.decode_one(token)
            except ContextFull:
                return

    def create_completion(self, prompt: str | Sequence[int], suffix: str | None = None, max_tokens: int | None = 16,
                          temperature: float = 0.8, top_p: float = 0.95, min_p: float = 0.05,
                          typical_p: float = 1.0, logprobs: int | None = None, echo: bool = False,
                          stop: str | Sequence[str] | None = None, frequency_penalty: float = 0.0,
                          presence_penalty: float = 0.0, repeat_penalty: float = 1.0, top_k: int = 40,
                          stream: bool = False, seed: int | None = None, model: str | None = None,
                          logits_processor: Sequence[LogitsProcessor] | None = None,
                          logit_bias: dict[int, float] | None = None, **unused: Any):
        """A text completion of `prompt` (a string, tokenized with BOS, or token ids): an OpenAI-style
        dict, or with stream=True an iterator of chunks. max_tokens None or <= 0: until the end."""
        if logprobs is not None:
            raise UsageError("logprobs are not supported")
        prompt_tokens = self.tokenize(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]
        params = SamplingParams(temperature, top_k, top_p, min_p, repeat_penalty, self.last_n_tokens_size,
                                frequency_penalty, presence_penalty, self._draw_seed(seed), dict(logit_bias or {}))
        generation = self.start_generation(prompt_tokens, params, max_tokens=max_tokens, stop=stop,
                                           logits_processor=logits_processor)
        head = {"id": f"cmpl-{uuid.uuid4()}", "object": "text_completion", "created": int(time.time()),
                "model": model or self.model_path}
        prefix = prompt if echo and isinstance(prompt, str) else ""
        if stream:
            return _completion_chunks(generation, head, prefix, suffix)
        text = prefix + "".join(generation) + (suffix or "")
        return {**head, "choices": [{"text": text, "index": 0, "logprobs": None,
                                     "finish_reason": generation.finish_reason}],
                "usage": _usage(len(prompt_tokens), len(generation.tokens))}

    __call__ = create_completion

    def create_chat_completion(self, messages: Sequence[dict[str, Any]], temperature: float = 0.2,
                               top_p: float = 0.95, top_k: int = 40, min_p: float = 0.05, typical_p: float = 1.0,
                               stream: bool = False, stop: str | Sequence[str] | None = None,
                               seed: int | None = None, max_tokens: int | None = None,
                               presence_penalty: float = 0.0, frequency_penalty: float = 0.0,
                               repeat_penalty: float = 1.0, model: str | None = None,
                               logits_processor: Sequence[LogitsProcessor] | None = None,
                               logit_bias: dict[int, float] | None = None, **unused: Any):
        """A reply to `messages` (OpenAI-style) rendered with the model's chat template: an OpenAI
        chat.completion dict, or with stream=True an iterator of chat.completion.chunk dicts."""
        prompt_tokens = self.chat_tokens(messages)
        completion = self.create_completion(
            prompt_tokens, max_tokens=max_tokens, temperature=temperature, top_p=top_p, min_p=min_p, stop=stop,
            frequency_penalty=frequency_penalty, presence_penalty=presence_penalty, repeat_penalty=repeat_penalty,
            top_k=top_k, stream=stream, seed=seed, model=model, logits_processor=logits_processor,
            logit_bias=logit_bias)
        return _chat_chunks(completion) if stream else _chat_completion(completion)

    def chat_tokens(self, messages: Sequence[dict[str, Any]]) -> list[int]:
        """The prompt tokens of a conversation, with the generation prompt for the assistant's turn."""
        return self._tokenizer.encode_chat(self.chat_template.render(messages, add_generation_prompt=True))

    @property
    def chat_template(self) -> ChatTemplate:
        """The template chat uses: chat_format's built-in if given, else the model's own (a built-in
        fallback for files without one is logged)."""
        if self._template is None:
            name = CHAT_FORMAT_ALIASES.get(self.chat_format, self.chat_format)
            self._template = resolve_template(self._gguf, self._tokenizer, name=name)
            if self._template.announcement:
                logger.info(self._template.announcement)
        return self._template

    def set_chat_template(self, name: str | None = None, file: str | os.PathLike | None = None) -> ChatTemplate:
        """Chat with a built-in template (`name`) or a jinja2 file instead of the model's own."""
        self._template = resolve_template(self._gguf, self._tokenizer, name=name, file=file)
        return self._template

    def start_generation(self, prompt_tokens: Sequence[int], params: SamplingParams, *,
                         max_tokens: int | None = None, stop: str | Sequence[str] | None = None,
                         logits_processor: Sequence[LogitsProcessor] | None = None,
                         progress=None) -> Generation:
        """The lower-level form of create_completion: a `Generation` to iterate for text pieces,
        with finish_reason, tokens and stats afterwards (the command line uses this)."""
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        self._last = Generation(self._generating(), prompt_tokens, self._chain(params, logits_processor),
                                max_tokens=max_tokens if max_tokens and max_tokens > 0 else None, stop=stops,
                                progress=progress)
        return self._last

    @property
    def last_stats(self) -> GenerationStats | None:
        """Token counts and timings of the latest completion (prompt tokens evaluated vs reused...)."""
        return self._last.stats if self._last is not None else None

    def cancel(self) -> None:
        """Stops the running generation (or prefill) within one forward pass. Any thread."""
        if self._lm is not None:
            self._lm.model.set_abort(True)

    # -- embeddings ----------------------------------------------------------------------------
    def embed(self, input: str | Sequence[str], normalize: bool = False, truncate: bool = False,
              return_count: bool = False):
        """Embedding of a text (a list of floats) or of each text of a list (a list of lists); with
        pooling "none", a list of token vectors per text. Pooling from pooling_type, else the file's.
        An input longer than the batch / context is a ContextLengthExceeded unless truncate=True."""
        result = self._embedder().embed_with_counts(input, normalize=bool(normalize), truncate=truncate)
        vectors = [v.tolist() for v in result.vectors]
        vectors = vectors[0] if isinstance(input, str) else vectors
        return (vectors, sum(result.n_tokens)) if return_count else vectors

    def create_embedding(self, input: str | Sequence[str], model: str | None = None) -> dict[str, Any]:
        """OpenAI-style embeddings response (unnormalized vectors, as llama-cpp-python returns)."""
        inputs = [input] if isinstance(input, str) else list(input)
        vectors, n_tokens = self.embed(inputs, return_count=True)
        return {"object": "list", "data": [{"object": "embedding", "embedding": v, "index": i}
                                           for i, v in enumerate(vectors)],
                "model": model or self.model_path, "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}}

    def encode(self, sentences: str | Sequence[str], batch_size: int = 32, normalize_embeddings: bool = False,
               truncate: bool = False) -> np.ndarray:
        """sentence-transformers' encode: float32 [n, n_embd] for a list (or [n_embd] for one
        string), `batch_size` sentences handed to the packer at a time."""
        if batch_size < 1:
            raise UsageError(f"batch_size must be positive, not {batch_size}")
        texts = [sentences] if isinstance(sentences, str) else list(sentences)
        embedder = self._embedder()
        parts = [embedder.embed(texts[i:i + batch_size], normalize=normalize_embeddings, truncate=truncate)
                 for i in range(0, len(texts), batch_size)]
        vectors = np.concatenate(parts) if parts else np.empty((0, self.n_embd()), np.float32)
        return vectors[0] if isinstance(sentences, str) else vectors

    def _embedder(self):
        from .embedding import POOLING_TYPES, Embedder

        lm = self._loaded()
        if not self.embedding:
            raise UsageError("embeddings need a model made with embedding=True")
        if self._embedder_cache is None:
            self._embedder_cache = Embedder(lm, _pooling_name(self.pooling_type, POOLING_TYPES))
        return self._embedder_cache

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forgets the evaluated tokens (the next prompt is evaluated from the start)."""
        if self._session is not None:
            self._session.reset()

    def save_state(self) -> LlamaState:
        session = self._generating()
        kv = self._lm.model.kv_state()
        scores = session.last_logits if session.last_logits is not None else np.empty(0, np.float32)
        return LlamaState(np.array(session.tokens, np.int32), scores.copy(), len(session.tokens), kv, len(kv),
                          self._seed)

    def load_state(self, state: LlamaState) -> None:
        session = self._generating()
        self._lm.model.load_kv_state(state.llama_state)
        session.tokens = [int(t) for t in state.input_ids]
        session.last_logits = state.scores.copy() if state.scores.size else None
        self._seed = state.seed

    def set_seed(self, seed: int) -> None:
        self._seed = seed

    def close(self) -> None:
        if self._lm is not None:
            self._lm.close()
            self._lm, self._session = None, None

    def __enter__(self) -> "Llama":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- helpers -------------------------------------------------------------------------------
    def _loaded(self):
        if self._lm is None:
            raise UsageError("this Llama was made with vocab_only=True (or closed): it can only tokenize")
        return self._lm

    def _generating(self) -> Session:
        self._loaded()
        if self.embedding:
            raise UsageError("this Llama was made with embedding=True: it computes embeddings, not text")
        return self._session

    def _chain(self, params: SamplingParams, processors: Sequence[LogitsProcessor] | None) -> Chain:
        return Chain.from_params(params, processors or ())

    def _draw_seed(self, seed: int | None) -> int | None:
        """A call's seed, else the constructor's; None (fresh entropy) for llama.cpp's random seed."""
        chosen = self._seed if seed is None else seed
        return None if chosen is None or chosen < 0 or chosen == LLAMA_DEFAULT_SEED else int(chosen)

    def _log(self, message: str) -> None:
        if self.verbose:
            logger.info(message)


def _check_options(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - IGNORED_OPTIONS)
    if unknown:
        raise TypeError(f"Llama() got unexpected keyword arguments: {', '.join(unknown)}")


def _kv_type(value: int | str | None) -> str:
    if value is None:
        return "f16"
    if isinstance(value, str):
        return value.lower()
    if value not in KV_TYPE_NAMES:
        raise UsageError(f"KV cache type {value} is not supported; use one of {sorted(KV_TYPE_NAMES)} "
                         f"(f32, f16, q8_0)")
    return KV_TYPE_NAMES[value]


def _pooling_name(pooling_type: int | str | None, names: Sequence[str]) -> str | None:
    """llama-cpp-python's pooling_type (-1 unspecified, 0 none, 1 mean, 2 cls, 3 last) or a name."""
    if pooling_type is None or isinstance(pooling_type, str):
        return pooling_type
    if pooling_type < 0:
        return None
    if pooling_type >= len(names):
        raise UsageError(f"pooling_type {pooling_type} is not supported (0 none, 1 mean, 2 cls, 3 last)")
    return names[pooling_type]


def _usage(n_prompt: int, n_completion: int) -> dict[str, int]:
    return {"prompt_tokens": n_prompt, "completion_tokens": n_completion, "total_tokens": n_prompt + n_completion}


def _completion_chunks(generation: Generation, head: dict[str, Any], prefix: str,
                       suffix: str | None) -> Iterator[dict[str, Any]]:
    """llama-cpp-python's stream: a chunk per text piece, then an empty one with finish_reason."""
    def chunk(text: str, finish_reason: str | None) -> dict[str, Any]:
        return {**head, "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}]}

    if prefix:
        yield chunk(prefix, None)
    for piece in generation:
        yield chunk(piece, None)
    if suffix:
        yield chunk(suffix, None)
    yield chunk("", generation.finish_reason)


def _chat_completion(completion: dict[str, Any]) -> dict[str, Any]:
    choice = completion["choices"][0]
    return {"id": "chat" + completion["id"], "object": "chat.completion", "created": completion["created"],
            "model": completion["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": choice["text"]},
                         "logprobs": None, "finish_reason": choice["finish_reason"]}],
            "usage": completion["usage"]}


def _chat_chunks(chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """llama-cpp-python's chat stream: a role chunk, content chunks, then `{}` with finish_reason."""
    for i, chunk in enumerate(chunks):
        head = {"id": "chat" + chunk["id"], "model": chunk["model"], "created": chunk["created"],
                "object": "chat.completion.chunk"}
        choice = chunk["choices"][0]
        if i == 0:
            yield {**head, "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": None,
                                        "finish_reason": None}]}
        delta = {"content": choice["text"]} if choice["finish_reason"] is None else {}
        yield {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                    "finish_reason": choice["finish_reason"]}]}
