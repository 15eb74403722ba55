"""llama-bench's two tests on a loaded model, as `localllm bench` runs them.

pp<P>: P random tokens evaluated in one go (pieces of n_batch), logits for the last one only;
tg<N>: N random tokens decoded one at a time, each forward computing its logits (no sampling).
The KV cache is cleared before every repetition, and one unmeasured run warms everything up.
Results carry llama-bench's JSON field names.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .engine import LoadedModel


@dataclass
class BenchRecord:
    model_filename: str
    model_type: str
    model_size: int          # bytes of tensor data
    model_n_params: int
    n_batch: int
    n_ubatch: int
    n_threads: int
    type_k: str
    type_v: str
    n_prompt: int
    n_gen: int
    kernels: str
    n_gpu_layers: int = 0
    samples_ns: list[int] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return self.n_prompt + self.n_gen

    @property
    def samples_ts(self) -> list[float]:
        return [self.n_tokens / (ns * 1e-9) for ns in self.samples_ns]

    @property
    def test(self) -> str:
        return f"pp{self.n_prompt}" if self.n_prompt else f"tg{self.n_gen}"

    def to_json(self) -> dict:
        ts = self.samples_ts
        return {**asdict(self), "test": self.test, "avg_ns": int(statistics.mean(self.samples_ns)),
                "stddev_ns": int(statistics.stdev(self.samples_ns)) if len(ts) > 1 else 0,
                "avg_ts": statistics.mean(ts), "stddev_ts": statistics.stdev(ts) if len(ts) > 1 else 0.0,
                "samples_ts": ts}


def model_type(lm: LoadedModel) -> str:
    """`gemma3 270M Q4_K_M`, as llama-bench describes a model."""
    from .model_info import describe

    info = describe(lm.gguf)
    size = lm.gguf.get("general.size_label") or f"{info.parameters / 1e6:.0f}M"
    return f"{info.architecture} {size} {info.file_type or '?'}"


def record(lm: LoadedModel, n_prompt: int, n_gen: int) -> BenchRecord:
    cfg = lm.model.config
    return BenchRecord(
        model_filename=lm.gguf.path, model_type=model_type(lm),
        model_size=sum(t.n_bytes for t in lm.gguf.tensors), model_n_params=lm.gguf.n_params,
        n_batch=cfg.n_batch, n_ubatch=cfg.n_batch, n_threads=lm.context.threads, type_k=cfg.type_k,
        type_v=cfg.type_v, n_prompt=n_prompt, n_gen=n_gen, kernels=lm.context.level,
        n_gpu_layers=lm.model.n_gpu_layers)


def prompt_run(lm: LoadedModel, tokens: np.ndarray) -> int:
    """ns to evaluate `tokens` from an empty cache."""
    lm.model.kv_clear()
    start = time.perf_counter_ns()
    lm.eval_tokens(tokens)
    return time.perf_counter_ns() - start


def generation_run(lm: LoadedModel, tokens: np.ndarray) -> int:
    """ns to decode `tokens` one by one from an empty cache."""
    lm.model.kv_clear()
    start = time.perf_counter_ns()
    for pos, token in enumerate(tokens):
        lm.model.forward(tokens[pos:pos + 1], np.array([pos]))
    return time.perf_counter_ns() - start


def bench(lm: LoadedModel, *, n_prompt: int = 0, n_gen: int = 0, repetitions: int = 5, seed: int = 0) -> BenchRecord:
    """One test: pp (n_prompt > 0) or tg (n_gen > 0)."""
    if (n_prompt > 0) == (n_gen > 0):
        raise ValueError("a test is either pp (n_prompt) or tg (n_gen)")
    rec = record(lm, n_prompt, n_gen)
    tokens = np.random.default_rng(seed).integers(0, lm.model.hparams.n_vocab, max(n_prompt, n_gen), dtype=np.int32)
    run = prompt_run if n_prompt else generation_run
    run(lm, tokens)  # warm-up
    rec.samples_ns = [run(lm, tokens) for _ in range(repetitions)]
    return rec
