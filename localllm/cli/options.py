"""The flags `chat`, `run` and `complete` share, with llama.cpp's spellings, each also read from the
environment variable LOCALLLM_<LONG_NAME> (e.g. LOCALLLM_CTX_SIZE=8192, LOCALLLM_TEMP=0).

`@run_options` adds them to a command's signature; they reach the command as one `RunOptions`.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterable, List, Optional

import typer

from ..sampling import SamplingParams

PARAMETER_NAMES = {  # /set parameter NAME (Ollama's names and llama.cpp's) -> RunOptions field
    "temperature": "temp", "temp": "temp", "top_k": "top_k", "top_p": "top_p", "min_p": "min_p",
    "repeat_penalty": "repeat_penalty", "repeat_last_n": "repeat_last_n", "seed": "seed",
    "num_predict": "n_predict", "n_predict": "n_predict",
}


def _opt(default: Any, *names: str, help: str) -> Any:
    long_name = next(n for n in names if n.startswith("--"))
    envvar = "LOCALLLM_" + long_name[2:].upper().replace("-", "_")
    return typer.Option(default, *names, envvar=envvar, help=help)


@dataclass
class RunOptions:
    ctx_size: int
    n_predict: int
    threads: Optional[int]
    threads_batch: Optional[int]
    batch_size: int
    ubatch_size: int
    cache_type_k: str
    cache_type_v: str
    temp: float
    top_k: int
    top_p: float
    min_p: float
    repeat_penalty: float
    repeat_last_n: int
    seed: int
    reverse_prompt: List[str]
    ignore_eos: bool
    chat_template: Optional[str]
    chat_template_file: Optional[str]
    no_mmap: bool
    n_gpu_layers: str
    context_shift: bool
    keep: int
    verbose: bool

    def sampling(self, eog_ids: Iterable[int] = ()) -> SamplingParams:
        """The sampler settings; with --ignore-eos, the end-of-generation tokens `eog_ids` are banned."""
        return SamplingParams(temperature=self.temp, top_k=self.top_k, top_p=self.top_p, min_p=self.min_p,
                              repeat_penalty=self.repeat_penalty, repeat_last_n=self.repeat_last_n,
                              seed=None if self.seed < 0 else self.seed,
                              logit_bias={t: float("-inf") for t in eog_ids} if self.ignore_eos else {})

    def max_tokens(self) -> Optional[int]:
        return self.n_predict if self.n_predict > 0 else None


OPTIONS: dict[str, tuple[Any, Any]] = {  # name -> (type, typer.Option)
    "ctx_size": (int, _opt(0, "-c", "--ctx-size", help="Context size in tokens (0: min(4096, training context)).")),
    "n_predict": (int, _opt(-1, "-n", "--n-predict", help="Most tokens to generate per reply (-1: until the end).")),
    "threads": (Optional[int], _opt(None, "-t", "--threads", help="Threads for generation (default: physical cores).")),
    "threads_batch": (Optional[int], _opt(None, "-tb", "--threads-batch", help="Threads for prompt processing.")),
    "batch_size": (int, _opt(512, "-b", "--batch-size", help="Logical batch: most prompt tokens per step.")),
    "ubatch_size": (int, _opt(512, "-ub", "--ubatch-size", help="Physical batch: most tokens per forward pass.")),
    "cache_type_k": (str, _opt("f16", "-ctk", "--cache-type-k", help="KV cache type for K: f16, q8_0, f32.")),
    "cache_type_v": (str, _opt("f16", "-ctv", "--cache-type-v", help="KV cache type for V: f16, q8_0, f32.")),
    "temp": (float, _opt(0.8, "--temp", help="Temperature (0: greedy).")),
    "top_k": (int, _opt(40, "--top-k", help="Top-k sampling (0: off).")),
    "top_p": (float, _opt(0.95, "--top-p", help="Top-p sampling (1.0: off).")),
    "min_p": (float, _opt(0.05, "--min-p", help="Min-p sampling (0.0: off).")),
    "repeat_penalty": (float, _opt(1.0, "--repeat-penalty", help="Penalty for repeated tokens (1.0: off).")),
    "repeat_last_n": (int, _opt(64, "--repeat-last-n", help="Tokens the repeat penalty looks back over.")),
    "seed": (int, _opt(-1, "-s", "--seed", help="Random seed (-1: random).")),
    "reverse_prompt": (List[str], _opt([], "-r", "--reverse-prompt", help="Stop when this text appears (repeatable).")),
    "ignore_eos": (bool, _opt(False, "--ignore-eos", help="Generate past end-of-generation tokens.")),
    "chat_template": (Optional[str], _opt(None, "--chat-template", help="Built-in chat template: gemma, llama3, "
                                          "llama2, chatml, qwen, mistral, phi3 (default: the model's own).")),
    "chat_template_file": (Optional[str], _opt(None, "--chat-template-file", help="Jinja2 chat template file.")),
    "no_mmap": (bool, _opt(False, "--no-mmap", help="Read the model into memory instead of mapping it.")),
    "n_gpu_layers": (str, _opt("0", "-ngl", "--n-gpu-layers", help="Layers to run on the GPU: the last N, or "
                               "'all' (every layer and the output head; needs the CUDA backend).")),
    "context_shift": (bool, _opt(False, "--context-shift", help="When the context is full, drop old tokens "
                                 "instead of stopping.")),
    "keep": (int, _opt(0, "--keep", help="Prompt tokens a context shift never drops (-1: the whole first prompt).")),
    "verbose": (bool, _opt(False, "-v", "--verbose", help="Show tracebacks on errors.")),
}
assert set(OPTIONS) == {f.name for f in fields(RunOptions)}


def run_options(command: Callable) -> Callable:
    """Adds the shared flags to `command`, which receives them as its `opts: RunOptions` argument."""
    signature, hints = inspect.signature(command), typing.get_type_hints(command)
    own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "opts"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
              for name, (kind, option) in OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = RunOptions(**{name: kwargs.pop(name) for name in OPTIONS})
        return command(*args, opts=opts, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + shared)
    wrapper.__annotations__ = {p.name: p.annotation for p in own + shared}
    return wrapper
