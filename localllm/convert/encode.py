"""`--outtype` semantics: which ggml type each tensor gets, and its bytes.

As in llama.cpp's converter: 1-D tensors, `*_norm.weight`, absolute position and token-type
embeddings, and anything not named `*.weight` stay F32; every other tensor takes the output type; a Q8_0 tensor whose rows are not whole 32-value
blocks falls back to F16. Q8_0 blocks come from localllm's native quantizer (the same bytes as
ggml's quantize_row_q8_0_ref and the gguf package's numpy quantizer); BF16 rounds to nearest even
as the gguf package does.
"""

from __future__ import annotations

import gguf
import numpy as np

from ..errors import UsageError
from ..gguf import GGMLType

OUTTYPES = {
    "f32": (GGMLType.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (GGMLType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "bf16": (GGMLType.BF16, gguf.LlamaFileType.MOSTLY_BF16),
    "q8_0": (GGMLType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
}
Q8_0_BLOCK, Q8_0_BYTES = 32, 34
BYTES_PER_VALUE = {GGMLType.F32: 4, GGMLType.F16: 2, GGMLType.BF16: 2}
ALWAYS_F32 = (gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.POS_EMBD] + ".weight",
              gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.TOKEN_TYPES] + ".weight")


def parse_outtype(outtype: str) -> tuple[GGMLType, gguf.LlamaFileType]:
    key = str(outtype).lower()
    if key not in OUTTYPES:
        raise UsageError(f"outtype must be one of {', '.join(OUTTYPES)}, not {outtype!r}")
    return OUTTYPES[key]


def tensor_type(name: str, shape: tuple[int, ...], outtype: GGMLType) -> GGMLType:
    """The ggml type of GGUF tensor `name` of numpy `shape` under `outtype`."""
    if len(shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight") or name in ALWAYS_F32:
        return GGMLType.F32
    if outtype == GGMLType.Q8_0 and shape[-1] % Q8_0_BLOCK:
        return GGMLType.F16
    return outtype


def tensor_nbytes(shape: tuple[int, ...], ggml_type: GGMLType) -> int:
    n = int(np.prod(shape, dtype=np.int64))
    if ggml_type == GGMLType.Q8_0:
        return n // Q8_0_BLOCK * Q8_0_BYTES
    return n * BYTES_PER_VALUE[ggml_type]


def encode(data: np.ndarray, ggml_type: GGMLType) -> np.ndarray:
    """The bytes (or the float array) of `data` as `ggml_type`, ready for GGUFWriter."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    if ggml_type == GGMLType.F32:
        return data
    if ggml_type == GGMLType.F16:
        return data.astype(np.float16)
    if ggml_type == GGMLType.BF16:
        return gguf.quants.quantize(data, gguf.GGMLQuantizationType.BF16)
    if ggml_type == GGMLType.Q8_0:
        from ..backend.native import quantize_row

        return quantize_row(GGMLType.Q8_0, data.reshape(-1))
    raise AssertionError(f"no encoder for {ggml_type!r}")
