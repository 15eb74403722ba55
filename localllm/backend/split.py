"""Splitting a model's program between the CPU and an offload device (`-ngl N`), as llama.cpp does:
the last N layers run on the device; N = n_layer + 1 ("all") also runs the output head there (the
final norm and the output projection). The token embedding always stays on the CPU.

The device part is one contiguous run of ops, [start, end), replaced in the CPU program by a single
OFFLOAD op. Both parts keep the program's buffer ids; the device copies in only the buffers it
reads before writing them (live-in: the hidden state rows) and copies back only those the CPU reads
after it before writing them (live-out), or writes the logits itself when it runs the output head.
The KV layers of device layers live on the device only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..models.base import BUF_LOGITS, OP, GraphBuilder

ALL_LAYERS = -1  # n_gpu_layers meaning "every layer and the output head"


@dataclass(frozen=True)
class Split:
    start: int                  # index of the first device op
    end: int                    # one past the last device op
    live_in: tuple[int, ...]    # buffers copied to the device before it runs
    live_out: tuple[int, ...]   # buffers copied back after it runs
    writes_logits: bool         # the device runs the output head and writes the logits
    layers: tuple[int, ...]     # KV layers kept on the device


def parse_gpu_layers(text: str | int) -> int:
    """`-ngl` as given: a count >= 0, or "all" / -1 (ALL_LAYERS)."""
    if isinstance(text, int) or str(text).strip().lstrip("-").isdigit():
        value = int(text)
        if value < ALL_LAYERS:
            raise UsageError(f"n_gpu_layers must be a count >= 0, -1 or 'all', not {value}")
        return value
    if str(text).strip().lower() == "all":
        return ALL_LAYERS
    raise UsageError(f"-ngl takes a number of layers or 'all', not {text!r}")


def resolve_gpu_layers(n_gpu_layers: int, n_layer: int) -> int:
    """Layers to offload, 0..n_layer + 1 (larger counts and ALL_LAYERS mean n_layer + 1)."""
    n_gpu_layers = parse_gpu_layers(n_gpu_layers)
    return n_layer + 1 if n_gpu_layers == ALL_LAYERS else min(n_gpu_layers, n_layer + 1)


def reads(op: dict[str, Any]) -> list[int]:
    return [b for b in (op.get("src0", -1), op.get("src1", -1)) if b >= 0]


def writes(op: dict[str, Any]) -> list[int]:
    return [op["dst"]] if op.get("dst", -1) >= 0 else []


def _live_in(ops: list[dict]) -> tuple[int, ...]:
    written: set[int] = set()
    live: list[int] = []
    for op in ops:
        live += [b for b in reads(op) if b not in written and b not in live]
        written.update(writes(op))
    return tuple(live)


def _live_out(device_ops: list[dict], later_ops: list[dict]) -> tuple[int, ...]:
    produced = {b for op in device_ops for b in writes(op)}
    overwritten: set[int] = set()
    live: list[int] = []
    for op in later_ops:
        live += [b for b in reads(op) if b in produced and b not in overwritten and b not in live]
        overwritten.update(writes(op))
    return tuple(live)


def _boundaries(graph: GraphBuilder, n_layer: int, n_gpu: int) -> tuple[int, int]:
    starts = [graph.layer_starts.get(il) for il in range(n_layer)]
    if None in starts or starts != sorted(starts):
        raise UsageError("this model's program has no clear layer boundaries: it cannot be split for GPU offload")
    n_ops = len(graph.ops)
    output_start = graph.output_start if graph.output_start is not None else n_ops
    if n_gpu > n_layer:
        return starts[0], n_ops
    return starts[n_layer - n_gpu], output_start


def plan(graph: GraphBuilder, n_layer: int, n_gpu_layers: int) -> Split | None:
    """Where the program is cut for n_gpu_layers (None: nothing to offload)."""
    n_gpu = resolve_gpu_layers(n_gpu_layers, n_layer)
    if n_gpu == 0:
        return None
    start, end = _boundaries(graph, n_layer, n_gpu)
    device_ops = graph.ops[start:end]
    layers = sorted({op["layer"] for op in device_ops if op["kind"] in (OP["kv_store"], OP["attention"])})
    return Split(start=start, end=end, live_in=_live_in(device_ops), live_out=_live_out(device_ops, graph.ops[end:]),
                 writes_logits=any(op.get("dst") == BUF_LOGITS for op in device_ops), layers=tuple(layers))


def logits_width(graph: GraphBuilder) -> int:
    """Floats per row the program writes to the logits: its first writer's output width."""
    for op in graph.ops:
        if op.get("dst") == BUF_LOGITS:
            return op["w_rows"] if op["kind"] == OP["matmul"] else op["n"]
    return 0


def host_ops(graph: GraphBuilder, split: Split, offload: dict[str, Any]) -> list[dict[str, Any]]:
    """The CPU's program: the device ops replaced by one OFFLOAD op (`offload`: its w, offload and
    offload_shift fields)."""
    op = {"kind": OP["offload"], "src0": -1, "src1": -1, "dst": BUF_LOGITS if split.writes_logits else -1,
          "n": logits_width(graph) if split.writes_logits else 1, **offload}
    return graph.ops[:split.start] + [op] + graph.ops[split.end:]
