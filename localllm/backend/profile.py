"""Per-op timing of the native program (`LOCALLLM_PROFILE=1`): each op's wall time, summed by op
kind, with matmuls told apart by weight role and type (`matmul ffn_up Q4_K`) since they dominate.
A line per forward pass goes to the `localllm.profile` logger (on stderr when logging is not set up).
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict

from ..gguf import TensorInfo
from ..models.base import BUF_LOGITS, OP

logger = logging.getLogger("localllm.profile")
OP_NAMES = {number: name for name, number in OP.items()}


def enabled() -> bool:
    """LOCALLLM_PROFILE is set: the reports go to stderr unless the application routed the logger."""
    on = os.environ.get("LOCALLLM_PROFILE", "") not in ("", "0")
    if on and not logger.handlers:
        logger.addHandler(logging.StreamHandler())
        logger.propagate = False
    return on


def op_labels(ops: list[dict]) -> list[str]:
    """A label per op: its kind, for matmuls the weight's role and type (the output layer apart)."""
    labels = []
    for op in ops:
        label = OP_NAMES.get(op["kind"], str(op["kind"]))
        weight = op.get("w")
        if op["kind"] == OP["matmul"] and isinstance(weight, TensorInfo):
            role = "output" if op.get("dst") == BUF_LOGITS else re.sub(r"^blk\.\d+\.|\.weight$", "", weight.name)
            label = f"matmul {role} {weight.type.name}"
        labels.append(label)
    return labels


def by_label(labels: list[str], op_ns) -> dict[str, int]:
    """ns per label, largest first."""
    totals: dict[str, int] = defaultdict(int)
    for label, ns in zip(labels, op_ns):
        totals[label] += int(ns)
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def report(n_tokens: int, totals: dict[str, int]) -> str:
    whole = sum(totals.values()) or 1
    parts = ", ".join(f"{label} {ns / 1e6:.2f} ms ({100 * ns / whole:.0f}%)" for label, ns in totals.items() if ns)
    return f"forward of {n_tokens} tokens: {whole / 1e6:.2f} ms: {parts}"
