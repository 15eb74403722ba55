"""What `chat`, `run` and `complete` share: loading the model behind a progress bar, the one-line
model card, streaming a reply to the terminal with Ctrl-C as "stop this reply", and the stats line."""

from __future__ import annotations

import queue
import threading
from typing import Callable, Optional

from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn

from ..generation import Generation, GenerationStats
from .app import count_text, err, size_text
from .options import RunOptions

_DONE = object()


def open_llama(model: Optional[str], opts: RunOptions):
    """The model with the flags' settings, loaded behind a transient progress bar on stderr."""
    from ..api import Llama
    from ..engine import LOAD_STEPS

    columns = (TextColumn("[dim]loading[/dim] {task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("", total=len(LOAD_STEPS))

        def step(name: str) -> None:
            bar.update(task, description=name, completed=LOAD_STEPS.index(name))

        llm = Llama(model, n_ctx=opts.ctx_size or None, n_batch=opts.batch_size, n_ubatch=opts.ubatch_size,
                    n_threads=opts.threads, n_threads_batch=opts.threads_batch, seed=opts.seed,
                    type_k=opts.cache_type_k, type_v=opts.cache_type_v, use_mmap=not opts.no_mmap,
                    context_shift=opts.context_shift, n_keep=opts.keep, n_gpu_layers=opts.n_gpu_layers, verbose=False,
                    progress=step)
    if opts.chat_template or opts.chat_template_file:
        llm.set_chat_template(name=opts.chat_template, file=opts.chat_template_file)
    return llm


def announce_template(llm) -> None:
    note = llm.chat_template.announcement
    if note:
        err.print(f"[yellow]note:[/yellow] {escape(note)}")


def card_line(llm) -> str:
    c = llm.model_card()
    threads = str(c["threads"]) if c["threads"] == c["threads_batch"] else f"{c['threads']}/{c['threads_batch']}"
    return (f"{c['architecture']} · {count_text(c['parameters'])} parameters · {c['quantization'] or '?'} · "
            f"context {c['n_ctx']} · template {c['template']} · {threads} threads ({c['kernels']}) · "
            f"KV cache {size_text(c['kv_bytes'])} {c['kv_types']}")


def stats_line(s: GenerationStats) -> str:
    reused = s.n_prompt - s.n_prefilled
    prompt = f"prompt {s.n_prompt} tokens" + (f" ({reused} reused)" if reused else "")
    return (f"{prompt}, {s.prompt_tps:.1f} t/s · reply {s.n_generated} tokens, {s.generate_tps:.1f} t/s · "
            f"context {s.n_ctx_used}/{s.n_ctx}")


class PrefillBar:
    """A transient progress bar on stderr for prompts that take more than one forward pass."""

    def __init__(self, n_batch: int):
        self.n_batch = n_batch
        self.bar: Optional[Progress] = None

    def __call__(self, done: int, total: int) -> None:
        if total <= self.n_batch:
            return
        if self.bar is None:
            self.bar = Progress(TextColumn("[dim]prompt[/dim]"), BarColumn(), TextColumn("{task.completed}/{task.total} "
                                "tokens"), console=err, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("", total=total)
        self.bar.update(self.task, completed=done)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def stream(llm, generation: Generation, write: Callable[[str], None]) -> bool:
    """Runs `generation` on a worker thread and writes its pieces as they come. Ctrl-C cancels it
    (the native forward pass stops within one op) and returns True; the reply so far is kept."""
    pieces: queue.Queue = queue.Queue()

    def produce() -> None:
        try:
            for piece in generation:
                pieces.put(piece)
        except BaseException as exc:  # handed to the main thread, which raises it
            pieces.put(exc)
        pieces.put(_DONE)

    worker = threading.Thread(target=produce, name="localllm-generate", daemon=True)
    worker.start()
    interrupted = False
    while True:
        try:
            item = pieces.get(timeout=0.1)
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            write(item)
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            interrupted = True
            llm.cancel()
    worker.join()
    if isinstance(generation.progress, PrefillBar):
        generation.progress.close()
    return interrupted
