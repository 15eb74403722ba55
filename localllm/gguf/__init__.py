"""GGUF reading: `open_gguf(path)` -> `GGUFFile` (metadata, tensor infos, zero-copy views)."""

from localllm.gguf.reader import GGUFFile, TensorInfo, open_gguf
from localllm.gguf.types import GGMLType, ValueType, row_bytes, type_info
from localllm.gguf.values import StringArray

__all__ = ["open_gguf", "GGUFFile", "TensorInfo", "GGMLType", "ValueType", "type_info", "row_bytes",
           "StringArray"]
