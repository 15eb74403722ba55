"""A model as the native core runs it: the architecture module's op program turned into `ll_op`
structs once at load, its activation buffers and KV cache (`ll_model`), and `forward` for a batch.

Weights are passed as pointers into the GGUF memory map (zero copy; the output layer may be a
resident copy, see resident.py); the GGUFFile and every array the program points at are kept alive
here for as long as the model lives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import ContextLengthExceeded, NativeError, UsageError
from ..gguf import GGMLType, GGUFFile, TensorInfo
from ..models import architecture_module
from ..models.base import OP, GraphBuilder, HParams
from . import profile, resident, split
from .native import Context, check
from .segment import CpuSegment

KV_TYPES = {"f16": GGMLType.F16, "q8_0": GGMLType.Q8_0, "f32": GGMLType.F32}
LL_ERR_ABORTED, LL_ERR_KV_FULL, LL_ERR_DEVICE = 4, 5, 6


class Aborted(Exception):
    """The forward pass was stopped through the abort flag (Ctrl-C, a cancel)."""


@dataclass(frozen=True)
class ModelConfig:
    n_ctx: int
    n_batch: int
    type_k: str = "f16"
    type_v: str = "f16"


class NativeModel:
    """The program of one model on one context. Not thread-safe: one forward at a time."""

    def __init__(self, gguf: GGUFFile, context: Context, config: ModelConfig, *,
                 batch_context: Context | None = None, program: tuple[HParams, GraphBuilder] | None = None,
                 embedding: bool = False, n_gpu_layers: int = 0, offload_device: str = "cuda"):
        """The model of `gguf`'s architecture; `program` = (hparams, graph) runs a hand-built
        program instead (tests of single ops). Batches of one token run on `context`, larger ones
        on `batch_context` (default: the same), so decode and prefill may use different thread counts.
        embedding=True: `forward` returns the hidden state after the final norm [rows, n_embd]
        instead of logits. n_gpu_layers: the last layers to run on `offload_device` ("cuda", or
        "cpu": the same split run by a CPU segment), split.ALL_LAYERS for the output head too."""
        self.gguf = gguf
        self.context = context
        self.batch_context = batch_context or context
        self.config = config
        self.native = context._native
        if program is None:
            arch = architecture_module(str(gguf.get("general.architecture", "")))
            hparams = arch.hparams(gguf)
            graph = GraphBuilder(gguf, embedding=embedding)
            arch.build(gguf, hparams, graph)
        else:
            hparams, graph = program
        self.hparams: HParams = hparams
        self._keep: list = [graph.keep]
        self._resident: dict = {}  # tensor name -> a copy of its bytes the host ops use instead of the map
        self.split = split.plan(graph, hparams.n_layer, n_gpu_layers) if n_gpu_layers else None
        self.n_gpu_layers = split.resolve_gpu_layers(n_gpu_layers, hparams.n_layer) if self.split else 0
        self.segment = self._offload(graph, offload_device) if self.split else None
        host_ops = split.host_ops(graph, self.split, self.segment.offload_fields()) if self.split else graph.ops
        output = resident.output_weight(host_ops, gguf.mapped) if program is None else None
        if output:
            self._resident[output.name] = resident.read_copy(output, gguf.path)
        self._ptr = self._create(graph, host_ops)
        self.n_vocab = int(self.native.lib.ll_model_logits_width(self._ptr))  # floats per logits row
        self.forward_seconds = 0.0  # wall time spent inside ll_forward, for overhead accounting
        self._op_labels = profile.op_labels(host_ops)
        self.profiling = profile.enabled()
        if self.profiling:
            self.op_times()
        self.embedding = graph.hidden_output  # rows are hidden states [n_embd], not logits
        position_tables = [op["w_rows"] for op in graph.ops if op["kind"] == OP["get_pos_rows"]]
        self.max_positions = min(position_tables) if position_tables else None  # absolute position table rows

    # -- creation ----------------------------------------------------------------------------
    def _pointer(self, value, ctype: str):
        if value is None:
            return self.native.ffi.NULL
        if isinstance(value, TensorInfo):
            array = self._resident[value.name] if value.name in self._resident else value.data
        else:
            array = np.ascontiguousarray(value)
        cdata = self.native.ffi.from_buffer(ctype, array)
        self._keep.append((array, cdata))
        return cdata

    def _ops(self, op_list: list[dict]):
        ops = self.native.ffi.new("ll_op[]", len(op_list))
        for op, fields in zip(ops, op_list):
            for key, value in fields.items():
                if key == "w" and isinstance(value, (TensorInfo, np.ndarray)):
                    op.w = self._pointer(value, "uint8_t[]" if isinstance(value, TensorInfo) else "float[]")
                elif key in ("b", "rope_freq_factors"):
                    setattr(op, key, self._pointer(value, "float[]"))
                elif value is not None:
                    setattr(op, key, value)
        return ops

    def _kv_config(self, graph: GraphBuilder, here=lambda il: True):
        """The KV cache of the layers `here(il)` accepts (the others: widths 0, kept elsewhere)."""
        ffi, hp, cfg = self.native.ffi, self.hparams, self.config
        if cfg.type_k not in KV_TYPES or cfg.type_v not in KV_TYPES:
            raise UsageError(f"KV cache type must be one of {', '.join(KV_TYPES)}, not {cfg.type_k}/{cfg.type_v}")
        for name in (cfg.type_k, cfg.type_v):
            if name == "q8_0" and (hp.head_dim % 32 or hp.head_dim_v % 32):
                raise UsageError(f"a q8_0 KV cache needs head dims that are multiples of 32; this model's are "
                                 f"{hp.head_dim} (K) and {hp.head_dim_v} (V): use f16")
        k_width = ffi.new("int64_t[]", [graph.kv_width[il][0] if here(il) else 0 for il in range(hp.n_layer)])
        v_width = ffi.new("int64_t[]", [graph.kv_width[il][1] if here(il) else 0 for il in range(hp.n_layer)])
        self._keep.append((k_width, v_width))
        return ffi.new("ll_kv_config *", {
            "n_layer": hp.n_layer, "n_ctx": cfg.n_ctx, "type_k": int(KV_TYPES[cfg.type_k]),
            "type_v": int(KV_TYPES[cfg.type_v]), "k_width": k_width, "v_width": v_width,
        })

    def _offload(self, graph: GraphBuilder, device: str):
        """The device segment of the split: ops [start, end) with the KV layers they use."""
        s = self.split
        ops = graph.ops[s.start:s.end]
        args = dict(ops=self._ops(ops), n_ops=len(ops), buffer_width=self.native.ffi.new("int64_t[]", graph.buffer_width),
                    n_buffers=len(graph.buffer_width), n_batch=self.config.n_batch,
                    kv=self._kv_config(graph, lambda il: il in s.layers), live_in=s.live_in, live_out=s.live_out)
        if device == "cpu":
            return CpuSegment(self.native, self.context.threads, **args)
        if device != "cuda":
            raise UsageError(f"offload device must be cuda or cpu, not {device!r}")
        from .cuda import CudaSegment

        return CudaSegment(self.native, self.config, **args)

    def _create(self, graph: GraphBuilder, host_ops: list[dict]):
        ffi, lib = self.native.ffi, self.native.lib
        ops = self._ops(host_ops)
        on_host = (lambda il: il not in self.split.layers) if self.split else (lambda il: True)
        widths = ffi.new("int64_t[]", graph.buffer_width)
        out, bad_op = ffi.new("ll_model **"), ffi.new("int *")
        widest = max((self.context, self.batch_context), key=lambda c: c.threads)  # scratch for its threads
        status = lib.ll_model_new(widest._live(), ops, len(host_ops), widths, len(graph.buffer_width),
                                  self.config.n_batch, self._kv_config(graph, on_host), out, bad_op)
        if status != 0:
            where = f" at op {bad_op[0]}: {host_ops[bad_op[0]]}" if bad_op[0] >= 0 else ""
            raise NativeError(status, f"the native core rejected the {self.hparams.arch} program{where} "
                                      f"({ffi.string(lib.ll_status_str(status)).decode()})")
        return ffi.gc(out[0], lib.ll_model_free)

    # -- running -------------------------------------------------------------------------------
    @property
    def kv_bytes(self) -> int:
        return int(self.native.lib.ll_model_kv_bytes(self._ptr))

    @property
    def buffer_bytes(self) -> int:
        return int(self.native.lib.ll_model_buffer_bytes(self._ptr))

    def forward(self, tokens, positions, seq_ids=None, logit_rows=None) -> np.ndarray:
        """Logits [len(logit_rows), n_vocab] of one batch (default: the last row only); hidden
        states [len(logit_rows), n_embd] for an embedding model.

        tokens, positions, seq_ids: int [n] with n <= n_batch. The batch's K/V stay in the cache,
        except for encoders (hparams.causal False), whose cache is cleared after every call.
        """
        try:
            return self._forward(tokens, positions, seq_ids, logit_rows)
        finally:
            if not self.hparams.causal:
                self.kv_clear()

    def _forward(self, tokens, positions, seq_ids, logit_rows) -> np.ndarray:
        ffi, lib = self.native.ffi, self.native.lib
        tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        n = tokens.size
        positions = np.ascontiguousarray(positions, dtype=np.int32)
        seq_ids = np.zeros(n, np.int32) if seq_ids is None else np.ascontiguousarray(seq_ids, dtype=np.int32)
        rows = np.array([n - 1] if logit_rows is None else logit_rows, dtype=np.int32)
        self._check_batch(tokens, positions, seq_ids)
        logits = np.empty((rows.size, self.n_vocab), dtype=np.float32)
        start = time.perf_counter()
        context = self.context if n == 1 else self.batch_context
        status = lib.ll_forward(
            context._live(), self._ptr, ffi.from_buffer("int32_t[]", tokens),
            ffi.from_buffer("int32_t[]", positions), ffi.from_buffer("int32_t[]", seq_ids), n,
            ffi.from_buffer("int32_t[]", rows), rows.size, ffi.from_buffer("float[]", logits),
        )
        self.forward_seconds += time.perf_counter() - start
        if self.profiling and status == 0:
            profile.logger.warning(profile.report(n, self.op_times()))
        if status == LL_ERR_KV_FULL:
            raise ContextLengthExceeded(
                f"the KV cache has {self.config.n_ctx - self.kv_used} free cells of {self.config.n_ctx}; "
                f"the batch needs {n}", n_tokens=self.kv_used + n, n_ctx=self.config.n_ctx)
        if status == LL_ERR_ABORTED:
            raise Aborted("forward pass aborted")
        if status == LL_ERR_DEVICE and self.segment is not None:
            raise NativeError(status, self.segment.error_text())
        check(self.native, status)
        return logits

    def _check_batch(self, tokens: np.ndarray, positions: np.ndarray, seq_ids: np.ndarray) -> None:
        n = tokens.size
        if not 1 <= n <= self.config.n_batch:
            raise UsageError(f"a batch holds 1 to {self.config.n_batch} tokens, not {n}")
        if positions.size != n or seq_ids.size != n:
            raise UsageError("tokens, positions and sequence ids must have the same length")
        bad = tokens[(tokens < 0) | (tokens >= self.hparams.n_vocab)]
        if bad.size:
            raise UsageError(f"token id {int(bad[0])} is outside the vocabulary (0..{self.hparams.n_vocab - 1})")
        if self.max_positions is not None and positions.max() >= self.max_positions:
            raise ContextLengthExceeded(f"position {int(positions.max())} is beyond the model's {self.max_positions} "
                                        f"position embeddings", n_tokens=int(positions.max()) + 1,
                                        n_ctx=self.max_positions)

    def op_times(self, keep_profiling: bool = True) -> dict[str, int]:
        """ns per op kind since the last call (empty while profiling was off); profiling stays on
        (or is turned on) unless keep_profiling is False."""
        ns = self.native.ffi.new("int64_t[]", max(len(self._op_labels), 1))
        check(self.native, self.native.lib.ll_model_profile(self._ptr, int(keep_profiling), ns))
        return profile.by_label(self._op_labels, ns)

    def set_abort(self, flag: bool) -> None:
        for context in {id(c): c for c in (self.context, self.batch_context)}.values():
            self.native.lib.ll_ctx_set_abort(context._live(), int(flag))

    # -- KV cache --------------------------------------------------------------------------------
    @property
    def kv_used(self) -> int:
        return int(self.native.lib.ll_kv_used(self._ptr))

    def kv_clear(self) -> None:
        check(self.native, self.native.lib.ll_kv_clear(self._ptr))

    def kv_remove(self, seq: int = -1, p0: int = 0, p1: int = -1) -> None:
        check(self.native, self.native.lib.ll_kv_remove(self._ptr, seq, p0, p1))

    def kv_shift(self, seq: int, p0: int, p1: int, delta: int) -> None:
        check(self.native, self.native.lib.ll_kv_shift(self._ptr, seq, p0, p1, delta))

    def kv_max_pos(self, seq: int = 0) -> int:
        return int(self.native.lib.ll_kv_max_pos(self._ptr, seq))

    def _no_offload(self, what: str) -> None:
        if self.split is not None:
            raise UsageError(f"{what} is not supported with GPU offload (n_gpu_layers > 0)")

    def kv_state(self) -> bytes:
        """The whole KV cache as bytes (for this build and machine only)."""
        self._no_offload("saving the KV cache state")
        ffi, lib = self.native.ffi, self.native.lib
        data = bytearray(int(lib.ll_kv_state_size(self._ptr)))
        check(self.native, lib.ll_kv_state_save(self._ptr, ffi.from_buffer(data), len(data)))
        return bytes(data)

    def load_kv_state(self, data: bytes) -> None:
        self._no_offload("loading a KV cache state")
        status = self.native.lib.ll_kv_state_load(self._ptr, self.native.ffi.from_buffer(data), len(data))
        if status != 0:
            raise UsageError("the saved state does not fit this model's KV cache (another model, "
                             "context size or cache type)")
